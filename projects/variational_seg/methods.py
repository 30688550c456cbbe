"""One entry point per method family, so eval, tune, bench, figure, select and the page run every
model the same way: ``segmenter_for(model_cfg, ...)`` -> ``f(images, points, background) ->
list[Segmentation]``.

* ``kind: variational`` without a data term: the paper's models (wbh, tv, rci, ablations), batched by
  image size through ``pipeline.segment`` (background points are not used: these models have none);
* ``kind: variational`` with ``data_term: colour``: the shipped model (``colour_term``), per image;
* ``kind: anchor``: ``cv2.grabCut`` / ``random_walker`` (``anchors``) on the same working-size photo
  and the same marker disks, plus the border prior and background points.

``seconds`` is the wall time of the whole per-image pipeline (resize, method, upsample) in every case.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from projects.variational_seg.anchors import background_seeds, run_anchor
from projects.variational_seg.colour_term import colour_options, solve_colour
from projects.variational_seg.markers import points_to_mask, scale_points
from projects.variational_seg.params import SolverParams, marker_radius, resolve_params, tuned_for
from projects.variational_seg.pipeline import Segmentation, segment, to_working, upsample
from shared.errors import ConfigError
from shared.paths import REPO_ROOT

Segmenter = Callable[[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[np.ndarray | None] | None],
                     list[Segmentation]]


def model_config(name: str) -> dict[str, Any]:
    """configs/variational_seg/model/<name>.yaml as a plain dict (bench and figure compare several), with the model
    configs its ``defaults`` list names merged under it, as Hydra composes them (own values last). Read here, not
    by composing the project's config: inside a running Hydra app that would reset Hydra's global state."""
    return OmegaConf.to_container(_model_node(name), resolve=True)  # type: ignore[return-value]


def model_kind(name: str) -> str:
    """The ``kind`` of configs/variational_seg/model/<name>.yaml ("" for none), read without resolving the rest (a
    U-Net's config interpolates the project's, so ``model_config`` cannot resolve it alone)."""
    return str(_model_node(name).get("kind") or "")


def _model_node(name: str) -> DictConfig:
    path = REPO_ROOT / "configs" / "variational_seg" / "model" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"model={name}: no such model config ({path})")
    own = OmegaConf.load(path)
    parents = [str(entry) for entry in own.pop("defaults", []) if str(entry) != "_self_"]
    return OmegaConf.merge(*(_model_node(parent) for parent in parents), own)  # type: ignore[return-value]


def background_mask(points: np.ndarray | None, src: tuple[int, int], dst: tuple[int, int],
                    radius: int) -> torch.Tensor | None:
    """Background (row, col) points at image resolution -> (1, h, w) bool mask at working size, or None."""
    if points is None or len(points) == 0:
        return None
    return torch.from_numpy(points_to_mask(scale_points(points, src, dst), dst, radius))[None]


def colour_segment(image: np.ndarray, fg: np.ndarray, bg: np.ndarray | None, params: SolverParams,
                   opts: Any, max_side: int, radius: int) -> Segmentation:
    """The shipped model on one photo."""
    start = time.perf_counter()
    x, m = to_working(image, fg, max_side, radius)
    bgm = background_mask(bg, image.shape[:2], tuple(x.shape[-2:]), radius)
    w, iterations, log = solve_colour(x, m, bgm, params, opts)
    prob = upsample(w[0], image.shape[:2])
    undecided = float(((w > 0.1) & (w < 0.9)).float().mean())
    return Segmentation(prob, iterations, time.perf_counter() - start, int(m.sum()), undecided)


def anchor_segment(name: str, image: np.ndarray, fg: np.ndarray, bg: np.ndarray | None, options: Mapping,
                   max_side: int, radius: int) -> Segmentation:
    """An anchor on one photo: the same working-size image and marker disks as our models."""
    start = time.perf_counter()
    x, m = to_working(image, fg, max_side, radius)
    size = tuple(x.shape[-2:])
    bgm = background_mask(bg, image.shape[:2], size, radius)
    seeds = background_seeds(size, None if bgm is None else bgm[0].numpy(), int(options.get("border", 1)))
    prob, _ = run_anchor(name, x[0].permute(1, 2, 0).numpy(), m[0].numpy(), seeds & ~m[0].numpy(), options)
    out = upsample(torch.from_numpy(prob), image.shape[:2])
    return Segmentation(out, 0, time.perf_counter() - start, int(m.sum()), 0.0)


def segmenter_for(model: Mapping[str, Any], data: Mapping[str, Any] | None, max_side: int, markers_radius: int = 0,
                  device: str | torch.device = "cpu", params: SolverParams | None = None,
                  tuned: bool = True) -> Segmenter:
    """The configured model on ``data`` (its ``name`` picks the model's ``tuned.<name>`` values, its
    ``solver`` applies to every model) as ``f(images, points, background=None) -> list[Segmentation]``
    (``params`` replaces the resolved solver parameters, e.g. per-sample grids in tune; ``tuned=False``
    leaves the tuned values out, as tune does while it searches for them)."""
    radius = marker_radius(model, markers_radius)
    if model.get("kind") == "anchor":
        name, options = str(model["name"]), dict(model.get("options") or {})
        options.update(tuned_for(model, data) if tuned else {})

        def anchor(images, points, background=None):
            bgs = background or [None] * len(images)
            return [anchor_segment(name, im, p, b, options, max_side, radius)
                    for im, p, b in zip(images, points, bgs)]
        return anchor
    resolved = params or resolve_params(model, data, tuned)
    if model.get("data_term") == "colour":
        opts = colour_options(model.get("colour"))

        def colour(images, points, background=None):
            bgs = background or [None] * len(images)
            return [colour_segment(im, p, b, resolved, opts, max_side, radius)
                    for im, p, b in zip(images, points, bgs)]
        return colour

    def variational(images, points, background=None):
        return segment(list(images), list(points), resolved, max_side, device, marker_radius=radius)
    return variational
