"""Label-ratio study infrastructure: sweep configs, the SLURM launcher config, skip/resume of sweep runs,
W&B grouping, and the report (its semiseg parts on the shared library; fake run folders, no study run is
trained; the cells themselves: tests/shared/test_report_library.py)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image
from pytorch_lightning.loggers import WandbLogger

from projects.semiseg import report
from shared.config import compose
from shared.loggers import build_loggers, run_tags
from shared.report import RunRecord
from shared.report.readme import markers
from shared.tasks import dispatch, finished_results, resume_checkpoint, train

from .tiny import TINY


def _jobs(cfg) -> list[list[str]]:
    """The multirun's jobs in launch order, as Hydra's BasicSweeper expands hydra.sweeper.params."""
    params = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()]
    overrides = OverridesParser.create().parse_overrides(params)
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


# -- sweep configs ----------------------------------------------------------------------------------
def test_label_ratio_sweep_composes_to_36_seed_major_runs_with_deterministic_folders(tmp_path):
    cfg = compose("semiseg", ["+sweep=label_ratios", f"paths.log_dir={tmp_path}"], return_hydra_config=True)
    jobs = _jobs(cfg)
    assert len(jobs) == 3 * 4 * 3
    assert jobs[0] == ["seed=0", "data.options.ratio='1_64'", "method=supervised"]
    assert all(job[0] == "seed=0" for job in jobs[:12])          # every cell once before the next seed
    assert cfg.hydra.runtime.choices.experiment == "ccp_small" and cfg.data.dataset == "ccp"
    assert cfg.hydra.sweep.dir == f"{tmp_path}/semiseg/sweeps/ccp_small"
    assert cfg.skip_finished and cfg.resume_from_last

    job = compose("semiseg", ["+sweep=label_ratios", *jobs[-1], f"paths.log_dir={tmp_path}"],
                  return_hydra_config=True)
    assert job.data.options.ratio == "1_2" and job.method.name == "mvpmatch" and job.seed == 2
    assert job.hydra.sweep.subdir == "mvpmatch-1_2-s2"
    assert job.trainer.max_epochs == 5 and job.data.crop_size == 96      # experiment=ccp_small underneath
    assert OmegaConf.to_container(job.run_tags, resolve=True) == {
        "method": "mvpmatch", "label_ratio": "1_2", "seed": 2, "dataset": "ccp"}


def test_ablation_sweep_shares_the_label_ratio_run_folders(tmp_path):
    cfg = compose("semiseg", ["+sweep=ablation", f"paths.log_dir={tmp_path}"], return_hydra_config=True)
    jobs = _jobs(cfg)
    assert len(jobs) == 3 * 3 * 4
    assert {j[2] for j in jobs} == {"method=unimatch_v2", "method=mvpmatch_ht_only", "method=mvpmatch_he_only",
                                    "method=mvpmatch"}
    assert {j[1] for j in jobs} == {"data.options.ratio='1_64'", "data.options.ratio='1_16'",
                                    "data.options.ratio='1_4'"}
    assert cfg.hydra.sweep.dir == f"{tmp_path}/semiseg/sweeps/ccp_small"   # same folders: done cells skip
    job = compose("semiseg", ["+sweep=ablation", "method=mvpmatch_he_only", "data.options.ratio='1_16'", "seed=1"],
                  return_hydra_config=True)
    assert job.hydra.sweep.subdir == "mvpmatch_he_only-1_16-s1"
    assert job.callbacks.historical_queue is not None and job.method.thresholds == [0.95]


def test_smoke_sweep_composes(tmp_path):
    cfg = compose("semiseg", ["+sweep=smoke", f"paths.log_dir={tmp_path}"], return_hydra_config=True)
    assert len(_jobs(cfg)) == 4 and cfg.data.name == "synthetic"
    assert cfg.trainer.limit_train_batches == 2 and "wandb" not in cfg.logger
    assert cfg.hydra.sweep.dir == f"{tmp_path}/semiseg/sweeps/smoke"


def test_sweep_runs_get_their_wandb_name_group_and_tags(tmp_path):
    cfg = compose("semiseg", ["+sweep=label_ratios", "method=unimatch_v2", "data.options.ratio='1_64'", "seed=1",
                              f"paths.output_dir={tmp_path}"])
    assert run_tags(cfg) == ["method:unimatch_v2", "label_ratio:1_64", "seed:1", "dataset:ccp"]
    wandb = next(lg for lg in build_loggers(cfg, tmp_path) if isinstance(lg, WandbLogger))
    init = wandb._wandb_init
    assert init["name"] == "unimatch_v2-1_64-s1" and init["group"] == "unimatch_v2-1_64"
    assert {"semiseg", "ccp-1_64", "resnet18", "method:unimatch_v2", "label_ratio:1_64", "seed:1",
            "dataset:ccp"} <= set(init["tags"])
    plain = compose("semiseg", [f"paths.output_dir={tmp_path}"])       # a plain run: name = group + seed
    init = next(lg for lg in build_loggers(plain, tmp_path) if isinstance(lg, WandbLogger))._wandb_init
    assert init["group"] == "synthetic-efficientnet_lite0-mvpmatch"
    assert init["name"] == "synthetic-efficientnet_lite0-mvpmatch-s0"
    assert run_tags(plain) == []


# -- SLURM (hydra-submitit-launcher), no cluster needed ---------------------------------------------
def test_slurm_launcher_config_composes_and_renders_an_sbatch_script(tmp_path, monkeypatch):
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from submitit.slurm.slurm import SlurmExecutor

    cfg = compose("semiseg", ["+sweep=label_ratios", "hydra/launcher=slurm", f"paths.log_dir={tmp_path}",
                              "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4",
                              "hydra.launcher.tasks_per_node=4", "trainer=ddp", "trainer.devices=4"],
                  return_hydra_config=True)
    launcher_cfg = cfg.hydra.launcher
    assert launcher_cfg._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher_cfg.submitit_folder == f"{tmp_path}/semiseg/sweeps/ccp_small/.submitit/%j"
    assert launcher_cfg.max_num_timeout >= 1 and cfg.resume_from_last      # requeued jobs resume
    assert launcher_cfg.tasks_per_node == cfg.trainer.devices == 4 and cfg.trainer.strategy == "ddp"
    launcher = instantiate(launcher_cfg)
    assert type(launcher).__name__ == "SlurmLauncher"

    # What SlurmLauncher.launch hands to submitit, rendered without sbatch/srun on this machine.
    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 1))
    params = dict(launcher.params)
    executor = submitit.AutoExecutor(folder=params.pop("submitit_folder"), cluster="slurm",
                                     slurm_max_num_timeout=params.pop("max_num_timeout"))
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = executor._executor._make_submission_file_text("python -m shared", "uid")
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=4", "#SBATCH --ntasks-per-node=4",
                 "#SBATCH --time=720", "#SBATCH --job-name=semiseg", "export HF_HUB_OFFLINE=1"):
        assert line in script


# -- DDP: Lightning's launcher re-runs `python -m shared` with Hydra arguments only -----------------
def test_cli_recognises_lightnings_ddp_children_and_refuses_them_inside_a_sweep(monkeypatch, capsys):
    from shared.__main__ import CLI_ENV, _is_ddp_child, main

    monkeypatch.delenv(CLI_ENV, raising=False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert not _is_ddp_child(["task=train", "hydra.run.dir=x"])            # no parent CLI in this process tree
    monkeypatch.setenv(CLI_ENV, "sweep semiseg")
    assert _is_ddp_child(["task=train", "hydra.run.dir=x"]) and _is_ddp_child(["--multirun", "task=train"])
    assert not _is_ddp_child(["train", "semiseg"]) and not _is_ddp_child([])
    assert main(["--multirun", "task=train", "+sweep=smoke", "hydra.run.dir=x"]) == 2
    assert "torchrun --nproc_per_node=N" in capsys.readouterr().err


# -- skip finished runs / resume unfinished ones ----------------------------------------------------
def _resumable() -> dict:
    """The smallest checkpoint resume accepts: Lightning's version field, the semiseg stamp, optimizer state."""
    import pytorch_lightning

    from shared.checkpoints import STAMP_KEY, VERSION_KEY

    return {"state_dict": {}, VERSION_KEY: pytorch_lightning.__version__, "optimizer_states": [], "lr_schedulers": [],
            STAMP_KEY: {"project": "semiseg", "module": "projects.semiseg.module.SemiSegModule"}}


