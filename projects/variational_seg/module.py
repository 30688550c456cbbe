"""A parameter-free LightningModule around the solver: the Trainer picks the device and the shared
loggers record the metrics; per-image rows are kept for the CSV written by the eval task."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from projects.variational_seg.params import SolverParams, resolve_params
from projects.variational_seg.pipeline import Segmentation, segment, set_threads
from projects.variational_seg.protocol import format_points, score

METRICS = ("dsc", "hd", "hd95", "hd_pct", "iterations", "seconds")


def _plain(cfg: Any) -> dict:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg or {})


class VariationalSegModule(pl.LightningModule):
    def __init__(self, model: Any, tuned: Any = None, solver: Any = None, working: Any = None) -> None:
        super().__init__()
        self.model_cfg = _plain(model)
        self.params: SolverParams = resolve_params(self.model_cfg, _plain(solver), _plain(tuned))
        self.max_side = int(_plain(working).get("max_side", 320))
        set_threads(_plain(working))
        self.rows: list[dict[str, Any]] = []
        self.skipped: list[str] = []

    def segment(self, batch: list[dict[str, Any]]) -> list[Segmentation]:
        return segment([s["image"] for s in batch], [s["points"] for s in batch], self.params, self.max_side,
                       self.device)

    def test_step(self, batch: list[dict[str, Any]], batch_idx: int) -> None:
        self.skipped += [str(s["id"]) for s in batch if "skip" in s]
        batch = [s for s in batch if "skip" not in s]
        if not batch:
            return
        for sample, seg in zip(batch, self.segment(batch)):
            row = {"id": sample["id"], **score(seg.prob, sample), "iterations": seg.iterations,
                   "seconds": seg.seconds, "markers": format_points(sample["points"]),
                   "marker_px_working": seg.markers_used, "undecided": seg.undecided}
            self.rows.append(row)
        for key in METRICS:
            self.log(f"test/{key}", float(np.mean([r[key] for r in self.rows[-len(batch):]])),
                     batch_size=len(batch), on_epoch=True, on_step=False)

    def predict_step(self, batch: list[dict[str, Any]], batch_idx: int) -> list[Segmentation]:
        return self.segment([s for s in batch if "skip" not in s])

    def configure_optimizers(self) -> None:
        return None

    def on_test_start(self) -> None:
        self.rows, self.skipped = [], []
