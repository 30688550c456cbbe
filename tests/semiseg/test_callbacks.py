"""EMATeacher and HistoricalCheckpointQueue: schedule, real-step counting, FIFO, draws, checkpoint state."""

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from shared.callbacks import EMATeacher, HistoricalCheckpointQueue


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        assert self.teacher is not None and not any(p.requires_grad for p in self.teacher.parameters())
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(tmp_path, accumulate: int, batches: int = 4) -> tuple[Tiny, EMATeacher]:
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(batches * 2, 2), torch.randn(batches * 2, 1)), batch_size=2)
    module, ema = Tiny(), EMATeacher(source="net")
    trainer = pl.Trainer(max_epochs=1, accumulate_grad_batches=accumulate, callbacks=[ema], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path, accelerator="cpu")
    trainer.fit(module, data)
    return module, ema


def test_ema_counts_real_optimizer_steps_only(tmp_path):
    module, ema = _fit(tmp_path, accumulate=2, batches=4)
    assert ema.updates == 2                                       # 4 micro-batches, 2 optimizer steps
    assert all(id(p) not in {id(q) for q in module.parameters()} for p in ema.teacher.parameters())
    assert not any(k.startswith("teacher") for k in module.state_dict())   # not a submodule


def test_ema_first_update_copies_the_student_and_state_round_trips(tmp_path):
    module, ema = _fit(tmp_path, accumulate=1, batches=1)
    assert ema.updates == 1
    assert torch.allclose(ema.teacher.weight, module.net.weight)  # m_0 = 0
    state = ema.state_dict()
    other = EMATeacher(source="net")
    other.load_state_dict(state)                                  # before setup: kept pending
    other.setup(None, Tiny(), "fit")
    assert other.updates == 1 and torch.allclose(other.teacher.weight, ema.teacher.weight)


def _linear(value: float) -> nn.Module:
    m = nn.Linear(1, 1)
    nn.init.constant_(m.weight, value)
    nn.init.constant_(m.bias, 0.0)
    return m


def test_queue_is_fifo_and_draws_without_replacement():
    q = HistoricalCheckpointQueue(length=3, max_models=2, seed=0)
    for v in range(5):
        q.push(_linear(float(v)), score=float(v))
    assert len(q) == 3 and q.scores == [2.0, 3.0, 4.0]            # the two oldest dropped
    assert [float(s["weight"]) for s in q.snapshots] == [2.0, 3.0, 4.0]
    for _ in range(50):
        d = q.draw()
        assert 1 <= len(d.indices) <= 2 and len(set(d.indices)) == len(d.indices)
        assert d.weights.sum().item() == pytest.approx(1.0) and torch.all(d.weights > 0)


def test_queue_ensemble_is_the_weighted_sum_and_resident_models_are_capped():
    q = HistoricalCheckpointQueue(length=4, max_models=2, random_count=False, resident=2, seed=1)
    for v in (1.0, 2.0, 3.0, 4.0):
        q.push(_linear(v))
    x = torch.ones(1, 1)
    for _ in range(5):
        d = q.draw()
        expected = sum(w * (i + 1.0) for i, w in zip(d.indices, d.weights.tolist()))
        assert q.ensemble(x, d).item() == pytest.approx(expected, rel=1e-5)
        assert len(q._slots) <= 2


def test_queue_state_restores_draws_exactly():
    q = HistoricalCheckpointQueue(length=4, max_models=3, seed=5, snapshot_dtype="bf16")
    for v in (1.0, 2.0, 3.0):
        q.push(_linear(v))
    assert q.snapshots[0]["weight"].dtype == torch.bfloat16
    q.draw()
    state = q.state_dict()
    expected = [q.draw() for _ in range(5)]
    other = HistoricalCheckpointQueue(length=4, max_models=3, seed=99, snapshot_dtype="bf16")
    other.load_state_dict(state)
    got = [other.draw() for _ in range(5)]
    assert [d.indices for d in got] == [d.indices for d in expected]
    assert all(torch.equal(a.weights, b.weights) for a, b in zip(got, expected))


@pytest.mark.parametrize("kwargs, match", [({"length": 0}, "length"), ({"length": 2, "max_models": 3}, "max_models"),
                                           ({"combine": "votes"}, "combine"), ({"alpha": 0.0}, "alpha")])
def test_queue_misuse_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HistoricalCheckpointQueue(**kwargs)
