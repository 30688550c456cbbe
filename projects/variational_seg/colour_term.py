"""The colour data term of the shipped model (issue 15): the paper's regulariser (weighted TV + bounded
Hessian) and geodesic prior, solved by the same ADMM, with F-hat replaced by a colour log-likelihood
ratio that works on multi-coloured photos:

    F(x) = clip( (log p_bg(z(x)) - log p_fg(z(x))) / scale, -1, 1 )        (negative = foreground-like)

p_fg, p_bg are Gaussian mixtures over CIE Lab colours (``model="gmm"``, the default; weighted EM) or
smoothed 3-D Lab histograms (``model="histogram"``, the ablation), estimated from

* round 0: the marker pixels (foreground) and the background seeds (the 1-px image border, any
  background strokes) plus every other pixel with weight ``rest_weight`` (the photo's own colours
  stand in for the unknown background, as GrabCut's "probably background" start does);
* rounds 1..R-1: the current segmentation u (soft weights u and 1 - u) plus the seeds,

as GrabCut and the convex TV-segmentation literature do (Unger et al. 2008; Nieuwenhuis & Cremers
2013). Seeds are hard-ish: F = -1 on marker pixels, +1 on background seeds. Each round is one
``solver.solve`` with the fixed data term, warm-started from the previous u, with D_G and the weights
computed once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from scipy.ndimage import gaussian_filter
from torch import Tensor

from projects.variational_seg.anchors import border_mask
from projects.variational_seg.params import SolverParams
from projects.variational_seg.solver import disks, init_radius, prepare, solve
from shared.errors import ConfigError

LAB_RANGES = ((0.0, 100.0), (-128.0, 128.0), (-128.0, 128.0))
# (grid (3, H, W) in [0, 1], foreground weights, background weights) -> (H * W,) log p_bg - log p_fg of another
# cue (feature_term), added to the colour mixtures' before the scaling
ExtraTerm = Callable[[Tensor, np.ndarray, np.ndarray], np.ndarray]
StartMap = Callable[[tuple[int, int]], np.ndarray]   # grid (h, w) -> (h, w) foreground reach for round 0's weights


@dataclass(frozen=True)
class ColourOptions:
    """The colour term's settings (``model.colour`` in the configs); defaults chosen on GrabCut val."""

    model: str = "gmm"           # gmm | histogram
    components: int = 5          # gmm: mixture components per model
    em_steps: int = 2            # gmm: EM iterations per round (warm-started from the previous round)
    fit_stride: int = 4          # gmm: fit the mixtures to every n-th pixel plus the seeds (speed)
    bins: int = 16               # histogram: bins per Lab axis
    smooth: float = 1.0          # histogram: Gaussian smoothing, in bins
    scale: float = 4.0           # log-ratio at which F saturates at +-1
    rest_weight: float = 1.0     # round 0: weight of the unlabelled pixels in the background model
    rounds: int = 5              # solves (1 = no re-estimation)
    round_tol: float = 2e-2      # ADMM stopping tolerance of the rounds before the last (their u only
                                 # re-estimates the colour models)
    round_max_iter: int = 5      # ADMM iteration cap of the rounds before the last
    coarse: int = 2              # >1: the rounds before the last on the image shrunk by this factor
    coarse_geodesic: bool = True # with coarse > 1 and theta > 0: the last round uses the coarse D_G, upsampled
    refit_last: bool = True      # with coarse > 1: re-fit the mixtures at full size before the last round
    border: int = 1              # px of the image frame taken as background (0: no border prior)
    seed_hard: bool = True       # F = -1 on marker pixels, +1 on background seeds
    keep_marked: bool = False    # drop foreground components that hold no marker pixel (after the last round)
    spread: float = 0.0          # > 0: round 0's foreground weights spread from the markers (``start_weights``)

    def __post_init__(self) -> None:
        if self.model not in ("gmm", "histogram"):
            raise ValueError(f"colour model must be 'gmm' or 'histogram', got {self.model!r}")
        if self.spread < 0:
            raise ConfigError(f"model.colour.spread: {self.spread} is negative; give 0 (off) or a share of the "
                              f"working diagonal such as 0.1")


