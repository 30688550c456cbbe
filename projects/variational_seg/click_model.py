"""An incremental click model on the shipped colour model (issue 29, "clicks that each count"):

* click sizes in full-resolution pixels (``radius``), converted to the working grid, so a corrective
  click in a thin error band stays in it; optionally trimmed to the pixels whose Lab colour is within
  ``edge_tol`` of the clicked pixel's (a click shrinks where it sits on a strong edge);
* the latest click wins: the clicks' disks are painted in click order, a later disk overwriting the
  foreground / background label of an earlier one where they overlap (each click's own pixel keeps its
  label);
* the previous mask as a prior: after the first click the colour models start from the previous mask
  and the data term is ``(1 - g) F_colour + g (1 - 2 w_prev)``, with ``g`` = ``prior`` away from the
  latest click and fading to 0 around it (Gaussian, sigma = ``prior_fade`` x the working diagonal), so
  a click changes its neighbourhood and leaves the rest of the mask as it was; ``rounds`` warm-started
  re-estimations instead of the shipped model's from-scratch rounds;
* background clicks always reach the model (the colour term's background seeds);
* ``data_term: features``: beside the colour mixtures, a linear discriminant on the packaged ImageNet encoder's
  features (``feature_term``; the encoder runs once per photo);
* ``extent.weights``: a trained extent net (``extent_net``) guesses from the first positive click how far the
  object reaches, and the first solve's colour models start from that guess (``colour_term.start_weights``);
  ``extent.later: positive``: each later positive click's guess moves the colour weights too (``take_side``);
  ``extent.later: all``: a net trained with the history (``extent_net``: the previous mask and every click) is asked
  at every later click, and its guess moves the colour weights towards that click's side.

The first click has no previous mask: it is the shipped model (``colour_term.solve_colour``) on the
click's disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from projects.variational_seg.band_solve import band_solve
from projects.variational_seg.click_disks import click_disks
from projects.variational_seg.clicker import Click
from projects.variational_seg.colour_term import (
    ColourOptions,
    colour_fit,
    colour_models,
    colour_options,
    keep_marked_components,
    quadratic_features,
    round_weights,
    seed_masks,
    solve_colour,
    to_lab,
)
from projects.variational_seg.extent_net import ExtentPrior
from projects.variational_seg.feature_term import FeatureTerm, RecentPhotos, feature_options
from projects.variational_seg.markers import scale_points
from projects.variational_seg.noc import ClickSegmenter, from_points, uses_negative_clicks
from projects.variational_seg.params import SolverParams, resolve_params
from projects.variational_seg.pipeline import area_resize, image_tensor, upsample, working_size
from projects.variational_seg.refine import GuideCache, RefineOptions, refine, refine_options
from projects.variational_seg.solver import photo_inputs, prepare, solve
from shared.errors import ConfigError
from shared.paths import REPO_ROOT

CLICK_DATA_TERMS = ("colour", "features")   # Lab mixtures; the same plus the encoder features' discriminant


@dataclass(frozen=True)
class ClickOptions:
    """``model.clicks`` of a model config (configs/variational_seg/model/wbh_colour_clicks.yaml)."""

    radius: float = 4.0        # click disk radius in full-resolution px (at least the clicked working pixel)
    first_radius: float | None = None   # the first click's radius (full-resolution px; None: ``radius``): it sits
                                        # at the object's deepest point, where a large disk is safe
    edge_tol: float = 0.0      # > 0: keep only disk pixels within this Lab distance of the clicked colour
    min_working: float = 0.0   # the disk's least radius on the working grid (px): on a 12-MP photo 24 full-resolution
                               # px are one working px, too few for the colour models
    prior: float = 0.5         # weight of the previous mask in the data term (0: none)
    prior_fade: float = 0.1    # sigma of the prior's fade around the latest click, x the working diagonal
    rounds: int = 2            # colour re-estimations after the first click (colour models from the previous mask)
    warm_start: bool = True    # ADMM starts from the previous mask (else from the click disks, as the first click)
    incremental: bool = True   # False: every click re-solved from the clicks alone (the shipped model's rounds)
    spread: float = 0.0        # > 0: the latest click's label spread into the colour weights around it
                               # (``spread_click``; sigma x the working diagonal)
    full_res: float = 0.0      # > 0: after the solve, each click's disk of this many full-resolution px (trimmed
                               # by ``edge_tol``) takes the click's label in the full-resolution mask, latest last

    def __post_init__(self) -> None:
        if self.spread < 0:
            raise ConfigError(f"model.clicks.spread: {self.spread} is negative; give 0 (off) or a share of the "
                              f"working diagonal such as 0.06")


def click_options(cfg: Mapping[str, Any] | None) -> ClickOptions:
    given = dict(cfg or {})
    known = {f.name for f in fields(ClickOptions)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(f"model.clicks: unknown key(s) {unknown}; known: {sorted(known)}")
    return ClickOptions(**given)


EXTENT_LATER = ("none", "positive", "all")   # which later clicks the extent net sees (``extent_options``)


@dataclass(frozen=True)
class ExtentOptions:
    """``model.extent``: ``weights`` the net's file, or a list of files (an ensemble: the mean of the nets'
    logits, ``ExtentPrior``); ``later``: none (the net sees the first positive click only)
    or positive (also each later positive click: the colour models' weights start from its guess of that click's
    object, ``take_side``; a first-click net is not given negative clicks: it was trained on objects, and on GrabCut
    val its guesses of negative clicks undid good masks) or all (every later click, to a net trained with the
    history, which reads the previous mask and all clicks: ``incremental_segmenter`` refuses a first-click net)."""

    weights: tuple[Path, ...]
    later: str = "none"


def extent_options(cfg: Mapping[str, Any] | None) -> ExtentOptions | None:
    """``model.extent`` (None without the block); a relative ``weights`` path is the repo's."""
    given = dict(cfg or {})
    if not given:
        return None
    unknown = sorted(set(given) - {"weights", "later"})
    if unknown or not given.get("weights"):
        raise ConfigError(f"model.extent: give `weights` (the extent net's file, or a list of them) and optionally "
                          f"`later` {list(EXTENT_LATER)}, got {sorted(given)}")
    later = str(given.get("later", "none"))
    if later not in EXTENT_LATER:
        raise ConfigError(f"model.extent.later: {later!r} is not one of {list(EXTENT_LATER)}")
    files = given["weights"] if isinstance(given["weights"], (list, tuple)) else [given["weights"]]
    paths = [Path(str(f)).expanduser() for f in files]
    return ExtentOptions(tuple(p if p.is_absolute() else REPO_ROOT / p for p in paths), later)


