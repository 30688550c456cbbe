"""Progressive stages and weak labels survive a resume: stages at epochs 0 / 1 / 3 over 4 epochs, the run
stopped after epoch 2 (inside the fusion stage, after the KNN refresh of epoch 1) and resumed from its
last.ckpt ends with the weights, optimizer groups, weak-label targets and metrics of the uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from shared.config import compose
from shared.tasks import dispatch
from tests.multimodal_tagging.tiny import TINY

STAGES = ["progressive.stages.1.start_epoch=1", "progressive.stages.2.start_epoch=3", "trainer.max_epochs=4",
          "weak.precise_fraction=0.5", "weak.knn_k=3", "weak.use_title=false"]   # labels mostly from the KNN
STOP_AFTER_TWO_EPOCHS = ["+callbacks.kill._target_=tests.semiseg.tiny.StopAfterEpochs", "+callbacks.kill.epochs=2"]


def _train(out: Path, extra: list[str] = ()) -> dict:
    cfg = compose("multimodal_tagging", ["debug=smoke", *TINY, *STAGES, f"paths.output_dir={out}",
                                         f"paths.log_dir={out.parent}", *extra])
    dispatch(cfg)
    return torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


def _weak(ckpt: dict) -> dict:
    return next(v for k, v in ckpt["callbacks"].items() if k.startswith("WeakLabelRefresh"))


def _metrics(run: Path) -> dict:
    """metrics.json without wall-clock values, the checkpoint path and the LR monitor's keys: Lightning's
    LearningRateMonitor names them by the optimizer's param-group layout, so the uninterrupted run keeps
    a stale ``lr-AdamW`` from its one-group stage that a run resumed after that stage never logs."""
    return {k: v for k, v in json.loads((run / "metrics.json").read_text()).items()
            if not k.endswith("_s") and k != "best_checkpoint" and not k.startswith("fit/lr-")}


@pytest.mark.slow
def test_resume_inside_a_stage_continues_its_weak_labels_and_optimizer_groups(tmp_path):
    full = _train(tmp_path / "full")
    first = _train(tmp_path / "first", STOP_AFTER_TWO_EPOCHS)
    assert first["epoch"] == 1 and len(first["optimizer_states"][0]["param_groups"]) == 2   # fusion added a group
    resumed = _train(tmp_path / "resumed", [f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.ckpt'}"])
    assert full["global_step"] == resumed["global_step"] == 8
    for name, value in full["state_dict"].items():
        assert torch.allclose(value.double(), resumed["state_dict"][name].double(), rtol=0, atol=1e-6), name
    groups = [[(g["lr"], len(g["params"])) for g in c["optimizer_states"][0]["param_groups"]] for c in (full, resumed)]
    assert groups[0] == groups[1] and groups[0][0][0] == pytest.approx(1e-4)   # finetune: lr x 0.1
    # epoch 3's refresh (model embedding) after an epoch 2 trained on epoch 1's targets, as without a break
    assert torch.equal(_weak(full)["targets"], _weak(resumed)["targets"])
    assert torch.equal(_weak(full)["weights"], _weak(resumed)["weights"])
    full_m, resumed_m = _metrics(tmp_path / "full"), _metrics(tmp_path / "resumed")
    assert full_m == resumed_m and "fit/val/f1_macro" in full_m and "best/test/f1_macro" in full_m
