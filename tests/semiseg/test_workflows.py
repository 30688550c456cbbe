"""End to end on tiny synthetic data: every method config, exact resume, 2-process DDP, predict, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning
import torch
from PIL import Image

from shared.config import compose
from shared.errors import ConfigError
from shared.tasks import dispatch
from tests.metric_names import assert_conventional

from .tiny import KILL_AFTER_ONE_EPOCH, TINY

REPO = Path(__file__).resolve().parents[2]


def _run(out: Path, overrides: list[str], task: str = "train"):
    cfg = compose("semiseg", ["debug=smoke", *TINY, f"paths.output_dir={out}", f"paths.log_dir={out.parent}",
                              *overrides], task=task)
    return cfg, dispatch(cfg)


@pytest.mark.parametrize("method", ["supervised", "unimatch_v2", "mvpmatch", "mvpmatch_ht_only", "mvpmatch_he_only"])
def test_method_config_runs_one_step(tmp_path, method):
    cfg, results = _run(tmp_path / method, [f"method={method}", "test_after_fit=false"])
    assert "fit/val/miou" in results
    assert "fit/val/teacher/miou" in results and "fit/val/student/miou" in results   # supervised: its EMA copy too
    assert (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").is_file()


def _state(ckpt: Path) -> dict:
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    callbacks = state["callbacks"]
    ema = next(v for k, v in callbacks.items() if k.startswith("EMATeacher"))
    queue = next(v for k, v in callbacks.items() if k.startswith("HistoricalCheckpointQueue"))
    return {"student": state["state_dict"], "teacher": ema["teacher"], "updates": ema["updates"], "queue": queue,
            "step": state["global_step"]}


@pytest.mark.slow   # three trainings
def test_resume_equals_uninterrupted_training(tmp_path):
    """train(2 epochs) == train(2 epochs, killed after 1) + resume(1 epoch): student, teacher and queue."""
    epochs = ["method=mvpmatch", "test_after_fit=false"]
    _run(tmp_path / "full", [*epochs, "trainer.max_epochs=2"])
    _run(tmp_path / "first", [*epochs, "trainer.max_epochs=2", *KILL_AFTER_ONE_EPOCH])
    assert _state(tmp_path / "first" / "checkpoints" / "last.ckpt")["step"] == 2
    _run(tmp_path / "resumed", [*epochs, "trainer.max_epochs=2",
                                f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.ckpt'}"])
    full, resumed = (_state(tmp_path / r / "checkpoints" / "last.ckpt") for r in ("full", "resumed"))
    assert full["step"] == resumed["step"] == 4 and full["updates"] == resumed["updates"] == 4
    for key in ("student", "teacher"):
        for name, value in full[key].items():
            assert torch.allclose(value.float(), resumed[key][name].float(), atol=1e-5), (key, name)
    qa, qb = full["queue"], resumed["queue"]
    assert len(qa["snapshots"]) == len(qb["snapshots"]) >= 1 and qa["scores"] == qb["scores"]
    assert torch.equal(qa["generator"], qb["generator"])
    for sa, sb in zip(qa["snapshots"], qb["snapshots"]):
        assert all(torch.allclose(sa[k].float(), sb[k].float(), atol=1e-5) for k in sa)


@pytest.mark.slow   # two DDP processes
def test_ddp_two_processes_keep_identical_teachers(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("ddp_teacher_check.py")), str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for name, value in r0["teacher"].items():
        assert torch.equal(value, r1["teacher"][name]), name
    for name, value in r0["student"].items():
        assert torch.allclose(value.float(), r1["student"][name].float(), atol=1e-6), name
    assert r0["queue_len"] == r1["queue_len"] >= 1
    assert [d[0] for d in r0["draws"]] == [d[0] for d in r1["draws"]]


def test_predict_writes_masks_and_overlays(tmp_path):
    cfg, _ = _run(tmp_path / "train", ["method=unimatch_v2", "test_after_fit=false"])
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (40, 30), (200, 30, 40)).save(folder / "a.jpg")
    (folder / "broken.jpg").write_bytes(b"not an image")
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    _, out = _run(tmp_path / "predict", [f"ckpt_path={ckpt}", f"input={folder}", f"output={tmp_path / 'pred'}"],
                  task="predict")
    mask = Image.open(out / "masks" / "a.jpg.png")  # relative path + source extension: names cannot collide
    assert mask.size == (40, 30) and (out / "overlays" / "a.jpg.jpg").is_file()
    sheet = Image.open(out / "overlays.png")                      # the readable images on one page
    assert sheet.size[0] >= 4 * 192 and sheet.size[1] > 192
    rows = (out / "predictions.csv").read_text()
    assert "broken.jpg" in rows and "cannot read image" in rows


def test_label_ratio_leaving_no_labelled_image_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="zero labelled"):
        _run(tmp_path / "r", ["data.labeled_ratio=1/64"])


def test_queue_length_zero_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="length must be >= 1"):
        _run(tmp_path / "q", ["method=mvpmatch", "callbacks.historical_queue.length=0"])


class _CountSteps(pytorch_lightning.Callback):
    steps = 0

    def on_train_batch_end(self, *args) -> None:
        _CountSteps.steps += 1


@pytest.mark.parametrize("method, missing, match", [("mvpmatch", "historical_queue", "HistoricalCheckpointQueue"),
                                                    ("mvpmatch_he_only", "historical_queue", "mu=0.5"),
                                                    ("unimatch_v2", "ema_teacher", "EMATeacher")])
def test_method_without_its_callback_fails_before_the_first_step(tmp_path, method, missing, match):
    """mu > 0 without the queue used to train silently with loss_u_prev = 0; now it stops at fit start."""
    _CountSteps.steps = 0
    with pytest.raises(ConfigError, match=match):
        _run(tmp_path / "c", [f"method={method}", f"callbacks.{missing}=null",
                              "+callbacks.count._target_=tests.semiseg.test_workflows._CountSteps"])
    assert _CountSteps.steps == 0


@pytest.mark.slow   # a training with validation and two tests
def test_metrics_file_has_student_and_teacher(tmp_path):
    cfg, results = _run(tmp_path / "m", ["method=mvpmatch"])
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    for key in ("final/test/miou", "final/test/student/miou", "final/test/teacher/miou", "best/test/teacher/miou"):
        assert 0.0 <= saved[key] <= 1.0
    assert (Path(cfg.paths.output_dir) / "confusion_test_teacher.json").is_file()
    # per-class IoU keys carry the datamodule's class names (the report's per-class table reads them)
    classes = json.loads((Path(cfg.paths.output_dir) / "confusion_test_teacher.json").read_text())["classes"]
    assert classes[0] == "background" and not classes[1].isdigit()
    assert all(f"final/test/teacher/iou/{c}" in saved for c in classes)
    assert_conventional(saved)   # every name the project logs (root README, "Metric names")