def test_finished_run_is_skipped_and_unfinished_run_resumes_from_last(tmp_path, capsys):
    run_dir = tmp_path / "mvpmatch-s0"
    cfg = compose("semiseg", ["+sweep=smoke", *TINY, f"paths.output_dir={run_dir}"])
    assert finished_results(cfg, run_dir) is None and resume_checkpoint(cfg, run_dir) is None

    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save(_resumable(), run_dir / "checkpoints" / "last.ckpt")   # tensors-only, as Lightning writes
    assert resume_checkpoint(cfg, run_dir) == str(run_dir / "checkpoints" / "last.ckpt")
    assert "resume" in capsys.readouterr().out
    other = tmp_path / "other.ckpt"
    torch.save(_resumable(), other)
    explicit = compose("semiseg", ["+sweep=smoke", f"paths.output_dir={run_dir}", f"ckpt_path={other}"])
    assert resume_checkpoint(explicit, run_dir) == str(other)
    off = compose("semiseg", ["+sweep=smoke", f"paths.output_dir={run_dir}", "resume_from_last=false"])
    assert resume_checkpoint(off, run_dir) is None

    (run_dir / "metrics.json").write_text("{\"final/test/miou\": 0.5")       # half-written: not done
    assert finished_results(cfg, run_dir) is None
    (run_dir / "metrics.json").write_text(json.dumps({"final/test/miou": 0.5}))
    assert train(cfg) == {"final/test/miou": 0.5}                              # returns before any training
    assert capsys.readouterr().out.strip() == f"skip {run_dir} (done)"
    plain = compose("semiseg", [*TINY, f"paths.output_dir={run_dir}"])        # plain runs never skip
    assert finished_results(plain, run_dir) is None and resume_checkpoint(plain, run_dir) is None