def click_masks(clicks: Sequence[Click], src: tuple[int, int], dst: tuple[int, int], radius: float,
                lab: np.ndarray | None = None, edge_tol: float = 0.0,
                min_radius: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(foreground, background) bool masks on the ``dst`` grid: each click a disk of ``radius`` full-
    resolution px (at least ``min_radius`` ``dst`` px) around its scaled position, painted in click order (the
    latest click wins); ``lab`` (H*W, 3) with ``edge_tol`` > 0 trims each disk to the pixels of similar colour."""
    fg, bg = np.zeros(dst, dtype=bool), np.zeros(dst, dtype=bool)
    r = max(radius * min(dst[0] / src[0], dst[1] / src[1]), min_radius)
    reach = int(np.floor(r))   # the disk's pixels lie within this many rows and columns of its centre
    centres = [scale_points(np.array([[c.row, c.col]]), src, dst)[0] for c in clicks]
    for click, (row, col) in zip(clicks, centres):
        patch = (slice(max(0, row - reach), min(dst[0], row + reach + 1)),
                 slice(max(0, col - reach), min(dst[1], col + reach + 1)))
        yy, xx = np.mgrid[patch]
        disk = (yy - row) ** 2 + (xx - col) ** 2 <= r * r
        if lab is not None and edge_tol > 0:
            colours = lab.reshape(*dst, 3)
            disk &= np.linalg.norm(colours[patch] - colours[row, col], axis=-1) <= edge_tol
        fg[patch][disk], bg[patch][disk] = click.positive, not click.positive
    for click, (row, col) in zip(clicks, centres):   # a click's own pixel keeps its label (the latest on a tie)
        fg[row, col], bg[row, col] = click.positive, not click.positive
    return fg, bg


def near_click(shape: tuple[int, int], at: tuple[int, int], sigma: float) -> np.ndarray:
    """(H, W) exp(-d^2 / 2 s^2): d the distance to the pixel ``at``, s = ``sigma`` x the grid's diagonal."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    s = max(1e-6, sigma * float(np.hypot(*shape)))
    d2 = (yy - at[0]) ** 2 + (xx - at[1]) ** 2
    return np.exp(-d2 / (2.0 * s * s))


def prior_weight(shape: tuple[int, int], latest: tuple[int, int], prior: float, fade: float) -> np.ndarray:
    """``prior`` everywhere, fading to 0 at the latest click (Gaussian of sigma ``fade`` x the diagonal)."""
    return prior * (1.0 - near_click(shape, latest, fade))


def spread_click(fg_w: np.ndarray, bg_w: np.ndarray, fg_seed: np.ndarray, bg_seed: np.ndarray,
                 shape: tuple[int, int], at: tuple[int, int], positive: bool,
                 sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The previous mask's colour weights (flat) with the latest click's label spread around it: s =
    ``near_click`` (``at`` on the ``shape`` grid), given to ``take_side``. A corrective click sits in an error
    region, and its colours near it would otherwise stay in the model of the side the previous mask gave them."""
    return take_side(fg_w, bg_w, fg_seed, bg_seed, near_click(shape, at, sigma).reshape(-1), positive)


def take_side(fg_w: np.ndarray, bg_w: np.ndarray, fg_seed: np.ndarray, bg_seed: np.ndarray, share: np.ndarray,
              positive: bool) -> tuple[np.ndarray, np.ndarray]:
    """Colour weights (flat) moved towards a click's side by ``share`` s in [0, 1] (flat): the click's side takes
    max(w, s), the other side w (1 - s); the seeds keep their side."""
    if positive:
        fg_w, bg_w = np.maximum(fg_w, share), bg_w * (1.0 - share)
    else:
        fg_w, bg_w = fg_w * (1.0 - share), np.maximum(bg_w, share)
    return np.where(bg_seed, 0.0, np.maximum(fg_w, fg_seed)), np.where(fg_seed, 0.0, np.maximum(bg_w, bg_seed))


def paint_clicks(prob: np.ndarray, image: np.ndarray, clicks: Sequence[Click], radius: float,
                 edge_tol: float) -> np.ndarray:
    """``prob`` (H, W) with each click's full-resolution disk of ``radius`` px set to its label, in click
    order (the latest click wins); ``edge_tol`` > 0 keeps only the disk pixels within that Lab distance of
    the clicked pixel's colour, so a disk stops at a colour edge (``click_disks``)."""
    for patch, disk, positive in click_disks(clicks, image, radius, edge_tol):
        prob[patch][disk] = 1.0 if positive else 0.0
    return prob


def to_full(image: np.ndarray, u: torch.Tensor, clicks: Sequence[Click], copts: ClickOptions,
            ropts: RefineOptions | None, models: tuple[Any, Any], opts: ColourOptions,
            guides: GuideCache | None = None) -> np.ndarray:
    """Working-size u (1, h, w) -> probability at the photo's resolution: refined onto the photo's edges
    (``refine``: the guided filter, with the kept ``guides``; ``band_solve``: a min cut on a finer grid with the
    colour ``models``) or upsampled bilinearly, then the clicks painted at full resolution (``full_res``)."""
    if ropts is None:
        prob = upsample(u[0], image.shape[:2])
    elif ropts.mode in ("band_solve", "band_guided"):
        prob = band_solve(image, u[0].numpy(), models, clicks, ropts, opts.scale, copts.full_res, copts.edge_tol)
    else:
        prob = refine(image, u[0].numpy(), ropts, guides)
    if copts.full_res > 0:
        prob = paint_clicks(prob, image, clicks, copts.full_res, copts.edge_tol)
    return prob


@dataclass
class WorkingPhoto:
    """What every click on a photo reads: the photo at the working size (``x`` (1, 3, h, w)), its Lab colours (h * w,
    3) with their ``colour_term.quadratic_features`` (h * w, 10) and the solver's image-only inputs
    (``solver.photo_inputs``). Made once per photo (``incremental_segmenter``); at 1 MP that is ~15 ms of each click."""

    x: torch.Tensor
    lab: np.ndarray
    features: np.ndarray
    solver: dict[str, torch.Tensor]
    geodesic: tuple[bytes, torch.Tensor] | None = None   # the last markers' D_G (``solver_inputs``)

    def solver_inputs(self, markers: torch.Tensor, params: SolverParams,
                      start: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``solver.prepare`` for these markers; D_G (~10 ms at the working size) is re-used while the markers stay
        as they were, as after a negative click whose disk leaves the positive ones alone. ``start``: the warm start
        u0 (None: the marker disks)."""
        key = markers.numpy().tobytes()
        if self.geodesic is not None and self.geodesic[0] == key:
            return prepare(self.x, markers, params, self.solver, dg=self.geodesic[1], start=start)
        inputs = prepare(self.x, markers, params, self.solver, start=start)
        self.geodesic = (key, inputs["dg"])
        return inputs


def working_photo(image: np.ndarray, max_side: int, params: SolverParams) -> WorkingPhoto:
    h, w = image.shape[:2]
    size = working_size(h, w, max_side)
    x = image_tensor(area_resize(image, size) if size != (h, w) else image)
    lab = to_lab(x[0])
    return WorkingPhoto(x, lab, quadratic_features(lab.astype(np.float64)), photo_inputs(x, params))


def incremental_solve(image: np.ndarray, photo: WorkingPhoto, clicks: Sequence[Click], previous: np.ndarray | None,
                      params: SolverParams, opts: ColourOptions, copts: ClickOptions,
                      ropts: RefineOptions | None = None, features: FeatureTerm | None = None,
                      extent: ExtentPrior | None = None, extent_later: bool = False,
                      guides: GuideCache | None = None) -> np.ndarray:
    """Foreground probability at image resolution after ``clicks`` (in order), given the previous one; ``photo``:
    ``working_photo(image, ...)``. ``features``: the encoder features' log-ratio added to the colour's
    (``feature_term``). ``extent``: with no previous mask, the colour models start from its guess of the first
    positive click's object; ``extent_later``: also each later positive click's guess moves the colour weights
    (``take_side``). ``guides``: the cut-out's kept guide (``refine.GuideCache``)."""
    h, w = image.shape[:2]
    x, lab = photo.x, photo.lab
    size = tuple(x.shape[-2:])
    radius = copts.radius if len(clicks) > 1 or copts.first_radius is None else copts.first_radius
    fg, bg = click_masks(clicks, (h, w), size, radius, lab, copts.edge_tol, copts.min_working)
    if not fg.any():   # every positive pixel overwritten by later negative clicks
        return np.zeros((h, w), dtype=np.float32)
    markers, background = torch.from_numpy(fg)[None], torch.from_numpy(bg)[None]
    models = colour_models(opts)
    if previous is None or not copts.incremental:
        extra = None if features is None else features.term(image, first_click=len(clicks) == 1)
        first = next(c for c in clicks if c.positive)
        reach = None if extent is None else extent.reach(image, [first])
        u, _, _ = solve_colour(x, markers, background if bg.any() else None, params, opts, extra, models, reach,
                               photo.solver)
        return to_full(image, u, clicks, copts, ropts, models, opts, guides)
    prev = torch.from_numpy(np.clip(area_resize(previous, size), 0.0, 1.0))[None]
    fg_seed, bg_seed = seed_masks(markers, background, opts.border)
    fg_w, bg_w = round_weights(prev, fg_seed, bg_seed)
    row, col = scale_points(np.array([[clicks[-1].row, clicks[-1].col]]), (h, w), size)[0]
    latest = (int(row), int(col))
    if copts.spread > 0:
        fg_w, bg_w = spread_click(fg_w, bg_w, fg_seed, bg_seed, size, latest, clicks[-1].positive, copts.spread)
    if extent is not None and extent_later and (clicks[-1].positive or extent.history):
        # a corrective click: the part of the photo that, as the net sees it, changes side starts on that side
        # (a first-click net reads the latest click alone; a history net the previous mask and all clicks)
        seen = extent.reach(image, clicks, previous)(size).reshape(-1)
        positive = clicks[-1].positive
        fg_w, bg_w = take_side(fg_w, bg_w, fg_seed, bg_seed, seen if positive else 1.0 - seen, positive)
    g = prior_weight(size, latest, copts.prior, copts.prior_fade).reshape(-1)
    pull = 1.0 - 2.0 * prev[0].numpy().reshape(-1).astype(np.float64)
    extra = None if features is None else features.term(image, first_click=False)
    inputs = photo.solver_inputs(markers, params, prev if copts.warm_start else None)
    u = inputs["u0"]
    for _ in range(max(1, copts.rounds)):
        more = None if extra is None else extra(x[0], fg_w, bg_w)
        colour = colour_fit(lab, models, fg_w, bg_w, fg_seed, bg_seed, opts, extra_ratio=more, features=photo.features)
        fit = (1.0 - g) * colour + g * pull
        fit[bg_seed], fit[fg_seed] = 1.0, -1.0
        f = torch.from_numpy(fit.reshape(1, *size).astype(np.float32))
        u, _, _ = solve(x, markers, params, diagnostics=False, fit=f, init=u, prepared=inputs)
        fg_w, bg_w = round_weights(u, fg_seed, bg_seed)
    if opts.keep_marked:
        u = keep_marked_components(u, markers)
    return to_full(image, u, clicks, copts, ropts, models, opts, guides)


def incremental_segmenter(model: Mapping[str, Any], data: Mapping[str, Any] | None, max_side: int) -> ClickSegmenter:
    """The configured model with a ``clicks`` block as a ``noc.ClickSegmenter`` (``data_term``: colour, or
    features: plus the packaged encoder's features, built here so that absent weights fail at once)."""
    term = model.get("data_term", "colour")
    if term not in CLICK_DATA_TERMS:
        raise ConfigError(f"model={model.get('name')}: data_term {term!r} is not one a click model has; "
                          f"use one of {list(CLICK_DATA_TERMS)}")
    params = resolve_params(model, data)
    opts, copts = colour_options(model.get("colour")), click_options(model.get("clicks"))
    ropts = refine_options(model.get("refine"))
    if ropts is not None and ropts.mode != "guided" and opts.model != "gmm":
        raise ConfigError(f"model={model.get('name')}: refine.mode {ropts.mode} needs the colour mixtures "
                          f"(colour.model gmm, not {opts.model}); set refine.mode guided or colour.model gmm")
    features = FeatureTerm(feature_options(model.get("features"))) if term == "features" else None
    eopts = extent_options(model.get("extent"))
    extent = None if eopts is None else ExtentPrior(eopts.weights)
    if eopts is not None and (eopts.later == "all") != extent.history:
        raise ConfigError(f"model.extent: later {eopts.later!r} with {eopts.weights[0].name}, a "
                          f"{'history' if extent.history else 'first-click'} net; `later: all` goes with a net "
                          f"trained with --history (scripts/train_extent.py), and such a net with it alone")
    extent_later = eopts is not None and eopts.later != "none"
    photos = RecentPhotos(4, lambda image: working_photo(image, max_side, params))
    guides = GuideCache()

    def run(image: np.ndarray, clicks: list[Click], previous: np.ndarray | None) -> np.ndarray:
        return incremental_solve(image, photos(image), clicks, previous, params, opts, copts, ropts, features,
                                 extent, extent_later, guides)

    def prepare_photo(image: np.ndarray) -> None:   # a photo's own work, computed and kept before its first click
        photos(image)
        if extent is not None:
            extent.maps(image)
    run.prepare_photo = prepare_photo  # type: ignore[attr-defined]
    return run


def prepare_photo(segment: ClickSegmenter, image: np.ndarray) -> None:
    """A model's per-photo work (the extent net's encoder pass) done now, before the photo's first click, where the
    model has any (the page runs it on upload, so the first click costs what a later one does)."""
    prepare = getattr(segment, "prepare_photo", None)
    if prepare is not None:
        prepare(image)


def ordered_clicks(fg: np.ndarray, bg: np.ndarray | None, order: Sequence[str] | None = None) -> list[Click]:
    """(row, col) foreground and background points -> clicks in the order they were made: ``order`` one
    'fg' / 'bg' per click (the page sends it); None: the foreground points first, then the background
    ones (a background click then wins where it overlaps a foreground one)."""
    bg = np.zeros((0, 2), dtype=np.int64) if bg is None else bg
    if order is None:
        order = ["fg"] * len(fg) + ["bg"] * len(bg)
    if sorted(order) != sorted(["fg"] * len(fg) + ["bg"] * len(bg)):
        raise ConfigError(f"click order names {order.count('fg')} foreground and {order.count('bg')} background "
                          f"clicks, but {len(fg)} and {len(bg)} points were given")
    taken = {"fg": iter(fg), "bg": iter(bg)}
    return [Click(int(r), int(c), kind == "fg") for kind in order for r, c in [next(taken[kind])]]


class ClickSession:
    """One photo's clicks and the model's probability after each: ``update(image, clicks)`` re-uses the
    probabilities of the clicks it shares with the last call (an undo costs nothing) and runs the model
    once per new click, each with its previous mask, as the NoC protocol does. ``incremental`` False (a
    model that re-solves from the clicks alone): only the last click list is solved."""

    def __init__(self, segment: ClickSegmenter, incremental: bool = True) -> None:
        self.segment, self.incremental = segment, incremental
        self.clicks: list[Click] = []
        self.probs: list[np.ndarray] = []

    def update(self, image: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
        shared = 0
        while shared < min(len(clicks), len(self.clicks)) and clicks[shared] == self.clicks[shared]:
            shared += 1
        self.clicks, self.probs = self.clicks[:shared], self.probs[:shared]
        if not self.incremental and shared < len(clicks):
            self.clicks, self.probs = list(clicks), [self.segment(image, list(clicks), None)]
        for click in clicks[len(self.clicks):]:
            self.clicks.append(click)
            self.probs.append(self.segment(image, list(self.clicks), self.probs[-1] if self.probs else None))
        return self.probs[-1]


def is_incremental(model: Mapping[str, Any]) -> bool:
    """Whether the configured model uses the click order and its previous mask (a ``clicks`` block)."""
    return model.get("clicks") is not None and click_options(model.get("clicks")).incremental


def click_segmenter_for(model: Mapping[str, Any], data: Mapping[str, Any] | None, max_side: int,
                        markers_radius: int = 0, strict: bool = True) -> ClickSegmenter:
    """Any configured model as a ``ClickSegmenter``: a model with a ``clicks`` block is the incremental click
    model; the others get the clicks' positions (``noc.from_points``). ``strict``: a background click given
    to a model without a background term (the paper's wbh, tv, rci) is one ConfigError line (the NoC
    protocol passes False: it places them anyway and the method never sees them)."""
    if model.get("clicks") is not None:
        return incremental_segmenter(model, data, max_side)
    from projects.variational_seg.methods import segmenter_for

    segmenter = segmenter_for(model, data, max_side, markers_radius)
    negatives = uses_negative_clicks(model)

    def segment(image: np.ndarray, positive: np.ndarray, negative: np.ndarray | None) -> np.ndarray:
        return segmenter([image], [positive], [negative])[0].prob

    run = from_points(segment, negatives)
    if negatives or not strict:
        return run

    def refuse_background(image: np.ndarray, clicks: list[Click], previous: np.ndarray | None) -> np.ndarray:
        if not all(c.positive for c in clicks):
            raise ConfigError(f"model={model.get('name')} has no background term and cannot use background clicks; "
                              f"drop them or use the shipped model (model=wbh_colour_extent_later_ensemble)")
        return run(image, clicks, previous)
    return refuse_background
