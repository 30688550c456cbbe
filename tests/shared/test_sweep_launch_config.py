"""Re-running a sweep never rewrites a finished run's config: Hydra saves each launch's config in
``.hydra_launch/`` (configs/common/sweep/base.yaml) and it becomes the run's ``.hydra/`` only when the job runs."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from shared.config import compose
from shared.run_folder import LAUNCH_CONFIG_DIR
from shared.tasks import finished_results

SWEEP = OmegaConf.create({"skip_finished": True})


def _launch(run_dir: Path, weight_decay: float) -> None:
    """What Hydra writes at a sweep job's start, before our task function runs."""
    (run_dir / LAUNCH_CONFIG_DIR).mkdir(parents=True)
    (run_dir / LAUNCH_CONFIG_DIR / "config.yaml").write_text(f"optim:\n  weight_decay: {weight_decay}\n")
    (run_dir / LAUNCH_CONFIG_DIR / "overrides.yaml").write_text(f"- optim.weight_decay={weight_decay}\n")


def test_a_job_that_runs_keeps_its_launch_config_and_a_skipped_one_leaves_the_run_as_it_was(tmp_path):
    _launch(tmp_path, 0.5)
    assert finished_results(SWEEP, tmp_path) is None     # no metrics.json: the job trains
    assert (tmp_path / ".hydra" / "config.yaml").read_text() == "optim:\n  weight_decay: 0.5\n"
    assert (tmp_path / ".hydra" / "overrides.yaml").read_text() == "- optim.weight_decay=0.5\n"
    assert not (tmp_path / LAUNCH_CONFIG_DIR).exists()

    (tmp_path / "metrics.json").write_text('{"final/test/acc": 0.75}')
    _launch(tmp_path, 0.25)                              # the same sweep again, its config changed since
    assert finished_results(SWEEP, tmp_path) == {"final/test/acc": 0.75}
    assert (tmp_path / ".hydra" / "config.yaml").read_text() == "optim:\n  weight_decay: 0.5\n"
    assert not (tmp_path / LAUNCH_CONFIG_DIR).exists()


def test_a_half_written_metrics_file_reruns_the_job_with_the_new_launch_config(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("optim:\n  weight_decay: 0.5\n")
    (tmp_path / "metrics.json").write_text('{"final/test/acc": 0.7')
    _launch(tmp_path, 0.25)
    assert finished_results(SWEEP, tmp_path) is None
    assert (tmp_path / ".hydra" / "config.yaml").read_text() == "optim:\n  weight_decay: 0.25\n"


def test_every_sweep_saves_its_launch_config_apart():
    cfg = compose("classification", ["+sweep=table3", "paths.output_dir=/tmp/x"], return_hydra_config=True)
    assert cfg.hydra.output_subdir == LAUNCH_CONFIG_DIR
    plain = compose("classification", ["paths.output_dir=/tmp/x"], return_hydra_config=True)
    assert plain.hydra.output_subdir == ".hydra"         # make train: Hydra's own folder, as before