# -- report: semiseg's pieces on fake records -------------------------------------------------------
def _record(method: str, seed: int, metrics: dict, ratio: str = "1_64") -> RunRecord:
    return RunRecord(setting="s", run_dir=Path(f"/runs/s/{method}-{ratio}-s{seed}"), metrics=metrics,
                     fields={"method": method, "ratio": ratio})


def test_first_run_sweep_is_three_label_ratio_runs(tmp_path):
    cfg = compose("semiseg", ["+sweep=first_run", f"paths.log_dir={tmp_path}"], return_hydra_config=True)
    assert _jobs(cfg) == [["seed=0", "data.options.ratio='1_4'", f"method={m}"]
                          for m in ("supervised", "unimatch_v2", "mvpmatch")]
    assert cfg.hydra.sweep.dir == f"{tmp_path}/semiseg/sweeps/ccp_small"         # label_ratios' folders


def test_run_fields_normalise_the_label_ratio_of_ccp_and_synthetic_runs():
    ccp = OmegaConf.create({"method": {"name": "mvpmatch"}, "data": {"options": {"ratio": 116}}})
    synthetic = OmegaConf.create({"method": {"name": "supervised"}, "data": {"labeled_ratio": "1/4"}})
    assert report.run_fields(ccp) == {"method": "mvpmatch", "ratio": "1_16"}     # Hydra's integer 116
    assert report.run_fields(synthetic) == {"method": "supervised", "ratio": "1_4"}


def test_selection_and_lead_table_counts_last_epoch_picks_and_the_teacher_lead_per_run():
    def run(seed: int, final: float, best: float, student: float | None, val_lead: float | None) -> RunRecord:
        metrics = {"final/test/miou": final, "best/test/miou": best, "final/test/teacher/miou": final}
        if student is not None:
            metrics["final/test/student/miou"] = student
        if val_lead is not None:
            metrics["last/val/teacher_minus_student"] = val_lead
        return _record("mvpmatch", seed, metrics)
    supervised = _record("supervised", 0, {"final/test/miou": 0.25, "best/test/miou": 0.26,
                                           "final/test/teacher/miou": 0.25, "final/test/student/miou": 0.24})
    records = report.with_summaries([run(0, 0.30, 0.30, 0.32, 0.010), run(1, 0.30, 0.31, 0.35, -0.004),
                                     run(2, 0.29, 0.29, None, None), supervised,
                                     _record("unimatch_v2", 0, {})])                      # unfinished: left out
    methods = [("supervised", "Supervised"), ("mvpmatch", "MvpMatch"), ("unimatch_v2", "UniMatch V2")]
    lines = report.selection_and_lead_table(records, methods, "test/miou").splitlines()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert len(rows) == 5                                    # header, rule, Supervised, MvpMatch, all methods
    assert rows[2] == ["Supervised", "1", "0 of 1", "–", "+1.0 [+1.0, +1.0], 1 of 1"]
    # teacher − student on test: 0.30 − 0.32 = −2.0 and 0.30 − 0.35 = −5.0 points; on val +1.0 and −0.4
    assert rows[3] == ["MvpMatch", "3", "2 of 3", "+0.3 [-0.4, +1.0], 1 of 2", "-3.5 [-5.0, -2.0], 0 of 2"]
    assert rows[4] == ["all methods", "4", "2 of 4", "+0.3 [-0.4, +1.0], 1 of 2", "-2.0 [-5.0, +1.0], 1 of 3"]


