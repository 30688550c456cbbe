"""Test-wide settings: fully offline, tiny data, run outputs in a temporary folder."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["WANDB_MODE"] = os.environ.get("WANDB_MODE", "offline") if os.environ.get("WANDB_MODE") in (
    "offline", "disabled") else "offline"
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_SILENT", "true")

import logging  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from shared.paths import data_root  # noqa: E402

# Under pytest-xdist (``make test`` runs two workers on the 2-core machine) each worker, and every
# child process a test starts, keeps to one thread so the two workers do not fight over the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
else:
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data root (../shared/data); tests needing it skip cleanly when it is absent."""
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"real data not available at {root}")
    return root


@pytest.fixture
def run_project(tmp_path):
    """Compose ``project``'s config with the smoke preset and run a task in-process.

    Returns (config, result). Outputs go to a temporary run folder.
    """
    from shared.config import compose
    from shared.tasks import dispatch

    def _run(project: str, overrides: list[str] = (), task: str = "train", smoke: bool = True):
        out = tmp_path / f"{project}-{task}"
        cfg = compose(project, [*(["debug=smoke"] if smoke else []), f"paths.output_dir={out}",
                                f"paths.log_dir={tmp_path}", *overrides], task=task)
        return cfg, dispatch(cfg)

    return _run


@pytest.fixture(autouse=True)
def _no_logging_handlers_left_behind():
    """A test that runs Hydra in-process (``shared.__main__.main``) leaves Hydra's job-logging handlers on the
    root logger, one bound to that test's captured stderr; a later test in the same process (xdist workers
    run tests in any order) would log into the closed stream. Handlers a test added go at its end (pytest's
    own capture handlers are left to pytest)."""
    root = logging.getLogger()
    before, level = set(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in before and not type(h).__module__.startswith("_pytest")]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
