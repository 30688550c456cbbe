"""Per project: every sweep config composes to the runs the old run_tables.sh / run_ccp_small.sh made
(same config as the old command, bookkeeping keys aside), every report table is defined and has its
README markers, and every table fills from fake run folders made from the sweeps' own job configs."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from shared.config import compose
from shared.paths import CONFIG_ROOT, REPO_ROOT
from shared.report import build_table, collect_runs, load_specs
from shared.report.readme import markers
from tests.config_groups import composed_with

# Keys that only name, tag or resume a sweep run (or log it), not what it trains.
BOOKKEEPING = ("run_name", "run_group", "run_tags", "skip_finished", "resume_from_last", "table_row", "logger")
MMT_ROWS = {"full": "model=dual_attention", "no_industry": "model=no_industry", "concat": "model=concat",
            "no_knn": "model=dual_attention weak.use_knn=false", "image_only": "model=image_only",
            "text_only": "model=text_only", "precise_5": "weak.precise_fraction=0.05",
            "precise_25": "weak.precise_fraction=0.25", "precise_100": "weak.precise_fraction=1.0"}
MMT_SWEEPS = {"ablations": "fashion_tags", "precise_fraction": "fashion_tags",          # sweep -> its experiment
              "ablations_lite0": "fashion_tags_lite0", "precise_fraction_lite0": "fashion_tags_lite0"}


CLASSIFICATION_SWEEPS = {"table3": [], "table2": [], "lr": ["seed=1"], "lr_probe": ["seed=1"],
                         "clothing_small": ["experiment=clothing_small"],
                         "scratch64": ["experiment=fashion_top15_64"]}


def old_command(project: str, job: dict[str, str], sweep: str = "") -> list[str]:
    """The overrides the deleted scripts passed for this job (their `logger=csv callbacks.progress_bar=null` aside);
    for classification's sweeps, the plain `train` command each job stands for."""
    seed = [f"seed={job['seed']}"] if "seed" in job else []
    if project == "classification":
        return ["experiment=fashion_top15", *CLASSIFICATION_SWEEPS[sweep], *(f"{k}={v}" for k, v in job.items())]
    if project == "quality":
        return [f"experiment={job.get('experiment', 'bench_classical')}", *seed]
    if project == "multimodal_tagging":
        if MMT_SWEEPS[sweep] == "fashion_tags" and job["sweep/row"] == "no_knn":
            return ["experiment=fashion_tags_no_knn", *seed]    # the deleted script's command for this row
        return [f"experiment={MMT_SWEEPS[sweep]}", *MMT_ROWS[job["sweep/row"]].split(), *seed]
    experiment = "ccp_lite0" if sweep.endswith("_lite0") else "ccp_small"
    return [f"experiment={experiment}", f"method={job['method']}", f"data.options.ratio={job['data.options.ratio']}",
            *seed]


PROJECTS = {   # sweep -> jobs; the run folders all sweeps together make; cells' n per (table, row) (default)
    "classification": ({"table3": 21, "table2": 12, "lr": 4, "lr_probe": 4, "scratch64": 14, "clothing_small": 9}, 64,
                       {None: 3, "lr": 1, "table3_scratch64": 2, "table2_scratch64": 2, "final_scratch64": 2}),
    "quality": ({"models": 6, "classical": 1, "pretrained": 3}, 10, {None: 3, "classical": 1}),
    "multimodal_tagging": ({"ablations": 12, "precise_fraction": 8, "ablations_lite0": 18,
                            "precise_fraction_lite0": 12}, 45,
                           {None: 2, "ablations_lite0": 3, "per_tag_lite0": 3, "precise_fraction_lite0": 3}),
    "semiseg": ({"label_ratios": 36, "ablation": 36, "first_run": 3, "label_ratios_lite0": 36, "ablation_lite0": 36},
                108, {None: 3, "first_run": 1, "per_class": 1}),
}


