"""Quality metrics against numbers worked out by hand."""

import math

import numpy as np
import pytest
import torch

from projects.quality.metrics import QualityMetrics, logistic4, plcc_logistic

NAMES = ["blur", "noise", "framing"]


def _metrics(p_defects=None, defects=None) -> dict:
    m = QualityMetrics(NAMES, prefix="test/")
    label = torch.tensor([1, 1, 0, 0, 1])
    m.update(reject=torch.tensor([1, 0, 0, 1, 1]), p_reject=torch.tensor([0.9, 0.4, 0.2, 0.6, 0.8]), label=label,
             score=torch.tensor([0.1, 0.4, 0.35, 0.8, 0.9]), score_target=torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]),
             p_defects=p_defects, defects=defects)
    return m.compute()


def test_accept_reject_metrics_by_hand():
    out = _metrics()
    assert out["test/acc"] == pytest.approx(3 / 5)  # decisions right on items 1, 3, 5
    assert out["test/precision_binary"] == pytest.approx(2 / 3)  # TP = 2 (items 1, 5), FP = 1 (item 4)
    assert out["test/recall_binary"] == pytest.approx(2 / 3)  # FN = 1 (item 2)
    # AUROC = share of (reject, accept) pairs ranked right: 0.9>0.2, 0.9>0.6, 0.4>0.2, 0.8>0.2, 0.8>0.6; 0.4<0.6
    assert out["test/auroc"] == pytest.approx(5 / 6)
    assert "test/f1_macro" not in out  # no defect predictions given (the seed CNN)


def test_srcc_and_plcc_by_hand():
    out = _metrics()
    # score ranks [1, 3, 2, 4, 5] vs [1, 2, 3, 4, 5]: sum d^2 = 2 -> rho = 1 - 6*2 / (5*24) = 0.9
    assert out["test/srcc"] == pytest.approx(0.9, abs=1e-6)
    x, y = np.array([0.1, 0.4, 0.35, 0.8, 0.9]), np.arange(1.0, 6.0)
    r = ((x - x.mean()) * (y - y.mean())).sum() / math.sqrt(((x - x.mean()) ** 2).sum() * ((y - y.mean()) ** 2).sum())
    assert out["test/plcc"] == pytest.approx(r, abs=1e-5)
    m = QualityMetrics(NAMES)
    for xs, ys in (([1.0, 2.0], [1.0, 2.0]), ([3.0], [4.0])):  # x = 1, 2, 3; y = 1, 2, 4 over two batches
        m.update(torch.tensor([0] * len(xs)), torch.zeros(len(xs)), torch.tensor([0] * len(xs)), torch.tensor(xs),
                 torch.tensor(ys))
    # cov = 3, var_x = 2, var_y = 42/9 -> r = 3 / sqrt(2 * 42 / 9)
    assert m.compute()["plcc"] == pytest.approx(3 / math.sqrt(2 * 42 / 9), abs=1e-5)


def test_logistic_plcc_linearises_a_logistic_relation():
    x = np.linspace(-3, 3, 40)
    y = logistic4(x, 5.0, 1.0, 0.5, 0.4)
    assert np.corrcoef(x, y)[0, 1] < 0.95  # plain PLCC is hurt by the curve
    assert plcc_logistic(x, y) == pytest.approx(1.0, abs=1e-4)
    assert math.isnan(plcc_logistic(np.ones(10), np.arange(10.0)))  # constant prediction: undefined


def test_per_defect_f1_by_hand_and_uncovered_defects():
    # blur truth [1,0,1,0,0] pred [1,1,0,0,0] -> TP 1, FP 1, FN 1 -> F1 = 0.5
    # noise truth [0,1,0,0,1] pred [0,1,0,0,1] -> F1 = 1; framing: not covered (NaN column)
    truth = torch.tensor([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0], [0, 1, 0]])
    pred = torch.tensor([[0.9, 0.1, math.nan], [0.7, 0.8, math.nan], [0.2, 0.3, math.nan],
                         [0.1, 0.1, math.nan], [0.4, 0.6, math.nan]])
    out = _metrics(pred, truth)
    assert out["test/f1/blur"] == pytest.approx(0.5)
    assert out["test/f1/noise"] == pytest.approx(1.0)
    assert math.isnan(out["test/f1/framing"])
    assert out["test/f1_macro"] == pytest.approx(0.75)  # macro over the covered defects only
