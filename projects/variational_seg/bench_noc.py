"""The bench's NoC keys (issue 29): ``noc85_<m>``, ``noc90_<m>``, ``nof90_<m>``, ``s_per_click_<m>`` for the
methods of ``bench.noc_models`` under the field's click protocol (``noc.run_clicks``, 20 clicks).

* ``bench.noc: measure``: the protocol run here, on the GrabCut subset ``bench.noc_subset`` (all: the 50
  images; ``bench.limit``: the first n), per image the methods in turn so that machine noise hits all alike;
* ``bench.noc: runs``: the same keys read from the finished runs of ``make sweep PROJECT=variational_seg
  SWEEP=noc`` (their ``<subset>/...`` metrics; run folders or the committed archive), which measured
  exactly this protocol, so the 6 x 1000 method calls are not repeated;
* ``bench.noc: skip``: no NoC keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from projects.variational_seg.click_model import click_segmenter_for
from projects.variational_seg.methods import model_config
from projects.variational_seg.noc import ClickRun, run_clicks, summarise
from projects.variational_seg.protocol import ground_truth
from shared.config import plain_dict
from shared.datasets.registry import dataset_from_config
from shared.errors import ConfigError, DataError
from shared.report.archive import collect_archive, merge_records
from shared.report.runs import collect_runs
from shared.report.tables import in_repo

MODES = ("measure", "runs", "skip")
THRESHOLDS = (0.85, 0.90)


OPTIONAL = {"worse_share": "worse_pct", "iou_at_1": "iou1", "bf_at_5": "bf5", "bf_at_20": "bf20"}  # metric -> key


def keys_from(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The four NoC keys, and where the run has them ``worse_pct_<m>`` (share of clicks that lower the IoU,
    %), ``iou1_<m>`` (IoU after one click), ``bf5_<m>`` / ``bf20_<m>`` (boundary F after 5 / 20 clicks)."""
    out = {f"noc85_{name}": round(float(values["noc85"]), 3), f"noc90_{name}": round(float(values["noc90"]), 3),
           f"nof90_{name}": round(float(values["nof90"])),
           f"s_per_click_{name}": round(float(values["s_per_click"]), 4)}
    for metric, key in OPTIONAL.items():
        if values.get(metric) is not None:
            scale = 100.0 if metric == "worse_share" else 1.0
            out[f"{key}_{name}"] = round(float(values[metric]) * scale, 3)
    return out


def measured(cfg: DictConfig, models: list[str], subset: str, max_clicks: int) -> dict[str, Any]:
    """The protocol for every model on the subset's images, per image the models in turn."""
    data = plain_dict(cfg.data)
    segmenters = {m: click_segmenter_for(model_config(m), data, int(cfg.working.max_side), int(cfg.markers.radius),
                                         strict=False) for m in models}
    dataset = dataset_from_config(cfg.data, str(cfg.data.split), subset=subset)
    runs: dict[str, list[ClickRun]] = {m: [] for m in models}
    for i in range(min(len(dataset), int(cfg.bench.get("limit") or len(dataset)))):
        sample = dataset[i]
        gt, ignore = ground_truth(sample)
        if not gt.any():
            continue
        for name, segment in segmenters.items():
            runs[name].append(run_clicks(segment, sample["image"], gt, ignore, max_clicks))
        print(f"noc bench [{i + 1}/{len(dataset)}] {sample['id']}")
    out: dict[str, Any] = {}
    for name, per in runs.items():
        out.update(keys_from(name, summarise([r.ious for r in per], THRESHOLDS, max_clicks,
                                             [r.cpu_seconds for r in per], [r.worse for r in per],
                                             [r.boundary for r in per])))
    out["noc_n_images"] = len(next(iter(runs.values())))
    return out


def mean_of(values: list[Any]) -> float | None:
    """The runs' mean (a learned model's seeds; one run: its value; None when a run lacks the metric);
    ``keys_from`` rounds ``nof90`` to whole objects."""
    if any(v is None for v in values):
        return None
    return sum(float(v) for v in values) / len(values)


def from_runs(cfg: DictConfig, models: list[str], subset: str) -> dict[str, Any]:
    """The keys from the finished ``SWEEP=noc`` runs (a run's committed archive copy where it has one, else its run
    folder, as the report reads them: run `make report` after a re-run); a model with several runs (the extent
    net's seeds, ``SWEEP=noc_extent``) gets their mean."""
    runs, archive = Path(cfg.report.runs), Path(cfg.report.archive)
    live = collect_runs(runs) if runs.is_dir() else []
    records = [r for r in merge_records(live, collect_archive(archive) if archive.is_dir() else [])
               if r.setting == "noc" and r.finished]
    out: dict[str, Any] = {}
    sources = {}
    for name in models:
        found = [r for r in records if r.value("model.name") == name]
        if not found:
            raise DataError(f"bench.noc=runs: no finished NoC run of model {name} under {cfg.report.runs}/noc or "
                            f"{cfg.report.archive}/noc; run `make sweep PROJECT=variational_seg SWEEP=noc` first "
                            f"or set bench.noc=measure")
        wanted = ("noc85", "noc90", "nof90", "s_per_click", *OPTIONAL)
        out.update(keys_from(name, {k: mean_of([r.metrics.get(f"{subset}/{k}") for r in found]) for k in wanted}))
        where = sorted(in_repo(r.run_dir) for r in found)
        sources[name] = where[0] if len(where) == 1 else where
        out["noc_n_images"] = found[0].metrics[f"{subset}/n"]
    out["noc_runs"] = sources
    return out


def noc_keys(cfg: DictConfig, required: bool = True) -> dict[str, Any]:
    """The NoC keys as ``bench.noc`` says (module docstring); ``required`` False (the full bench): missing
    sweep runs give a ``noc_keys`` note instead of an error."""
    mode = str(cfg.bench.get("noc", "skip"))
    if mode not in MODES:
        raise ConfigError(f"bench.noc must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "skip":
        return {}
    models = [str(m) for m in cfg.bench.noc_models]
    subset, max_clicks = str(cfg.bench.noc_subset), 20
    try:
        out = measured(cfg, models, subset, max_clicks) if mode == "measure" else from_runs(cfg, models, subset)
    except DataError as exc:
        if required:
            raise
        return {"noc_keys": f"not measured: {exc}"}
    how = "measured in this bench" if mode == "measure" else "from the SWEEP=noc runs (noc_runs)"
    out["noc_setting"] = (f"the field's click protocol (RITM clicker, {max_clicks} clicks, IoU >= 0.85 / 0.90, "
                          f"the 128 band ignored) on GrabCut subset {subset}, {how}; s_per_click = CPU s of the "
                          f"method call")
    return out
