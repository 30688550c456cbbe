"""Progressive training: which parameters train in each stage, and that the optimizer follows."""

import pytest
import pytorch_lightning as pl
import torch

from projects.multimodal_tagging.module import TaggingModule
from projects.multimodal_tagging.progressive import ProgressiveTraining
from shared.config import compose
from shared.errors import ConfigError
from tests.multimodal_tagging.tiny import TINY

STAGES = [{"name": "base", "start_epoch": 0, "trainable": ["projections", "head"], "lr_scale": 1.0},
          {"name": "fusion", "start_epoch": 1, "trainable": ["projections", "attention", "head"], "lr_scale": 1.0},
          {"name": "finetune", "start_epoch": 2, "trainable": "all", "lr_scale": 0.1}]


def _module() -> TaggingModule:
    cfg = compose("multimodal_tagging", TINY)
    return TaggingModule(cfg.model, cfg.optim, dataset="synthetic")


def _trainable(module: TaggingModule) -> dict[str, bool]:
    """Per group: True if all its parameters train, False if none, None if mixed."""
    out = {}
    for name, modules in module.net.groups().items():
        flags = {p.requires_grad for m in modules for p in m.parameters()}
        out[name] = flags.pop() if len(flags) == 1 else None
    return out


def _in_optimizer(optimizer, module_list) -> bool:
    ids = {id(p) for g in optimizer.param_groups for p in g["params"]}
    return all(id(p) in ids for m in module_list for p in m.parameters())


def test_stages_set_requires_grad_and_the_optimizer_sees_them():
    module = _module()
    callback = ProgressiveTraining(STAGES, base_lr=1e-3)
    callback.freeze_before_training(module)
    assert _trainable(module) == {"image_encoder": False, "projections": True, "attention": False, "head": True}
    optimizer = module.configure_optimizers()
    groups = module.net.groups()
    assert not _in_optimizer(optimizer, groups["attention"]) and _in_optimizer(optimizer, groups["head"])

    callback.finetune_function(module, 0, optimizer)
    attention_before = [p.detach().clone() for p in groups["attention"][0].parameters()]
    callback.finetune_function(module, 1, optimizer)  # stage 2: attention unfrozen and handed to the optimizer
    assert _trainable(module) == {"image_encoder": False, "projections": True, "attention": True, "head": True}
    assert _in_optimizer(optimizer, groups["attention"]) and module.current_stage == 2
    batch = {"image": torch.randn(2, 3, 32, 32), "text_tokens": torch.randn(2, 12, 384),
             "text_mask": torch.ones(2, 12, dtype=torch.bool), "industry": torch.zeros(2, module.schema.industry_dim)}
    module(batch).sum().backward()
    optimizer.step()
    assert any(not torch.equal(a, p) for a, p in zip(attention_before, groups["attention"][0].parameters()))

    callback.finetune_function(module, 2, optimizer)  # stage 3: everything, at lr x0.1
    assert set(_trainable(module).values()) == {True}
    assert _in_optimizer(optimizer, [module.net]) and module.current_stage == 3
    assert all(g["lr"] == pytest.approx(1e-4) for g in optimizer.param_groups)
    ids = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert len(ids) == len(set(ids))  # no parameter twice


def test_stage_boundaries_in_a_real_fit(run_project):
    stages = ("progressive.stages=[{name:a,start_epoch:0,trainable:[head]},"
              "{name:b,start_epoch:1,trainable:[head,attention,projections]},"
              "{name:c,start_epoch:2,trainable:all,lr_scale:0.1}]")
    _, results = run_project("multimodal_tagging", [*TINY, stages, "trainer.max_epochs=3",
                                                    "trainer.limit_train_batches=1"])
    assert results["fit/train/stage"] == 3.0


class ModeProbe(pl.Callback):
    """Appends to ``path``, after every training batch: epoch, whether the image encoder and the attention
    ran in train mode (a file: Hydra may import this module under another name than pytest did)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        net = pl_module.net
        with open(self.path, "a") as f:
            f.write(f"{trainer.current_epoch} {net.image_encoder.training} {net.attention.training}\n")


@pytest.mark.slow   # two real fits with validation
@pytest.mark.parametrize("frozen_eval", [True, False])
def test_frozen_groups_run_in_eval_mode_through_a_real_fit_with_validation(run_project, tmp_path, frozen_eval):
    """A frozen pretrained encoder must keep its BatchNorm statistics in every training batch, also after
    Lightning restored the modules' modes following a validation pass (it does so without ``train()``)."""
    record = tmp_path / "modes.txt"
    stages = ("progressive.stages=[{name:a,start_epoch:0,trainable:[projections,head]},"
              "{name:b,start_epoch:1,trainable:all},{name:c,start_epoch:2,trainable:all}]")
    run_project("multimodal_tagging", [*TINY, stages, f"progressive.frozen_eval={frozen_eval}",
                                       "trainer.max_epochs=2", "trainer.limit_train_batches=2",
                                       "+callbacks.mode_probe._target_=tests.multimodal_tagging.test_progressive.ModeProbe",
                                       f"+callbacks.mode_probe.path={record}"])
    frozen = not frozen_eval
    assert record.read_text().split("\n")[:-1] == [f"0 {frozen} {frozen}"] * 2 + ["1 True True"] * 2


def test_bad_stage_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown group"):
        ProgressiveTraining([{"name": "x", "start_epoch": 0, "trainable": ["decoder"]}], base_lr=1e-3)
    with pytest.raises(ConfigError, match="start_epoch 0"):
        ProgressiveTraining([{"name": "x", "start_epoch": 3, "trainable": "all"}], base_lr=1e-3)