def test_ratio_helpers():
    assert report.ratio_key("1/16") == report.ratio_key("1_16") == report.ratio_key(116) == "1_16"
    assert report.ratio_key("?") == "?" and math.isnan(report.ratio_fraction("?"))
    assert report.ratio_fraction("1_64") == pytest.approx(1 / 64) and report.ratio_label("1_4") == "1/4"
    assert report.sort_ratios(["1_2", "1_64", "1_4", "1_16"]) == ["1_64", "1_16", "1_4", "1_2"]


# -- report: files from fake run folders -------------------------------------------------------------
METHODS = {"supervised": 0.20, "unimatch_v2": 0.28, "mvpmatch": 0.30, "mvpmatch_ht_only": 0.29,
           "mvpmatch_he_only": 0.29}
CLASSES = ("background", "skin", "hair", "upper", "lower", "full-body", "footwear", "bag", "accessory")


def _fake_run(root: Path, method: str, ratio: str, seed: int, finished: bool = True, steps: int = 40,
              setting: str = "ccp_lite0") -> Path:
    """A run folder as a sweep writes it: .hydra/config.yaml, csv/metrics.csv, metrics.json."""
    run_dir = root / setting / f"{method}-{ratio}-s{seed}"
    (run_dir / ".hydra").mkdir(parents=True)
    cfg = {"seed": seed, "method": {"name": method}, "model": {"name": "resnet18"},
           "data": {"dataset": "ccp", "labeled_ratio": ratio, "options": {"ratio": ratio}, "crop_size": 96,
                    "eval_size": 128, "batch_size": 4, "epoch_samples": 160},
           "trainer": {"max_epochs": 5, "precision": 32}}
    OmegaConf.save(OmegaConf.create(cfg), run_dir / ".hydra" / "config.yaml")
    frac = report.ratio_fraction(ratio)
    rows = []
    for step in range(0, steps, 5):
        row = {"epoch": step // 10, "step": step, "train/loss": 1.0 / (1 + step)}
        if method != "supervised":
            row["train/mask_ratio@0.95"] = min(1.0, 0.1 * list(METHODS).index(method) + 0.4 * (1 - math.exp(
                -step / 15)) + 0.02 * seed + 0.2 * frac)
        rows += [row, {"epoch": step // 10, "step": step, "val/miou": 0.1}]     # CSVLogger's sparse rows
    (run_dir / "csv").mkdir()
    pd.DataFrame(rows).to_csv(run_dir / "csv" / "metrics.csv", index=False)
    if finished:
        base = METHODS[method] + 0.1 * math.log2(frac * 64) / 6 + 0.01 * seed
        model = "student" if method == "supervised" else "teacher"
        metrics = {"final/test/miou": base, "best/test/miou": base + 0.01, f"final/test/{model}/miou": base,
                   f"best/test/{model}/miou": base + 0.01, "final/test/student/miou": base + 0.02,
                   "fit/val/miou": base - 0.01, "best_checkpoint": "x.ckpt"}
        metrics.update({f"final/test/{model}/iou/{c}": base + 0.01 * i for i, c in enumerate(CLASSES)})
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def _fake_study(root: Path) -> None:
    for seed in range(3):
        for ratio in ("1_64", "1_16", "1_4", "1_2"):
            for method in METHODS:
                if ratio == "1_2" and method.startswith("mvpmatch_h"):
                    continue                                       # not in the ablation grid
                if ratio == "1_2" and seed == 2 and method == "mvpmatch":
                    _fake_run(root, method, ratio, seed, finished=False)
                    continue
                _fake_run(root, method, ratio, seed)


def _study_specs() -> tuple[list, dict]:
    cfg = compose("semiseg", [])
    return report.load_specs(report.report_paths(cfg).tables), OmegaConf.to_container(cfg.report)


def _cells(text: str, label: str) -> list[str]:
    """The cells of the markdown row whose first cell is ``label``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == label:
            return cells
    raise AssertionError(f"no row {label!r}")


def test_study_page_links_its_tables_and_writes_what_only_it_has(tmp_path):
    _fake_study(tmp_path / "runs")
    records = report.collect_runs(tmp_path / "runs")
    assert len(records) == 3 * (3 * 5 + 3) and sum(not r.finished for r in records) == 1
    specs, options = _study_specs()
    out, readme = tmp_path / "out", tmp_path / "README.md"
    md = report.write_study(records, specs, options, out, "label_ratios", readme, source="runs/semiseg/sweeps")
    assert "* [ccp_lite0](label_ratios_ccp_lite0.md)" in md.read_text()
    text = (out / "label_ratios_ccp_lite0.md").read_text()
    assert "## Setting `ccp_lite0`" in text and "encoder `resnet18`" in text
    assert "(`table1_lite0_best`): [README](../README.md), [table1_lite0_best.json](table1_lite0_best.json)" in text
    assert "`table1` " not in text                                        # the other setting's tables
    assert "(n=" not in text and not list(out.glob("*.json"))             # tables are written once, elsewhere
    assert _cells(text, "UniMatch V2")[1:3] == ["12", "0 of 12"]         # val-selected never equals final here
    assert "mvpmatch-1_2-s2" in text                                      # the unfinished run is listed
    png = "label_ratios_ccp_lite0_mask_ratio.png"
    assert f"]({png})" in text
    with Image.open(out / png) as image:
        assert image.width > 400 and image.height > 200


def test_mask_ratio_curve_keeps_the_last_value_per_step_of_a_resumed_run(tmp_path):
    run_dir = _fake_run(tmp_path, "mvpmatch", "1_16", 0)
    csv = run_dir / "csv" / "metrics.csv"
    frame = pd.read_csv(csv)
    resumed = frame[frame["step"] >= 20].assign(**{"train/mask_ratio@0.95": 0.99})   # appended after resume
    pd.concat([frame, resumed]).to_csv(csv, index=False)
    curve = report.read_curve(report.collect_runs(tmp_path)[0], "train/mask_ratio@0.95")
    assert list(curve.index) == list(range(0, 40, 5)) and curve.loc[20] == 0.99 and curve.loc[15] < 0.99
    curves = report.mean_curves({("mvpmatch", "1_16"): [curve, curve + 0.1]})
    assert curves[("mvpmatch", "1_16")]["mean"].loc[20] == pytest.approx(1.04)


def test_report_task_writes_the_readme_tables_their_json_and_plot_and_the_study(tmp_path):
    for method in ("supervised", "unimatch_v2", "mvpmatch"):
        for ratio in ("1_64", "1_4"):
            _fake_run(tmp_path / "sweeps", method, ratio, 0)
    readme = tmp_path / "README.md"
    names = ("table1_lite0", "table2_lite0")          # no block for the frozen tables: they are skipped
    readme.write_text("".join(f"{markers(n)[0]}\nold {n}\n{markers(n)[1]}\n" for n in names))
    cfg = compose("semiseg", [f"paths.output_dir={tmp_path / 'task'}", f"report.runs={tmp_path / 'sweeps'}",
                              f"report.readme={readme}", f"report.output_dir={tmp_path / 'reports'}"], task="report")
    out = dispatch(cfg)
    assert out["finished"] == 6 and Path(out["report"]) == tmp_path / "reports" / "label_ratios.md"
    assert "`table1_lite0`" in (tmp_path / "reports" / "label_ratios_ccp_lite0.md").read_text()
    text = readme.read_text()
    assert "old table1_lite0" not in text and "old table2_lite0" not in text
    assert _cells(text, "MvpMatch") == ["MvpMatch", "30.0 (n=1)", "–", "36.7 (n=1)", "–"]
    assert _cells(text, "MvpMatch (both)")[1:4] == ["30.0 (n=1)", "–", "36.7 (n=1)"]
    assert "![" in text and (tmp_path / "reports" / "table1_lite0.png").is_file()    # the spec's plot
    table1 = json.loads((tmp_path / "reports" / "table1_lite0.json").read_text())
    cell = next(c for c in table1["cells"] if c["row_id"] == "mvpmatch" and c["column"] == "1/4")
    assert cell["n"] == 1 and cell["runs"][0].endswith("mvpmatch-1_4-s0")
    assert not (tmp_path / "reports" / "table1.json").exists()                        # frozen: never written


# -- end to end: one job of the smoke sweep, twice (the second time it is skipped), then the report ----
@pytest.mark.slow
def test_smoke_sweep_runs_resumes_and_reports(tmp_path, monkeypatch, capsys):
    from shared.__main__ import CLI_ENV, main

    monkeypatch.setattr(sys, "argv", ["shared"])
    monkeypatch.setenv(CLI_ENV, "")          # main() sets it; restored (unset) after the test
    args = ["sweep", "semiseg", "sweep=smoke", "seed=0", "method=unimatch_v2", *TINY, f"paths.log_dir={tmp_path}"]
    assert main(args) == 0
    root = tmp_path / "semiseg" / "sweeps" / "smoke"
    assert sorted(p.name for p in root.iterdir() if (p / "metrics.json").is_file()) == ["unimatch_v2-s0"]
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out.count(f"skip {root / 'unimatch_v2-s0'} (done)") == 1
    records = report.collect_runs(tmp_path / "semiseg" / "sweeps")
    assert [(r.setting, r.fields["method"], r.fields["ratio"], r.value("seed"), r.finished) for r in records] == [
        ("smoke", "unimatch_v2", "1_4", 0, True)]
    specs, options = _study_specs()
    report.write_study(records, specs, options, tmp_path / "out", "smoke", tmp_path / "README.md")
    text = (tmp_path / "out" / "smoke_smoke.md").read_text()
    assert _cells(text, "unimatch_v2")[1] == "1"                              # one run in the teacher-lead table
    assert (tmp_path / "out" / "smoke_smoke_mask_ratio.png").is_file()      # from the real CSV log


def test_report_without_runs_is_a_clear_error_and_writes_nothing(tmp_path):
    from shared.errors import DataError

    out, readme = tmp_path / "reports", tmp_path / "README.md"
    readme.write_text(f"{markers('table1')[0]}\ncommitted\n{markers('table1')[1]}\n")
    cfg = compose("semiseg", [f"report.runs={tmp_path / 'absent'}", f"report.output_dir={out}",
                              f"report.readme={readme}"], task="report")
    with pytest.raises(DataError, match="no run folders under .*absent"):
        report.run(cfg)
    assert not out.exists() and "committed" in readme.read_text()


def test_last_epoch_summary_averages_the_last_epoch_and_takes_the_teachers_lead(tmp_path):
    run_dir = _fake_run(tmp_path, "unimatch_v2", "1_64", 0)
    rows = [{"epoch": 0, "step": 9, "train/pl_fg@0.95": 0.9},                       # an earlier epoch: left out
            {"epoch": 1, "step": 19, "train/pl_fg@0.95": 0.2},
            {"epoch": 1, "step": 29, "train/pl_fg@0.95": 0.4},
            {"epoch": 0, "step": 9, "val/teacher/miou": 0.10, "val/student/miou": 0.30},
            {"epoch": 1, "step": 29, "val/teacher/miou": 0.35, "val/student/miou": 0.31},
            {"epoch": 2, "step": 30, "test/teacher/miou": 0.4}]                          # the test after fit
    pd.DataFrame(rows).to_csv(run_dir / "csv" / "metrics.csv", index=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics.update({"final/test/teacher/miou": 0.40, "final/test/student/miou": 0.42})
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    record = report.with_summaries(report.collect_runs(tmp_path))[0]
    assert record.metrics["last/train/pl_fg@0.95"] == pytest.approx(0.3)
    assert record.metrics["last/val/teacher/miou"] == pytest.approx(0.35)
    assert record.metrics["last/val/teacher_minus_student"] == pytest.approx(0.04)
    assert record.metrics["last/test/teacher_minus_student"] == pytest.approx(-0.02)
    assert record.metrics["final/test/teacher/miou"] == 0.40                           # the rest kept
