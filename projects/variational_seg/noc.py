"""Number of clicks (NoC) of the interactive-segmentation field: one object's IoU after each simulated
click (``clicker``), and the arithmetic over objects.

* NoC@X of an object: the first click count whose IoU is >= X; an object that never gets there within
  ``max_clicks`` counts ``max_clicks`` (RITM's ``compute_noc_metric``);
* NoF@X: how many objects never reach X within ``max_clicks`` (RITM counts ``NoC == max_clicks``, which
  also includes an object that reaches X exactly at the last click; here only true failures count);
* the IoU curve: the mean IoU over objects after 1..``max_clicks`` clicks.

Every method gets all clicks so far: a point-based method (``from_points``) the positive ones as
foreground points and the negative ones as background points (a method without a background term does
not get them, ``uses_negative_clicks``); an incremental click model (``click_model``) also their order and
its previous mask.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from projects.variational_seg.boundary import boundary_f
from projects.variational_seg.clicker import Click, iou, next_click

BOUNDARY_AT = (1, 5, 10, 20)   # click counts after which the boundary F-score is measured (it costs 2 EDTs)

# f(image, clicks so far in order, previous probability or None) -> foreground probability at image size
ClickSegmenter = Callable[[np.ndarray, list[Click], np.ndarray | None], np.ndarray]
# f(image, positive (n, 2) row/col, negative (m, 2) or None) -> foreground probability: a method that sees
# only where the clicks are (every method of methods.segmenter_for)
PointSegmenter = Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]


def click_points(clicks: Sequence[Click]) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative) (row, col) arrays of the clicks."""
    pos = np.array([(c.row, c.col) for c in clicks if c.positive], dtype=np.int64).reshape(-1, 2)
    neg = np.array([(c.row, c.col) for c in clicks if not c.positive], dtype=np.int64).reshape(-1, 2)
    return pos, neg


def from_points(segment: PointSegmenter, negatives: bool = True) -> ClickSegmenter:
    """A point-based method as a ``ClickSegmenter``: all positive clicks as its markers, the negative ones
    as background points (``negatives`` False: not passed, for a method without background input); it
    re-solves from the clicks alone (no previous mask, no click order)."""
    def run(image: np.ndarray, clicks: list[Click], previous: np.ndarray | None) -> np.ndarray:
        pos, neg = click_points(clicks)
        return segment(image, pos, neg if negatives and len(neg) else None)
    return run


def uses_negative_clicks(model: Mapping[str, Any]) -> bool:
    """Whether the configured method takes background points: the anchors and the colour- and feature-term
    models do; the paper's energies (wbh, tv, rci and their ablations) and the U-Nets have no background input."""
    return model.get("kind") == "anchor" or model.get("data_term") in ("colour", "features")


@dataclass
class ClickRun:
    """One object through ``max_clicks`` clicks."""
    ious: list[float] = field(default_factory=list)          # IoU after click 1, 2, ...
    cpu_seconds: list[float | None] = field(default_factory=list)   # CPU time of the method per click (None:
    # no error left, the method was not run)
    clicks: list[Click] = field(default_factory=list)
    worse: int = 0                                            # clicks after which the IoU went down
    boundary: dict[int, float] = field(default_factory=dict)  # boundary F-score after the clicks of BOUNDARY_AT


def run_clicks(segment: ClickSegmenter, image: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None,
               max_clicks: int = 20) -> ClickRun:
    """Simulate ``max_clicks`` clicks on one object (``segment`` gets every click so far, in order, and
    its own previous probability)."""
    run = ClickRun()
    prob: np.ndarray | None = None
    pred = np.zeros(gt.shape, dtype=bool)
    clicked = np.zeros(gt.shape, dtype=bool)
    for k in range(1, max_clicks + 1):
        click = next_click(pred, gt, ignore, clicked)
        if click is None:   # nothing left to correct: the mask stays as it is
            run.ious.append(run.ious[-1] if run.ious else iou(pred, gt, ignore))
            run.cpu_seconds.append(None)
            if k in BOUNDARY_AT:
                run.boundary[k] = boundary_f(pred, gt, ignore)
            continue
        run.clicks.append(click)
        clicked[click.row, click.col] = True
        start = time.process_time()
        prob = segment(image, list(run.clicks), prob)
        run.cpu_seconds.append(time.process_time() - start)
        pred = prob > 0.5
        score = iou(pred, gt, ignore)
        if run.ious and score < run.ious[-1]:
            run.worse += 1
        run.ious.append(score)
        if k in BOUNDARY_AT:
            run.boundary[k] = boundary_f(pred, gt, ignore)
    return run


def noc(ious: Sequence[float], threshold: float, max_clicks: int = 20) -> int:
    """Clicks until the IoU first reaches ``threshold`` (``max_clicks`` when it never does)."""
    for k, value in enumerate(ious[:max_clicks], start=1):
        if value >= threshold:
            return k
    return max_clicks


def failed(ious: Sequence[float], threshold: float, max_clicks: int = 20) -> bool:
    """The object never reaches ``threshold`` within ``max_clicks`` clicks."""
    return not any(value >= threshold for value in ious[:max_clicks])


def summarise(runs: Sequence[Sequence[float]], thresholds: Sequence[float], max_clicks: int = 20,
              cpu_seconds: Sequence[Sequence[float | None]] = (), worse: Sequence[int] = (),
              boundary: Sequence[Mapping[int, float]] = ()) -> dict[str, float]:
    """``noc<X>`` (mean), ``nof<X>`` (count) per threshold (X in percent), ``iou_at_<k>`` (mean IoU after
    k clicks), ``s_per_click`` (mean CPU seconds of the clicks that ran the method), ``worse_share``
    (share of clicks 2.. that lowered the IoU), ``bf_at_<k>`` (mean boundary F-score after k clicks), ``n``."""
    out: dict[str, float] = {"n": len(runs)}
    for thr in thresholds:
        tag = f"{round(100 * thr)}"
        out[f"noc{tag}"] = float(np.mean([noc(r, thr, max_clicks) for r in runs]))
        out[f"nof{tag}"] = int(sum(failed(r, thr, max_clicks) for r in runs))
    for k in range(1, max_clicks + 1):
        out[f"iou_at_{k}"] = float(np.mean([r[k - 1] for r in runs]))
    ran = [s for per in cpu_seconds for s in per if s is not None]
    if ran:
        out["s_per_click"] = float(np.mean(ran))
    if worse:
        out["worse_share"] = float(sum(worse) / max(1, len(runs) * (max_clicks - 1)))
    for k in sorted({k for per in boundary for k in per}):
        out[f"bf_at_{k}"] = float(np.mean([per[k] for per in boundary if k in per]))
    return out