def colour_options(cfg: Any) -> ColourOptions:
    """``model.colour`` mapping -> ColourOptions (unknown keys are an error naming the known ones)."""
    given = dict(cfg or {})
    known = {f.name for f in fields(ColourOptions)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown colour option(s) {unknown}; known: {sorted(known)}")
    return ColourOptions(**given)


def lab_image(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W, 3) float32 CIE Lab (L in 0..100, a, b in about -128..127)."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2Lab).astype(np.float32)
    # 8-bit Lab (OpenCV's table path; the float path was ~30x slower): L * 255/100, a + 128, b + 128
    return (lab - np.array([0.0, 128.0, 128.0], np.float32)) * np.array([100.0 / 255.0, 1.0, 1.0], np.float32)


def to_lab(image: Tensor) -> np.ndarray:
    """(3, H, W) float RGB in [0, 1] -> (H*W, 3) float32 CIE Lab (``lab_image`` of its 8-bit rounding)."""
    rgb = np.clip(np.round(image.permute(1, 2, 0).cpu().numpy() * 255.0), 0, 255).astype(np.uint8)
    return lab_image(rgb).reshape(-1, 3)


def bin_index(lab: np.ndarray, bins: int) -> np.ndarray:
    """(N, 3) Lab -> (N,) flat index into a bins^3 histogram."""
    idx = np.zeros(len(lab), dtype=np.int64)
    for axis, (lo, hi) in enumerate(LAB_RANGES):
        b = np.clip(((lab[:, axis] - lo) / (hi - lo) * bins).astype(np.int64), 0, bins - 1)
        idx = idx * bins + b
    return idx


class ColourHistogram:
    """A smoothed Lab histogram density, re-estimated from pixel weights each round (the ablation of
    the mixtures)."""

    def __init__(self, bins: int, smooth: float) -> None:
        self.bins, self.smooth = bins, smooth

    def loglik(self, lab: np.ndarray, weights: np.ndarray, subset: np.ndarray | None = None,
               steps: int | None = None, features: np.ndarray | None = None) -> np.ndarray:
        index = bin_index(lab, self.bins)
        hist = np.bincount(index, weights=weights, minlength=self.bins ** 3).reshape((self.bins,) * 3)
        if self.smooth > 0:
            hist = gaussian_filter(hist, self.smooth, mode="constant")
        hist = hist / max(hist.sum(), 1e-12) + 1e-6 / self.bins ** 3
        return np.log(hist.reshape(-1))[index]


def quadratic_features(x: np.ndarray) -> np.ndarray:
    """(N, 3) -> (N, 10): x_i x_j (i <= j; off-diagonal terms doubled), x, 1, so that every Mahalanobis
    distance (x - m)^T P (x - m) is one matrix product with per-component coefficients."""
    a, b, c = x[:, 0], x[:, 1], x[:, 2]
    return np.stack([a * a, b * b, c * c, 2 * a * b, 2 * a * c, 2 * b * c, a, b, c, np.ones_like(a)], 1)


def gaussian_logpdf(x: np.ndarray, means: np.ndarray, covs: np.ndarray,
                    features: np.ndarray | None = None) -> np.ndarray:
    """(K, N) log N(x_n; mean_k, cov_k) for (N, 3) x, (K, 3) means, (K, 3, 3) covariances, as one
    (K, 10) x (10, N) product: (x - m)^T P (x - m) = sum P_ij x_i x_j - 2 (P m) . x + m^T P m.
    Components on the first axis: the reductions over K are then fast row-wise operations. ``features``:
    ``quadratic_features`` of x, when the caller has them."""
    prec = np.linalg.inv(covs)                                                  # (K, 3, 3)
    pm = np.einsum("kij,kj->ki", prec, means)                                   # P m
    coef = np.concatenate([prec[:, [0, 1, 2], [0, 1, 2]], prec[:, [0, 0, 1], [1, 2, 2]], -2.0 * pm,
                           np.einsum("ki,ki->k", means, pm)[:, None]], 1)        # (K, 10)
    logdet = np.linalg.slogdet(covs)[1]
    # -0.5 (max(maha, 0) + logdet + D log 2 pi), in place: (K, N) temporaries are most of the cost at N ~ 20k
    features = quadratic_features(x.astype(np.float64)) if features is None else features
    out = np.maximum(coef @ features.T, 0.0)
    out += (logdet + x.shape[1] * np.log(2.0 * np.pi))[:, None]
    out *= -0.5
    return out


class WeightedGMM:
    """A full-covariance Gaussian mixture fitted by EM to *weighted* pixels (the soft segmentation is
    the weight), warm-started from the previous round's mixture, so each round costs a few EM steps
    over the image's pixels. The M-step is scikit-learn's ``GaussianMixture`` one (same ``reg_covar``
    on the diagonal; test: with unit weights and the same start both give the same mixture), but
    scikit-learn has no sample weights and refits from scratch with its own checks, which cost more
    than the whole ADMM solve at the working size.

    First start: the weighted pixels split into ``components`` groups at the weighted quantiles of
    their projection on the first principal axis (deterministic, no k-means)."""

    def __init__(self, components: int, em_steps: int, reg_covar: float = 1.0) -> None:
        self.k, self.em_steps, self.reg = components, em_steps, reg_covar
        self.means: np.ndarray | None = None
        self.covs: np.ndarray | None = None
        self.mix: np.ndarray | None = None

    def initialise(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """(K, N) hard responsibilities from the principal-axis quantile split of the weighted pixels."""
        mean = (w[:, None] * x).sum(0) / w.sum()
        if len(x) < 2:   # one pixel (a click of a few full-resolution px on a large photo): no axis to split on
            return np.ones((self.k, len(x))) / self.k
        cov = np.cov((x - mean).T, aweights=w + 1e-12)
        axis = np.linalg.eigh(cov)[1][:, -1] if np.isfinite(cov).all() else np.eye(x.shape[1])[0]
        proj = (x - mean) @ axis
        order = np.argsort(proj)
        cum = np.cumsum(w[order]) / w.sum()
        group = np.empty(len(x), dtype=np.int64)
        group[order] = np.minimum((cum * self.k).astype(np.int64), self.k - 1)
        return np.eye(self.k)[:, group]

    def m_step(self, x: np.ndarray, resp: np.ndarray) -> None:
        """Weighted responsibilities (K, N) -> mixture weights, means, covariances (+ reg_covar I)."""
        nk = resp.sum(1) + 10 * np.finfo(float).eps
        self.means = resp @ x / nk[:, None]
        diff = x[None] - self.means[:, None]                                 # (K, N, D)
        self.covs = (diff * resp[..., None]).transpose(0, 2, 1) @ diff / nk[:, None, None]
        self.covs += self.reg * np.eye(x.shape[1])
        self.mix = nk / nk.sum()

    def log_joint(self, x: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        assert self.means is not None and self.covs is not None and self.mix is not None
        joint = gaussian_logpdf(x, self.means, self.covs, features)
        joint += np.log(self.mix)[:, None]
        return joint

    def fit(self, x: np.ndarray, w: np.ndarray, steps: int | None = None,
            features: np.ndarray | None = None) -> WeightedGMM:
        """``steps`` EM iterations on pixels x (N, D) with weights w (N,) >= 0 (``features``: their
        ``quadratic_features``, when the caller has them)."""
        keep = w > 1e-3 * w.max()  # negligible weights change nothing but cost
        x, w = x[keep], w[keep]
        features = quadratic_features(x.astype(np.float64)) if features is None else features[keep]
        if self.means is None:
            self.m_step(x, self.initialise(x, w) * w)
        for _ in range(self.em_steps if steps is None else steps):
            resp = self.log_joint(x, features)
            resp -= resp.max(0)
            np.exp(resp, out=resp)
            resp *= w / resp.sum(0)
            self.m_step(x, resp)
        return self

    def loglik(self, lab: np.ndarray, weights: np.ndarray, subset: np.ndarray | None = None,
               steps: int | None = None, features: np.ndarray | None = None) -> np.ndarray:
        """Re-fit to ``weights`` (``steps`` warm-started EM steps, default ``em_steps``; on the ``subset``
        pixels only when given; 0: keep the mixture), then the log density of every pixel. ``features``: the
        ``quadratic_features`` of ``lab``, when the caller keeps them (a click model, per photo)."""
        if steps != 0 or self.means is None:
            if subset is None:
                self.fit(lab, weights, steps, features)
            else:
                self.fit(lab[subset], weights[subset], steps, None if features is None else features[subset])
        joint = self.log_joint(lab, features)
        top = joint.max(0)
        joint -= top
        total = np.exp(joint, out=joint).sum(0)
        np.log(total, out=total)
        total += top
        return total


def colour_models(opts: ColourOptions) -> tuple[Any, Any]:
    """(foreground, background) colour models of the configured kind."""
    if opts.model == "gmm":
        return WeightedGMM(opts.components, opts.em_steps), WeightedGMM(opts.components, opts.em_steps)
    return ColourHistogram(opts.bins, opts.smooth), ColourHistogram(opts.bins, opts.smooth)


def colour_fit(lab: np.ndarray, models: tuple[Any, Any], fg_w: np.ndarray, bg_w: np.ndarray,
               fg_seed: np.ndarray, bg_seed: np.ndarray, opts: ColourOptions, steps: int | None = None,
               extra_ratio: np.ndarray | None = None, features: np.ndarray | None = None) -> np.ndarray:
    """The data term F in [-1, 1] (flat): the clipped, scaled log p_bg - log p_fg (after ``steps`` EM
    steps of each mixture; plus ``extra_ratio``, another cue's log-ratio, when given); seeds clamped when
    ``seed_hard``. ``features``: ``quadratic_features`` of ``lab``, kept by the caller."""
    subset = None
    if opts.model == "gmm" and opts.fit_stride > 1:  # every n-th pixel, and every seed (a click is ~80 px)
        subset = fg_seed | bg_seed
        subset[::opts.fit_stride] = True
    ratio = models[1].loglik(lab, bg_w, subset, steps, features) - models[0].loglik(lab, fg_w, subset, steps, features)
    if extra_ratio is not None:
        ratio = ratio + extra_ratio
    fit = np.clip(ratio / opts.scale, -1.0, 1.0)
    if opts.seed_hard:
        fit[bg_seed] = 1.0
        fit[fg_seed] = -1.0
    return fit


def seed_masks(markers: Tensor, background: Tensor | None, border: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat bool (foreground seeds, background seeds) of one image; foreground wins where both are set."""
    fg = markers[0].cpu().numpy().reshape(-1).astype(bool)
    bg = border_mask(tuple(markers.shape[-2:]), border).reshape(-1)
    if background is not None:
        bg |= background[0].cpu().numpy().reshape(-1).astype(bool)
    return fg, bg & ~fg


def coarse(image: Tensor, markers: Tensor, background: Tensor | None,
           factor: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """The image area-averaged by ``factor`` and the marker / background masks max-pooled (a block
    with a marker pixel is a marker), for the cheap early rounds."""
    size = (max(8, image.shape[-2] // factor), max(8, image.shape[-1] // factor))

    def pool(mask: Tensor) -> Tensor:
        return F.adaptive_max_pool2d(mask.float()[:, None], size)[:, 0] > 0.5
    return F.adaptive_avg_pool2d(image, size), pool(markers), None if background is None else pool(background)


def colour_rounds(image: Tensor, markers: Tensor, background: Tensor | None, params: SolverParams,
                  last: SolverParams, opts: ColourOptions, models: tuple[Any, Any], rounds: int,
                  init: Tensor | None, dg: Tensor | None = None, extra: ExtraTerm | None = None,
                  reach: StartMap | None = None,
                  photo: dict[str, Tensor] | None = None) -> tuple[Tensor, int, dict, np.ndarray]:
    """``rounds`` alternations (colour models <- u; u <- ADMM with their data term) on one grid, the
    last with ``last`` solver parameters. ``init`` (1, H, W): a u to start from (and to estimate the
    first colour models from); None: the marker disks and the seeds + ``rest_weight`` start. ``dg``
    (1, H, W): a geodesic distance to use instead of computing D_G on this grid. ``extra``: another cue's
    log-ratio, added to the colour's each round. ``reach``: the foreground's reach on this grid for the start
    weights (``start_weights``; the extent net's guess). ``photo``: ``solver.photo_inputs`` of this grid, computed
    earlier (a click model keeps them per photo)."""
    _, _, h, w = image.shape
    lab = to_lab(image[0])
    fg_seed, bg_seed = seed_masks(markers, background, opts.border)
    if init is None:
        fg_w, bg_w = start_weights(fg_seed, bg_seed, (h, w), opts, None if reach is None else reach((h, w)))
        u = disks(markers, init_radius(h, w, params.init_radius)).to(image.dtype)
    else:
        u = init
        fg_w, bg_w = round_weights(u, fg_seed, bg_seed)
    inputs = prepare(image, markers, params, photo, dg=dg, start=u)   # u0: u (each solve starts from init=u)
    total, log, fit = 0, {}, np.zeros(h * w)
    for r in range(rounds):
        keep = init is not None and r == 0 and not opts.refit_last  # the coarse rounds' mixtures as they are
        more = None if extra is None else extra(image[0], fg_w, bg_w)
        fit = colour_fit(lab, models, fg_w, bg_w, fg_seed, bg_seed, opts, 0 if keep else None, more)
        f = torch.from_numpy(fit.reshape(1, h, w).astype(np.float32)).to(image.device)
        u, iters, log = solve(image, markers, last if r == rounds - 1 else params, diagnostics=False, fit=f,
                              init=u, prepared=inputs)
        total += int(iters[0])
        fg_w, bg_w = round_weights(u, fg_seed, bg_seed)
    return u, total, log, fit.reshape(h, w)


def spread_weights(seeds: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) exp(-d^2 / 2 s^2): d the distance to the nearest ``seeds`` pixel, s = ``sigma`` x the grid's diagonal."""
    d = ndimage.distance_transform_edt(~seeds)
    s = max(1e-6, sigma * float(np.hypot(*seeds.shape)))
    return np.exp(-d * d / (2.0 * s * s))


def start_weights(fg_seed: np.ndarray, bg_seed: np.ndarray, shape: tuple[int, int], opts: ColourOptions,
                  reach: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Round 0's colour-model pixel weights with no segmentation yet (flat): the foreground the marker pixels,
    the background the seeds (1) and every other pixel (``rest_weight``). With ``spread`` > 0 the foreground also
    takes each pixel with the weight s = ``spread_weights`` of its distance to the markers, and the background
    ``rest_weight`` (1 - s) of it: one click covers a few pixels of one colour, and a multi-coloured object's
    other colours near it would otherwise start in the background model and stay there. ``reach`` (``shape``):
    a given s in [0, 1] instead of the spread's (the extent net's guess of the clicked object)."""
    if reach is not None:
        near = np.clip(reach, 0.0, 1.0).reshape(-1)
    else:
        near = spread_weights(fg_seed.reshape(shape), opts.spread).reshape(-1) if opts.spread > 0 else 0.0
    fg_w = np.maximum(fg_seed, near) * ~bg_seed
    bg_w = np.where(bg_seed, 1.0, np.where(fg_seed, 0.0, opts.rest_weight * (1.0 - near)))
    return fg_w, bg_w


def round_weights(u: Tensor, fg_seed: np.ndarray, bg_seed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colour-model pixel weights from the current u: u (and 1 on marker pixels) for the foreground,
    1 - u (1 on background seeds, 0 on marker pixels) for the background."""
    soft = u[0].cpu().numpy().reshape(-1).astype(np.float64)
    return np.maximum(soft, fg_seed), np.where(bg_seed, 1.0, 1.0 - soft) * ~fg_seed


def _uses_geodesic(params: SolverParams) -> bool:
    theta = params.theta
    return any(float(t) > 0 for t in (theta if isinstance(theta, list | tuple) else [theta]))


def solve_colour(image: Tensor, markers: Tensor, background: Tensor | None, params: SolverParams,
                 opts: ColourOptions, extra: ExtraTerm | None = None,
                 models: tuple[Any, Any] | None = None, reach: StartMap | None = None,
                 photo: dict[str, Tensor] | None = None) -> tuple[Tensor, int, dict]:
    """One image: image (1, 3, H, W) in [0, 1], markers / background (1, H, W) bool -> (w (1, H, W),
    ADMM iterations summed over the rounds, log of the last solve plus the last data term ``fit``).

    With ``coarse > 1`` the rounds before the last run on the image shrunk by that factor (a quarter
    of the pixels at 2: the colour models only need a rough u), and the last round, at full size,
    starts from their u upsampled. ``extra``: another cue's log p_bg - log p_fg on a grid given the round's
    pixel weights (``feature_term``: the encoder features' linear discriminant), added to the colour's.
    ``models``: the (foreground, background) colour models to fit (None: new ones), so a caller can use them
    afterwards (the band solve of the cut-out). ``reach``: round 0's foreground reach on a grid (``start_weights``).
    ``photo``: ``solver.photo_inputs`` of ``image`` (the full-size grid), computed earlier."""
    _, _, h, w = image.shape
    rounds = max(1, opts.rounds)
    early = params.with_(tol=max(params.tol, opts.round_tol), max_iter=min(params.max_iter, opts.round_max_iter),
                         min_iter=min(params.min_iter, opts.round_max_iter))
    models = colour_models(opts) if models is None else models
    init, dg, total = None, None, 0
    if rounds > 1 and opts.coarse > 1:
        xc, mc, bc = coarse(image, markers, background, opts.coarse)
        uc, total, log_c, _ = colour_rounds(xc, mc, bc, early, early, opts, models, rounds - 1, None,
                                            extra=extra, reach=reach)
        init = F.interpolate(uc[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0].clamp(0, 1)
        if opts.coarse_geodesic and _uses_geodesic(params):  # D_G of the coarse grid, upsampled
            dg = F.interpolate(log_c["dg"][:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        rounds = 1
    u, iters, log, fit = colour_rounds(image, markers, background, early, params, opts, models, rounds, init, dg,
                                       extra, reach, photo)
    log["fit"] = fit
    if opts.keep_marked:
        u = keep_marked_components(u, markers)
    return u, total + iters, log


def keep_marked_components(u: Tensor, markers: Tensor) -> Tensor:
    """u (1, H, W) with every 8-connected component of ``u > 0.5`` that holds no marker pixel set to 0
    (scipy.ndimage.label; a colour model also fires on same-coloured clutter far from the clicks)."""
    labels, count = ndimage.label((u[0] > 0.5).cpu().numpy(), structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return u
    marked = np.unique(labels[markers[0].cpu().numpy() & (labels > 0)])
    keep = torch.from_numpy(np.isin(labels, marked) | (labels == 0)).to(u.device)
    return u * keep[None]
