"""Label-ratio study infrastructure: sweep configs, the SLURM launcher config, skip/resume of sweep runs,
W&B grouping, and the report's aggregation and files (fake run records; no study run is trained)."""

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
from projects.semiseg.report import Cell, RunRecord
from shared.config import compose
from shared.loggers import build_loggers, run_tags
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
    assert init["group"] == "synthetic-resnet18-mvpmatch" and init["name"] == "synthetic-resnet18-mvpmatch-s0"
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
def test_finished_run_is_skipped_and_unfinished_run_resumes_from_last(tmp_path, capsys):
    run_dir = tmp_path / "mvpmatch-s0"
    cfg = compose("semiseg", ["+sweep=smoke", *TINY, f"paths.output_dir={run_dir}"])
    assert finished_results(cfg, run_dir) is None and resume_checkpoint(cfg, run_dir) is None

    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {}}, run_dir / "checkpoints" / "last.ckpt")   # tensors-only, as Lightning writes
    assert resume_checkpoint(cfg, run_dir) == str(run_dir / "checkpoints" / "last.ckpt")
    assert "resume" in capsys.readouterr().out
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, other)
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


# -- report: aggregation on fake records --------------------------------------------------------------
def _record(method: str, ratio: str, seed: int, final: float | None, best: float | None = None,
            setting: str = "ccp_small") -> RunRecord:
    metrics = {}
    if final is not None:
        metrics["final/test/miou"] = final
    if best is not None:
        metrics["best/test/miou"] = best
    return RunRecord(setting=setting, method=method, ratio=ratio, seed=seed, metrics=metrics)


def test_summarise_is_mean_and_sample_std():
    cell = report.summarise([0.40, 0.42, 0.44])
    assert cell.n == 3 and cell.mean == pytest.approx(0.42) and cell.std == pytest.approx(0.02)
    assert report.summarise([0.3]) == Cell(0.3, 0.0, 1)
    assert report.summarise([]) is None and report.summarise([math.nan]) is None


def test_aggregate_separates_final_and_val_selected_and_skips_missing_metrics():
    records = [_record("mvpmatch", "1_64", s, final=f, best=b)
               for s, (f, b) in enumerate([(0.30, 0.34), (0.32, 0.36), (0.34, 0.38)])]
    records += [_record("unimatch_v2", "1_64", 0, final=0.28, best=None),       # no val-selected checkpoint
                _record("unimatch_v2", "1_64", 1, final=0.30, best=0.31),
                _record("supervised", "1_64", 0, final=None)]                    # unfinished
    final, best = report.aggregate(records, "final", "test/miou"), report.aggregate(records, "best", "test/miou")
    assert final[("mvpmatch", "1_64")].mean == pytest.approx(0.32)
    assert best[("mvpmatch", "1_64")].mean == pytest.approx(0.36)
    assert final[("unimatch_v2", "1_64")].n == 2 and best[("unimatch_v2", "1_64")].n == 1
    assert ("supervised", "1_64") not in final


def test_selection_and_lag_table_counts_last_epoch_picks_and_student_minus_teacher():
    def run(seed: int, final: float, best: float, student: float | None) -> RunRecord:
        metrics = {"final/test/miou": final, "best/test/miou": best, "final/test/teacher/miou": final}
        if student is not None:
            metrics["final/test/student/miou"] = student
        return RunRecord(setting="s", method="mvpmatch", ratio="1_64", seed=seed, metrics=metrics)
    records = [run(0, 0.30, 0.30, 0.32), run(1, 0.30, 0.31, 0.35), run(2, 0.29, 0.29, None),
               RunRecord(setting="s", method="unimatch_v2", ratio="1_64", seed=0)]     # unfinished: left out
    table = report.selection_and_lag_table(records, ["supervised", "mvpmatch", "unimatch_v2"], "test/miou")
    rows = table.splitlines()
    assert len(rows) == 3                                    # header, rule, MvpMatch only
    assert rows[2] == "| MvpMatch | 3 | 2 of 3 | +3.5 [+2.0, +5.0] |"


def test_cells_show_mean_std_n_and_missing_as_dash():
    assert report.format_cell(Cell(0.4213, 0.0081, 3)) == "42.1 ± 0.8 (n=3)"
    assert report.format_cell(Cell(0.40, 0.01, 2)) == "40.0 ± 1.0 (n=2)"        # partial seeds say so
    assert report.format_cell(Cell(0.40, 0.0, 1)) == "40.0 (n=1)"
    assert report.format_cell(None) == "–"
    cells = {("mvpmatch", "1_64"): Cell(0.33, 0.01, 3), ("unimatch_v2", "1_64"): Cell(0.31, 0.02, 3),
             ("mvpmatch", "1_16"): Cell(0.40, 0.01, 2)}
    diff = report.difference_row(cells, ["1_64", "1_16"], "mvpmatch", "unimatch_v2")
    assert diff == ["+2.0", "–"]
    table = report.markdown_table(cells, ["unimatch_v2", "mvpmatch"], ["1_64", "1_16"], [("Δ", diff)])
    assert table.splitlines() == [
        "| method | 1/64 | 1/16 |", "|---|---|---|",
        "| UniMatch V2 | 31.0 ± 2.0 (n=3) | – |",
        "| MvpMatch | 33.0 ± 1.0 (n=3) | 40.0 ± 1.0 (n=2) |",
        "| Δ | +2.0 | – |"]


