"""The training step: MvpMatch with equal thresholds and mu = 0 is UniMatch V2; config misuse errors."""

import copy

import pytest
import torch

from projects.semiseg.module import SemiSegModule
from shared.callbacks.ema_teacher import frozen_copy
from shared.errors import ConfigError

MODEL = {"arch": "resnet18", "features": 16, "out_channels": [8, 8, 16, 16]}
OPTIM = {"lr": 1e-3, "lr_multi": 1.0, "weight_decay": 0.01}
V2 = {"name": "unimatch_v2", "semi": True, "thresholds": [0.95], "weights": [1.0], "weighting": "nested",
      "mu": 0.0, "history_threshold": 0.95}


def _batch(b: int = 2, size: int = 32, classes: int = 4) -> dict:
    g = torch.Generator().manual_seed(0)
    box = torch.zeros(b, size, size, dtype=torch.bool)
    box[:, 4:20, 8:24] = True
    ignore = torch.zeros(b, size, size, dtype=torch.long)
    ignore[:, -4:] = 255
    return {"labeled": {"image": torch.randn(b, 3, size, size, generator=g),
                        "mask": torch.randint(0, classes, (b, size, size), generator=g)},
            "unlabeled": {"weak": torch.randn(b, 3, size, size, generator=g),
                          "strong1": torch.randn(b, 3, size, size, generator=g),
                          "strong2": torch.randn(b, 3, size, size, generator=g),
                          "box1": box, "box2": box.flip(1), "ignore": ignore}}


def _module(method: dict) -> SemiSegModule:
    torch.manual_seed(0)
    module = SemiSegModule(MODEL, num_classes=4, method=method, optim=OPTIM)
    object.__setattr__(module, "teacher", frozen_copy(module.net))
    return module


def test_equal_thresholds_and_mu0_reduce_mvpmatch_to_unimatch_v2():
    batch = _batch()
    probe = _module(V2)
    with torch.no_grad():
        conf = probe.teacher(batch["unlabeled"]["weak"]).softmax(1).amax(1)
    tau = float(conf.median())                  # a threshold that keeps about half of the pixels
    v2 = _module({**V2, "thresholds": [tau]})
    mvp = _module({**V2, "name": "mvpmatch", "thresholds": [tau] * 3, "weights": [0.1, 0.2, 0.7], "mu": 0.0})
    for a, b in zip(v2.net.parameters(), mvp.net.parameters()):
        assert torch.equal(a, b)
    loss_v2, loss_mvp = v2.training_step(copy.deepcopy(batch), 0), mvp.training_step(copy.deepcopy(batch), 0)
    assert loss_v2.item() > 0 and loss_mvp.item() == pytest.approx(loss_v2.item(), rel=1e-6)
    banded = _module({**V2, "thresholds": [tau] * 3, "weights": [0.1, 0.2, 0.7], "weighting": "banded"})
    assert banded.training_step(copy.deepcopy(batch), 0).item() != pytest.approx(loss_v2.item(), rel=1e-3)


def test_semi_method_without_teacher_is_a_clear_error():
    module = SemiSegModule(MODEL, num_classes=4, method=V2, optim=OPTIM)
    with pytest.raises(ConfigError, match="EMATeacher"):
        module.training_step(_batch(), 0)


@pytest.mark.parametrize("change, match", [({"thresholds": [0.95, 0.90, 0.85], "weights": [0.1, 0.2, 0.7]},
                                             "increasing order"),
                                            ({"mu": -1.0}, "mu")])
def test_bad_method_config_is_a_config_error(change, match):
    with pytest.raises(ConfigError, match=match):
        SemiSegModule(MODEL, num_classes=4, method={**V2, **change}, optim=OPTIM)
