"""A parameter-free LightningModule around the solver: the Trainer picks the device and the shared
loggers record the metrics; per-image rows are kept for the CSV written by the eval task."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl

from projects.variational_seg.methods import segmenter_for
from projects.variational_seg.params import SolverParams, resolve_params
from projects.variational_seg.pipeline import Segmentation, set_threads
from projects.variational_seg.protocol import format_points, score
from shared.config import plain_dict

METRICS = ("dice", "hd", "hd95", "hd_pct", "iterations", "seconds")


class VariationalSegModule(pl.LightningModule):
    def __init__(self, model: Any, data: Any = None, working: Any = None, marker_radius: int = 0) -> None:
        super().__init__()
        self.model_cfg = plain_dict(model)
        self.data_cfg = plain_dict(data)   # name (the model's tuned.<name> values) and solver (all models)
        self.params: SolverParams | None = (None if self.model_cfg.get("kind") == "anchor" else
                                            resolve_params(self.model_cfg, self.data_cfg))
        self.max_side = int(plain_dict(working).get("max_side", 320))
        self.marker_radius = int(marker_radius)   # markers.radius: disks at working resolution
        set_threads(plain_dict(working))
        self.rows: list[dict[str, Any]] = []
        self.skipped: list[str] = []

    def segment(self, batch: list[dict[str, Any]]) -> list[Segmentation]:
        """The configured method (``methods.segmenter_for``: paper models, the shipped colour model or an
        anchor); background points go to the methods that take them."""
        run_model = segmenter_for(self.model_cfg, self.data_cfg, self.max_side, self.marker_radius, self.device,
                                  params=self.params)
        return run_model([s["image"] for s in batch], [s["points"] for s in batch],
                         [s.get("background") for s in batch])

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
