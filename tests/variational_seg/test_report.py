"""The sweeps make the runs scripts/run_tables.sh and run_anchor_tables.sh made (same config as the old
``eval`` command, bookkeeping keys aside), every README table has its markers, and ``make report``
fills every table, the per-image ones included, from fake run folders made from the sweeps' own jobs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from projects.variational_seg.report import PER_IMAGE
from projects.variational_seg.report import run as report_run
from shared.config import compose
from shared.paths import CONFIG_ROOT, REPO_ROOT
from shared.report import load_specs
from shared.report.readme import markers
from tests.config_groups import composed_with

BOOKKEEPING = ("run_name", "run_group", "run_tags", "skip_finished", "resume_from_last", "unet_training_root",
               "table_row", "logger", "task", "hydra")
# The deleted scripts' marker arguments per row.
MARKER_ARGS = {"k1": ["markers.k=1"], "k3": ["markers.k=3"], "k5": ["markers.k=5"], "k10": ["markers.k=10"],
               "scribbles_set1": ["markers.source=scribbles_set1"], "scribbles_set2": ["markers.source=scribbles_set2"],
               "scribbles_set2_bg": ["markers.source=scribbles_set2", "markers.background=true"]}
SWEEPS = {"tables": 24, "ablations": 12, "anchors": 30, "unet_seeds": 12, "tables_unet_seeds": 12}


def sweep_jobs(sweep: str, log_dir: Path) -> list[list[str]]:
    cfg = compose("variational_seg", [f"+sweep={sweep}", f"paths.log_dir={log_dir}"], return_hydra_config=True)
    params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.params or {}).items()]
    overrides = OverridesParser.create().parse_overrides(params)
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def comparable(cfg: DictConfig) -> dict:
    data = OmegaConf.to_container(cfg, resolve=False)
    for key in BOOKKEEPING:
        data.pop(key, None)
    return data


def fake_run(cfg: DictConfig, run_dir: Path, value: float) -> None:
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), run_dir / ".hydra" / "config.yaml")
    metrics = {f"test/{k}": value for k in ("n", "dice", "dice_std", "hd", "hd95", "hd_pct", "iterations",
                                            "iterations_std", "seconds")}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    with (run_dir / "per_image.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "dice", "hd", "hd95", "iterations"])
        writer.writeheader()
        writer.writerows([{"id": f"img{i}", "dice": value + i / 100, "hd": 10, "hd95": 9, "iterations": 30}
                          for i in range(3)])


@pytest.mark.slow   # one Hydra composition per sweep and group choice
def test_sweeps_make_the_old_runs_and_the_report_fills_every_table(tmp_path):
    made: dict[Path, DictConfig] = {}
    composed: dict[tuple[str, ...], DictConfig] = {}
    for sweep, count in SWEEPS.items():
        jobs = sweep_jobs(sweep, tmp_path)
        assert len(jobs) == count, sweep
        for job in jobs:
            cfg = composed_with("variational_seg", [f"+sweep={sweep}", *job, f"paths.log_dir={tmp_path}"], composed,
                                return_hydra_config=True)
            assert cfg.skip_finished is True and cfg.run_group and cfg.run_tags
            choice = dict(o.split("=", 1) for o in job)
            seed = [f"seed={choice['seed']}"] if "seed" in choice else []
            old = composed_with("variational_seg", ["data=grabcut", f"model={choice['model']}", *seed,
                                                    *MARKER_ARGS[choice["sweep/markers"]], f"paths.log_dir={tmp_path}"],
                                composed, task="eval")
            assert comparable(cfg) == comparable(old), (sweep, job)
            run_dir = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
            names = {"anchors": f"{choice['sweep/markers']}-{choice['model']}",
                     "unet_seeds": f"{choice['sweep/markers']}-{choice['model']}-s{choice.get('seed')}",
                     "tables_unet_seeds": f"{choice['model']}-{choice['sweep/markers']}-s{choice.get('seed')}"}
            assert run_dir.name == names.get(sweep, f"{choice['model']}-{choice['sweep/markers']}")
            made[run_dir] = cfg
    assert len(made) == 90 and {p.parent.name for p in made} == {"tables", "anchors"}
    for i, (run_dir, cfg) in enumerate(sorted(made.items())):
        fake_run(cfg, run_dir, 0.5 + i / 1000)

    readme = tmp_path / "README.md"
    readme.write_text((REPO_ROOT / "projects" / "variational_seg" / "README.md").read_text())
    specs = load_specs(CONFIG_ROOT / "variational_seg" / "report")
    names = [s.name for s in specs] + [t.name for t in PER_IMAGE]
    assert sorted(names) == ["ablations", "anchors", "anchors_per_image", "clicks", "cutout_time", "noc", "noc_curve",
                             "noc_val", "noc_val_spread", "table1", "table1_per_image"]
    for name in names:
        start, end = markers(name)
        assert readme.read_text().count(start) == 1 and readme.read_text().count(end) == 1, name

    cfg = compose("variational_seg", [f"paths.log_dir={tmp_path}", f"report.readme={readme}",
                                      f"report.output_dir={tmp_path / 'reports'}"], task="report")
    result = report_run(cfg)
    assert len([t for t in result["tables"] if t["runs"]]) == 4       # the others: written missing
    assert result["per_image"] == ["anchors_per_image", "table1_per_image"]
    text = readme.read_text()
    cutout = next(s for s in specs if s.name == "cutout_time")       # from the committed bench results
    block = text.split(markers("cutout_time")[0])[1].split(markers("cutout_time")[1])[0]
    assert cutout.bench and "from `" in block and "benchmarks/results/variational_seg.json" in block
    assert sum(line.startswith("| ") and "0." in line for line in block.splitlines()) == len(cutout.rows)
    for spec in (s for s in specs if not s.name.startswith("noc") and not s.bench):   # NoC: test_noc_report.py
        block = text.split(markers(spec.name)[0])[1].split(markers(spec.name)[1])[0]
        rows = [line for line in block.splitlines() if line.startswith("| ") and ("(n=1)" in line or "(n=3)" in line)]
        assert len(rows) == len(spec.rows), spec.name            # every row filled from its run(s)
        data = json.loads((tmp_path / "reports" / f"{spec.name}.json").read_text())
        for cell in (c for c in data["cells"] if c["column"] == "DSC"):   # the U-Net rows: 3 training seeds
            assert cell["n"] == (3 if cell["row"].startswith("U-Net") else 1), cell
    per_image = text.split(markers("table1_per_image")[0])[1].split(markers("table1_per_image")[1])[0]
    assert per_image.count("| img") == 3 and "–" not in per_image
    per_image_data = json.loads((tmp_path / "reports" / "table1_per_image.json").read_text())
    wins = per_image_data["wins"]
    assert wins["model"] == "wbh" and set(wins["images_with_higher_dice_than"]) == {"rci", "tv", "unet"}
    assert Path(per_image_data["runs"]["unet"]).name == "unet-k3"   # seed 0 of the U-Net's three, by name