def test_ratio_helpers():
    assert report.ratio_key("1/16") == report.ratio_key("1_16") == report.ratio_key(116) == "1_16"
    assert report.ratio_key("?") == "?" and math.isnan(report.ratio_fraction("?"))
    assert report.ratio_fraction("1_64") == pytest.approx(1 / 64) and report.ratio_label("1_4") == "1/4"
    assert report.sort_ratios(["1_2", "1_64", "1_4", "1_16"]) == ["1_64", "1_16", "1_4", "1_2"]


# -- report: files from fake run folders -------------------------------------------------------------
METHODS = {"supervised": 0.20, "unimatch_v2": 0.28, "mvpmatch": 0.30, "mvpmatch_ht_only": 0.29,
           "mvpmatch_he_only": 0.29}


def _fake_run(root: Path, method: str, ratio: str, seed: int, finished: bool = True, steps: int = 40,
              setting: str = "ccp_small") -> Path:
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
        (run_dir / "metrics.json").write_text(json.dumps(
            {"final/test/miou": base, "best/test/miou": base + 0.01, "final/test/teacher/miou": base,
             "best_checkpoint": "x.ckpt"}))
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


def test_report_reads_run_folders_and_writes_markdown_and_pngs(tmp_path):
    _fake_study(tmp_path / "runs")
    records = report.collect_runs(tmp_path / "runs")
    assert len(records) == 3 * (3 * 5 + 3) and sum(not r.finished for r in records) == 1
    spec = OmegaConf.to_container(compose("semiseg", []).report)
    md = report.write_report(records, spec, tmp_path / "out", "label_ratios", source="runs/semiseg/sweeps")
    text = md.read_text()
    assert "## Setting `ccp_small`" in text and "encoder `resnet18`" in text
    assert "| MvpMatch | 31.0 ± 1.0 (n=3) |" in text                   # 1/64: 0.30 + {0, .01, .02}
    assert "| MvpMatch | 32.0 ± 1.0 (n=3) |" in text                   # the val-selected table
    assert "(n=2)" in text and "mvpmatch-1_2-s2" in text                  # partial cell + unfinished run listed
    assert "| + historical ensemble only |" in text and "| Δ MvpMatch − UniMatch V2 | +2.0 |" in text
    for png in ("label_ratios_ccp_small_miou.png", "label_ratios_ccp_small_mask_ratio.png"):
        assert f"]({png})" in text
        with Image.open(tmp_path / "out" / png) as image:
            assert image.width > 400 and image.height > 200


def test_mask_ratio_curve_keeps_the_last_value_per_step_of_a_resumed_run(tmp_path):
    run_dir = _fake_run(tmp_path, "mvpmatch", "1_16", 0)
    csv = run_dir / "csv" / "metrics.csv"
    frame = pd.read_csv(csv)
    resumed = frame[frame["step"] >= 20].assign(**{"train/mask_ratio@0.95": 0.99})   # appended after resume
    pd.concat([frame, resumed]).to_csv(csv, index=False)
    curve = report.read_curve(report.read_run(run_dir), "train/mask_ratio@0.95")
    assert list(curve.index) == list(range(0, 40, 5)) and curve.loc[20] == 0.99 and curve.loc[15] < 0.99
    curves = report.mean_curves({("mvpmatch", "1_16"): [curve, curve + 0.1]})
    assert curves[("mvpmatch", "1_16")]["mean"].loc[20] == pytest.approx(1.04)


def test_report_task_is_registered_and_writes_into_the_configured_folder(tmp_path):
    _fake_run(tmp_path / "sweeps", "mvpmatch", "1_4", 0)
    cfg = compose("semiseg", [f"paths.output_dir={tmp_path / 'task'}", f"report.runs={tmp_path / 'sweeps'}",
                              f"report.output_dir={tmp_path / 'reports'}"], task="report")
    out = dispatch(cfg)
    assert out["finished"] == 1 and Path(out["report"]) == tmp_path / "reports" / "label_ratios.md"
    assert "36.7 (n=1)" in (tmp_path / "reports" / "label_ratios.md").read_text()


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
    assert [(r.setting, r.method, r.ratio, r.seed, r.finished) for r in records] == [
        ("smoke", "unimatch_v2", "1_4", 0, True)]
    spec = OmegaConf.to_container(compose("semiseg", []).report)
    text = report.write_report(records, spec, tmp_path / "out", "smoke").read_text()
    assert "| UniMatch V2 | – | – | " in text and "(n=1)" in text
    assert (tmp_path / "out" / "smoke_smoke_mask_ratio.png").is_file()      # from the real CSV log


def test_report_without_runs_is_a_clear_error_and_writes_nothing(tmp_path):
    from shared.config import compose
    from shared.errors import DataError

    out = tmp_path / "reports"
    cfg = compose("semiseg", [f"report.runs={tmp_path / 'absent'}", f"report.output_dir={out}"], task="report")
    with pytest.raises(DataError, match="no run folders under .*absent"):
        report.run(cfg)
    assert not out.exists()
