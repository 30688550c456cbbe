"""Cells: the runs of one table cell -> mean ± sample std (ddof 1) with n, and how a cell is written.

One convention everywhere: the std is the sample std over the runs (seeds); one run has no std (None)
and is written as its value with ``(n=1)``; no run is "–"."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.errors import DataError
from shared.report.runs import RunRecord

MISSING = "–"
CHECKPOINTS = ("final", "best")   # metrics.json prefixes: last weights, val-selected checkpoint


@dataclass(frozen=True)
class Cell:
    mean: float
    std: float | None     # sample std (ddof 1); None for a single run
    n: int | None         # None: unknown (a frozen cell whose README source did not show it)
    runs: tuple[str, ...] = ()   # the run folders the values came from


def summarise(values: Sequence[float | None], runs: Sequence[str] = ()) -> Cell | None:
    """Mean and sample std of the finite values (``runs[i]`` is the folder of ``values[i]``); None if none."""
    kept = [(float(v), r) for v, r in zip(values, [*runs, *[""] * (len(values) - len(runs))])
            if v is not None and math.isfinite(float(v))]
    if not kept:
        return None
    nums = [v for v, _ in kept]
    std = statistics.stdev(nums) if len(nums) > 1 else None
    return Cell(mean=statistics.fmean(nums), std=std, n=len(nums), runs=tuple(r for _, r in kept if r))


def metric_value(record: RunRecord, which: str | None, metrics: str | Sequence[str]) -> float | None:
    """The first of ``metrics`` that the run measured: ``<which>/<metric>`` (``which`` = "final" or
    "best", or any other prefix such as "fit"), else the bare ``<metric>`` (an ``eval`` run writes
    ``test/...`` with no prefix). Non-numbers are None."""
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    keys = [f"{which}/{m}" for m in names] if which else []
    for key in [*keys, *names]:
        value = record.metrics.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            return float(value)
    return None


def cell_of(records: Iterable[RunRecord], which: str | None, metrics: str | Sequence[str]) -> Cell | None:
    """The cell of the finished ``records``; None when none of them measured the metric (a method that has
    no such number, e.g. no pseudo-labels for the supervised baseline). When some did, a run of the same
    cell without a finite number is damaged: one DataError naming its metrics.json, never a cell made of
    the other runs alone."""
    values = [(metric_value(r, which, metrics), r) for r in records if r.finished]
    measured = [(v, r) for v, r in values if v is not None and math.isfinite(v)]
    if not measured:
        return None
    if len(measured) < len(values):
        value, record = next((v, r) for v, r in values if v is None or not math.isfinite(v))
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        wanted = " or ".join(f"{which}/{m}" if which else m for m in names)
        found = "no number" if value is None else "NaN"
        raise DataError(f"{record.run_dir / 'metrics.json'}: {found} for {wanted}, which the other runs of its "
                        "cell have; the run is damaged: re-run it (make sweep resumes it) or remove its folder")
    return summarise([v for v, _ in measured], [str(r.run_dir) for _, r in measured])


def format_number(value: float, scale: float = 100.0, digits: int = 1) -> str:
    return f"{value * scale:.{digits}f}"


def format_cell(cell: Cell | None, scale: float = 100.0, digits: int = 1) -> str:
    """"41.2 ± 0.8 (n=3)"; one run: "41.2 (n=1)"; no run: "–"."""
    if cell is None:
        return MISSING
    if cell.std is None:
        return f"{format_number(cell.mean, scale, digits)} (n=1)"
    return f"{format_number(cell.mean, scale, digits)} ± {format_number(cell.std, scale, digits)} (n={cell.n})"


def paired_test(differences: Sequence[float]) -> tuple[float, float] | None:
    """The paired t-test of per-seed differences against 0 (scipy's one-sample t-test of the differences,
    which is ``ttest_rel`` of the two paired samples): (t, two-sided p); None for fewer than two pairs or
    differences that are all equal (zero std: t undefined)."""
    from scipy import stats

    if len(differences) < 2 or statistics.stdev(differences) == 0:
        return None
    result = stats.ttest_1samp(list(differences), 0.0)
    return float(result.statistic), float(result.pvalue)


def format_difference(a: Cell | None, b: Cell | None, scale: float = 100.0, digits: int = 1,
                      pairs: Sequence[float] = ()) -> str:
    """Difference of the means ("+1.9"); with seed ``pairs`` (raw minuend − subtrahend per shared seed) also
    the pairs, their paired t and its two-sided p ("+1.9 (pairs +1.5, +2.1, +2.0; paired t 10.5, p 0.009)"); "–"
    where either cell is missing."""
    if a is None or b is None:
        return MISSING
    text = f"{(a.mean - b.mean) * scale:+.{digits}f}"
    if not pairs:
        return text
    test = paired_test(pairs)
    listed = ", ".join(f"{d * scale:+.{digits}f}" for d in pairs)
    return f"{text} (pairs {listed}" + (f"; paired t {test[0]:.1f}, p {test[1]:.2g})" if test else ")")
