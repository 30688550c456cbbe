"""Quality metrics: accept/reject, per-defect F1, and score correlation (IQA conventions).

* **Accept/reject**: the positive class is *reject* (a defective image), the class a platform wants
  to catch. ``acc``, ``precision_binary``, ``recall_binary``, ``f1_binary`` use the model's decision
  (binary averaging: the reject class's own value); ``auroc`` uses its ``p_reject`` ranking
  (torchmetrics ``Binary*``).
* **Defects**: ``f1/<defect>`` per defect (``MultilabelF1Score(average="none")``, threshold 0.5) and
  ``f1_macro`` = their macro mean over the defects the model covers (a defect with no prediction at all from a
  model family, e.g. every defect for ``seed_cnn``, or that no image of the data has, e.g. in a user's
  folder that names only some defects, is reported as NaN / not covered).
* **Score**: ``srcc`` = Spearman rho, ``plcc`` = Pearson r of the predicted score against the
  continuous target **without a logistic fit** (pyiqa's benchmark convention), and
  ``plcc_logistic`` = Pearson r after the 4-parameter VQEG logistic
  ``f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2`` fitted on the same predictions
  (pyiqa ``calculate_plcc(..., fit_scale="logistic_4params")``-style; NaN if the fit fails).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    MultilabelF1Score,
)
from torchmetrics.regression import PearsonCorrCoef, SpearmanCorrCoef
from torchmetrics.utilities import dim_zero_cat


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """``(b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``, with SciPy's ``expit`` (no overflow in exp for the
    far tails that the fit's trial parameters reach; same values)."""
    return (b1 - b2) * expit((x - b3) / abs(b4)) + b2


def _logistic4_jac(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """Analytic Jacobian: finite differences stall when a parameter starts at ~0 (e.g. b3 = mean x = 0)."""
    s = expit((x - b3) / abs(b4))
    ds = s * (1 - s)
    return np.stack([s, 1 - s, -(b1 - b2) * ds / abs(b4), -(b1 - b2) * ds * (x - b3) * np.sign(b4) / b4**2], axis=1)


def plcc_logistic(pred: np.ndarray, target: np.ndarray) -> float:
    """Pearson r after the VQEG 4-parameter logistic mapping of ``pred`` onto ``target``."""
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if len(pred) < 5 or np.std(pred) == 0 or np.std(target) == 0:
        return float("nan")
    p0 = [target.max(), target.min(), float(np.mean(pred)), float(np.std(pred)) or 1.0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            params, _ = curve_fit(logistic4, pred, target, p0=p0, jac=_logistic4_jac, maxfev=20000)
    except (RuntimeError, ValueError, FloatingPointError):
        return float("nan")
    fitted = logistic4(pred, *params)
    if np.std(fitted) == 0:
        return float("nan")
    return float(np.corrcoef(fitted, target)[0, 1])


def _count(state: list[torch.Tensor] | torch.Tensor) -> int:
    """Elements of a ``cat`` state (a list before sync, a tensor after)."""
    return sum(t.numel() for t in state) if isinstance(state, list) else state.numel()


class QualityMetrics(Metric):
    """All quality metrics as one ``torchmetrics.Metric``: under DDP every state reduces across ranks
    (the child metrics sync in their own ``compute``; the scores for ``plcc_logistic`` are ``cat``
    states and the defect coverage a ``sum`` state), so every rank reports the metrics of all samples."""

    is_differentiable = False
    full_state_update = False

    def __init__(self, defect_names: list[str], prefix: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefix, self.defect_names = prefix, list(defect_names)
        self.binary = MetricCollection({"acc": BinaryAccuracy(), "precision_binary": BinaryPrecision(),
                                        "recall_binary": BinaryRecall(), "f1_binary": BinaryF1Score()})
        self.auroc = BinaryAUROC()
        with warnings.catch_warnings():  # "will save all targets and predictions in the buffer": intended
            warnings.simplefilter("ignore", UserWarning)
            self.srcc, self.plcc = SpearmanCorrCoef(), PearsonCorrCoef()
        self.defect_f1 = MultilabelF1Score(len(self.defect_names), average="none", threshold=0.5)
        self.add_state("covered", default=torch.zeros(len(self.defect_names), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("present", default=torch.zeros(len(self.defect_names), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("targets", default=[], dist_reduce_fx="cat")

    def update(self, reject: torch.Tensor, p_reject: torch.Tensor, label: torch.Tensor, score: torch.Tensor,
               score_target: torch.Tensor, p_defects: torch.Tensor | None = None,
               defects: torch.Tensor | None = None) -> None:
        """``reject``: the 0/1 decision; ``p_defects`` NaN in a column = defect not covered by the model."""
        label = label.long()
        self.binary.update(reject.float(), label)
        self.auroc.update(p_reject.float(), label)
        known = torch.isfinite(score_target)  # a user's photo has no reference score (NaN): left out
        if known.any():
            self.srcc.update(score[known].float(), score_target[known].float())
            self.plcc.update(score[known].float(), score_target[known].float())
            self.scores.append(score[known].detach().float())
            self.targets.append(score_target[known].detach().float())
        if p_defects is not None and defects is not None:
            named = torch.isfinite(defects).all(dim=1)  # a photo whose defect is not named: left out
            if named.any():
                self.covered += (~torch.isnan(p_defects).any(dim=0)).long()
                self.present += defects[named].long().sum(dim=0)
                self.defect_f1.update(torch.nan_to_num(p_defects[named].float(), nan=0.0), defects[named].long())

    def compute(self) -> dict[str, float]:
        out = {k: float(v) for k, v in self.binary.compute().items()}
        out["auroc"] = float(self.auroc.compute())
        if _count(self.scores):
            out["srcc"] = float(self.srcc.compute())
            out["plcc"] = float(self.plcc.compute())
            out["plcc_logistic"] = plcc_logistic(dim_zero_cat(self.scores).cpu().numpy(),
                                                 dim_zero_cat(self.targets).cpu().numpy())
        else:  # no reference scores (own photos): nothing to correlate with
            out.update(srcc=math.nan, plcc=math.nan, plcc_logistic=math.nan)
        # a defect no photo of the data has (own photos name only some) has no F1: left out, not counted as 0
        covered = ((self.covered > 0) & (self.present > 0)).cpu()
        if covered.any():
            per = self.defect_f1.compute().cpu()
            for name, value, cov in zip(self.defect_names, per.tolist(), covered.tolist()):
                out[f"f1/{name}"] = value if cov else math.nan
            out["f1_macro"] = float(per[covered].mean())
        return {f"{self.prefix}{k}": v for k, v in out.items()}

    def reset(self) -> None:
        super().reset()
        for m in (self.binary, self.auroc, self.srcc, self.plcc, self.defect_f1):
            m.reset()
