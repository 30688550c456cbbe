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
* background clicks always reach the model (the colour term's background seeds).

The first click has no previous mask: it is the shipped model (``colour_term.solve_colour``) on the
click's disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from projects.variational_seg.clicker import Click
from projects.variational_seg.colour_term import (
    ColourOptions,
    colour_fit,
    colour_models,
    colour_options,
    keep_marked_components,
    round_weights,
    seed_masks,
    solve_colour,
    to_lab,
)
from projects.variational_seg.markers import scale_points
from projects.variational_seg.noc import ClickSegmenter
from projects.variational_seg.params import SolverParams, resolve_params
from projects.variational_seg.pipeline import area_resize, image_tensor, upsample, working_size
from projects.variational_seg.solver import prepare, solve
from shared.errors import ConfigError


@dataclass(frozen=True)
class ClickOptions:
    """``model.clicks`` of a model config (configs/variational_seg/model/wbh_colour_clicks.yaml)."""

    radius: float = 4.0        # click disk radius in full-resolution px (at least the clicked working pixel)
    first_radius: float | None = None   # the first click's radius (full-resolution px; None: ``radius``): it sits
                                        # at the object's deepest point, where a large disk is safe
    edge_tol: float = 0.0      # > 0: keep only disk pixels within this Lab distance of the clicked colour
    prior: float = 0.5         # weight of the previous mask in the data term (0: none)
    prior_fade: float = 0.1    # sigma of the prior's fade around the latest click, x the working diagonal
    rounds: int = 2            # colour re-estimations after the first click (colour models from the previous mask)
    warm_start: bool = True    # ADMM starts from the previous mask (else from the click disks, as the first click)
    incremental: bool = True   # False: every click re-solved from the clicks alone (the shipped model's rounds)


def click_options(cfg: Mapping[str, Any] | None) -> ClickOptions:
    given = dict(cfg or {})
    known = {f.name for f in fields(ClickOptions)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(f"model.clicks: unknown key(s) {unknown}; known: {sorted(known)}")
    return ClickOptions(**given)


def click_masks(clicks: Sequence[Click], src: tuple[int, int], dst: tuple[int, int], radius: float,
                lab: np.ndarray | None = None, edge_tol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(foreground, background) bool masks on the ``dst`` grid: each click a disk of ``radius`` full-
    resolution px around its scaled position, painted in click order (the latest click wins); ``lab``
    (H*W, 3) with ``edge_tol`` > 0 trims each disk to the pixels of similar colour."""
    fg, bg = np.zeros(dst, dtype=bool), np.zeros(dst, dtype=bool)
    r = radius * min(dst[0] / src[0], dst[1] / src[1])
    yy, xx = np.mgrid[:dst[0], :dst[1]]
    centres = [scale_points(np.array([[c.row, c.col]]), src, dst)[0] for c in clicks]
    for click, (row, col) in zip(clicks, centres):
        disk = (yy - row) ** 2 + (xx - col) ** 2 <= r * r
        if lab is not None and edge_tol > 0:
            colours = lab.reshape(*dst, 3)
            disk &= np.linalg.norm(colours - colours[row, col], axis=-1) <= edge_tol
        fg[disk], bg[disk] = click.positive, not click.positive
    for click, (row, col) in zip(clicks, centres):   # a click's own pixel keeps its label (the latest on a tie)
        fg[row, col], bg[row, col] = click.positive, not click.positive
    return fg, bg


def prior_weight(shape: tuple[int, int], latest: tuple[int, int], prior: float, fade: float) -> np.ndarray:
    """``prior`` everywhere, fading to 0 at the latest click (Gaussian of sigma ``fade`` x the diagonal)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    sigma = max(1e-6, fade * float(np.hypot(*shape)))
    d2 = (yy - latest[0]) ** 2 + (xx - latest[1]) ** 2
    return prior * (1.0 - np.exp(-d2 / (2.0 * sigma * sigma)))


def incremental_solve(image: np.ndarray, clicks: Sequence[Click], previous: np.ndarray | None,
                      params: SolverParams, opts: ColourOptions, copts: ClickOptions, max_side: int) -> np.ndarray:
    """Foreground probability at image resolution after ``clicks`` (in order), given the previous one."""
    h, w = image.shape[:2]
    size = working_size(h, w, max_side)
    x = image_tensor(area_resize(image, size) if size != (h, w) else image)
    lab = to_lab(x[0])
    radius = copts.radius if len(clicks) > 1 or copts.first_radius is None else copts.first_radius
    fg, bg = click_masks(clicks, (h, w), size, radius, lab, copts.edge_tol)
    if not fg.any():   # every positive pixel overwritten by later negative clicks
        return np.zeros((h, w), dtype=np.float32)
    markers, background = torch.from_numpy(fg)[None], torch.from_numpy(bg)[None]
    if previous is None or not copts.incremental:
        u, _, _ = solve_colour(x, markers, background if bg.any() else None, params, opts)
        return upsample(u[0], (h, w))
    prev = torch.from_numpy(np.clip(area_resize(previous.astype(np.float32), size), 0.0, 1.0))[None]
    fg_seed, bg_seed = seed_masks(markers, background, opts.border)
    fg_w, bg_w = round_weights(prev, fg_seed, bg_seed)
    latest = scale_points(np.array([[clicks[-1].row, clicks[-1].col]]), (h, w), size)[0]
    g = prior_weight(size, (int(latest[0]), int(latest[1])), copts.prior, copts.prior_fade).reshape(-1)
    pull = 1.0 - 2.0 * prev[0].numpy().reshape(-1).astype(np.float64)
    models = colour_models(opts)
    inputs = prepare(x, markers, params)
    u = prev if copts.warm_start else inputs["u0"]
    for _ in range(max(1, copts.rounds)):
        fit = (1.0 - g) * colour_fit(lab, models, fg_w, bg_w, fg_seed, bg_seed, opts) + g * pull
        fit[bg_seed], fit[fg_seed] = 1.0, -1.0
        f = torch.from_numpy(fit.reshape(1, *size).astype(np.float32))
        u, _, _ = solve(x, markers, params, diagnostics=False, fit=f, init=u, prepared=inputs)
        fg_w, bg_w = round_weights(u, fg_seed, bg_seed)
    if opts.keep_marked:
        u = keep_marked_components(u, markers)
    return upsample(u[0], (h, w))


def incremental_segmenter(model: Mapping[str, Any], data: Mapping[str, Any] | None, max_side: int) -> ClickSegmenter:
    """The configured model with a ``clicks`` block as a ``noc.ClickSegmenter``."""
    params = resolve_params(model, data)
    opts, copts = colour_options(model.get("colour")), click_options(model.get("clicks"))

    def run(image: np.ndarray, clicks: list[Click], previous: np.ndarray | None) -> np.ndarray:
        return incremental_solve(image, clicks, previous, params, opts, copts, max_side)
    return run