def sweep_jobs(project: str, sweep: str, log_dir: Path) -> list[list[str]]:
    cfg = compose(project, [f"+sweep={sweep}", f"paths.log_dir={log_dir}"], return_hydra_config=True)
    params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.params or {}).items()]
    overrides = OverridesParser.create().parse_overrides(params)
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch] or [[]]


def comparable(cfg: DictConfig) -> dict:
    data = OmegaConf.to_container(cfg, resolve=False)
    for key in (*BOOKKEEPING, "hydra"):
        data.pop(key, None)
    data.get("callbacks", {}).pop("progress_bar", None)
    return data


def old_config(project: str, overrides: list[str], cache: dict[tuple[str, ...], DictConfig]) -> dict:
    """``comparable`` of the old command's config."""
    return comparable(composed_with(project, overrides, cache))


@functools.cache   # the specs are read once per project, not once per fake run folder
def spec_metrics(project: str) -> frozenset[str]:
    names: set[str] = set()
    for spec in load_specs(CONFIG_ROOT / project / "report"):
        for item in (spec, *spec.rows, *spec.columns):
            metric = item.metric
            names.update([metric] if isinstance(metric, str) else metric or [])
    return frozenset(names)


def fake_metrics(project: str, seed: int) -> dict[str, float]:
    value = 0.5 + 0.01 * seed
    prefixed = {f"{which}/{m}": value for m in spec_metrics(project) for which in ("final", "best", "fit")}
    return {**prefixed, **{m: value for m in spec_metrics(project)}}   # bare: tables with `which: null`


@pytest.mark.slow   # one Hydra composition per sweep and group choice
@pytest.mark.parametrize("project", list(PROJECTS))
def test_sweeps_make_the_old_runs_and_every_report_table_fills_from_them(project, tmp_path):
    sweeps, folders, n_cells = PROJECTS[project]
    made: set[Path] = set()
    composed: dict[tuple[str, ...], DictConfig] = {}
    for sweep, count in sweeps.items():
        jobs = sweep_jobs(project, sweep, tmp_path)
        assert len(jobs) == count, sweep
        for job in jobs:
            cfg = composed_with(project, [f"+sweep={sweep}", *job, f"paths.log_dir={tmp_path}"], composed,
                                return_hydra_config=True)
            assert cfg.skip_finished is True and cfg.task == "train"
            run_dir = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
            assert run_dir.parent.parent == tmp_path / project / "sweeps"
            assert cfg.run_group and cfg.run_tags, "W&B group and tags"
            old = old_config(project, [*old_command(project, dict(o.split("=", 1) for o in job), sweep),
                                       f"paths.log_dir={tmp_path}", "logger=csv", "callbacks.progress_bar=null"],
                             composed)
            assert comparable(cfg) == old, (sweep, job)
            if run_dir in made:
                continue          # another sweep's run (skipped there once finished)
            made.add(run_dir)
            (run_dir / ".hydra").mkdir(parents=True)
            plain = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
            OmegaConf.save(plain, run_dir / ".hydra" / "config.yaml")
            (run_dir / "metrics.json").write_text(json.dumps(fake_metrics(project, int(cfg.seed))))
    assert len(made) == folders

    if project == "semiseg":
        from projects.semiseg.report import collect_runs as semiseg_runs
        records = semiseg_runs(tmp_path / project / "sweeps")
    else:
        records = collect_runs(tmp_path / project / "sweeps")
    specs = load_specs(CONFIG_ROOT / project / "report")
    readme = (REPO_ROOT / "projects" / project / "README.md").read_text()
    assert specs
    for spec in specs:
        start, end = markers(spec.name)
        assert readme.count(start) == 1 and readme.count(end) == 1, f"{project} README: {spec.name} markers"
        table = build_table(spec, records)
        for row in spec.rows:
            want = n_cells.get(spec.name, n_cells.get(row.id, n_cells[None]))
            for column in (c for c in spec.columns if c.show == "cell"):
                cell = table.cells[(row.id, column.label)]
                assert cell is not None and cell.n == want, (spec.name, row.id, column.label)
