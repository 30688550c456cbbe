"""``make audit INPUT=folder/ CKPT=...``: score every file of a folder; write ``audit.csv`` and ``report.html``.

* Every regular file under the folder (recursively, hidden files skipped) is tried: photos of any
  size in JPEG / PNG / WebP / BMP / TIFF are decoded (upright per EXIF, 16-bit scaled) one at a time
  and resized to the model's input size; a corrupt file or a non-image file becomes an error row (in
  the CSV and the report) and never stops the audit.
* The model: ``CKPT=`` a Lightning checkpoint of ``seed_cnn`` / ``timm_iqa``, or a
  ``classical_calibration.json`` (written by ``make eval ... model=classical``); with no ``CKPT`` and
  ``model=classical``, the committed calibration ``projects/quality/classical_calibration.json``.
* ``audit.csv``: ``file, score, accept, p_reject, top_defects, width, height, error``, rows sorted from
  the worst score to the best, error rows last; written atomically. ``report.html``: one
  self-contained page (inline thumbnails) with the same order and the defect reasons.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from projects.quality.datasets import resize_area
from projects.quality.degradations import DEFECTS
from projects.quality.module import QualityModule
from projects.quality.report import thumbnail_data_uri, write_report
from shared.augment import build_transforms
from shared.checkpoints import load_module
from shared.datasets.io import require_dir
from shared.errors import ConfigError
from shared.files import write_csv_atomic
from shared.paths import REPO_ROOT
from shared.predict import drop_unused_run_folder, output_folder, stream_images

DEFAULT_CALIBRATION = REPO_ROOT / "projects" / "quality" / "classical_calibration.json"
HEADER = ["file", "score", "accept", "p_reject", "top_defects", "width", "height", "error"]


@dataclass
class AuditRow:
    file: str
    score: float | None = None
    accept: bool | None = None
    p_reject: float | None = None
    defects: list[tuple[str, float]] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    error: str = ""
    thumb: str = ""

    def csv(self) -> list:
        if self.error:
            return [self.file, "", "", "", "", "", "", self.error]
        top = ";".join(f"{n}:{p:.2f}" for n, p in self.defects)
        return [self.file, f"{self.score:.4f}", int(bool(self.accept)), f"{self.p_reject:.4f}", top, self.width,
                self.height, ""]


def list_files(folder: str | Path) -> list[Path]:
    """Every regular, non-hidden file under ``folder`` (images or not: non-images become error rows)."""
    folder = require_dir(folder, "input", "Pass INPUT=folder/ with the photos to audit.")
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def load_scorer(cfg: DictConfig) -> tuple[QualityModule, str]:
    """The module to score with, and a description of where it came from."""
    ckpt = cfg.get("ckpt_path")
    if ckpt and str(ckpt).endswith(".json"):
        return _classical(cfg, ckpt), f"classical ({ckpt})"
    if ckpt:
        if not Path(ckpt).is_file():
            raise ConfigError(f"checkpoint not found: {ckpt}")
        module = load_module(QualityModule, ckpt)
        return module.eval(), f"{module.hparams.model['name']} ({ckpt})"
    if cfg.model.kind == "classical":
        return _classical(cfg, DEFAULT_CALIBRATION), f"classical ({DEFAULT_CALIBRATION.name})"
    raise ConfigError("audit needs a trained model: pass CKPT=path/to/last.ckpt (or ckpt_path=...), "
                      "or ARGS=model=classical for the no-weights baseline")


def _classical(cfg: DictConfig, calibration: str | Path) -> QualityModule:
    """The classical model at the working size its calibration was measured at (the measures depend
    on scale), falling back to the configured data size."""
    path = Path(calibration)
    saved = json.loads(path.read_text()) if path.is_file() else {}
    z = saved.get("z_threshold", cfg.model.get("z_threshold", 3.0))
    model = {"name": "classical", "kind": "classical", "z_threshold": z, "calibration": str(calibration)}
    size = saved.get("image_size") or cfg.data.image_size
    return QualityModule(model, list(size) if not isinstance(size, int) else size).eval()


def model_input(image: np.ndarray, size, transform) -> torch.Tensor:
    """Area-resize to the model size (as the benchmark images were made), normalise."""
    return transform(image=resize_area(image, size))["image"]


def audit_folder(module: QualityModule, files: list[Path], root: Path, batch_size: int = 32,
                 thumb_size: int = 112, top_defects: int = 3, defect_threshold: float = 0.5,
                 progress: bool = True) -> list[AuditRow]:
    """Score ``files`` in batches; decoding errors become error rows. Returns rows in file order.

    Streamed: each photo is decoded, reduced to its thumbnail and its model-size tensor, and dropped
    before the next file is read (memory does not grow with the folder or the photos' size)."""
    size = module.hparams.image_size
    transform = build_transforms("eval", size)
    names = module.hparams.get("defect_names", list(DEFECTS))
    rows: list[AuditRow] = []
    pending: list[tuple[AuditRow, torch.Tensor]] = []

    def prepare(_: Path, image: np.ndarray) -> tuple[int, int, str, torch.Tensor]:
        height, width = image.shape[:2]
        return width, height, thumbnail_data_uri(image, thumb_size), model_input(image, size, transform)

    def flush() -> None:
        if not pending:
            return
        pred = module.predict_batch(torch.stack([x for _, x in pending]))
        for k, (row, _) in enumerate(pending):
            row.score, row.p_reject = float(pred["score"][k]), float(pred["p_reject"][k])
            row.accept = not bool(pred["reject"][k])
            if pred["p_defects"] is not None:
                probs = [(n, float(p)) for n, p in zip(names, pred["p_defects"][k].tolist()) if p == p]
                probs = [(n, p) for n, p in sorted(probs, key=lambda t: -t[1]) if p >= defect_threshold]
                row.defects = probs[:top_defects]
        pending.clear()

    columns = [TextColumn("auditing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("audit", total=len(files))
        for item in stream_images(files, prepare):
            row = AuditRow(item.path.relative_to(root).as_posix())
            rows.append(row)
            if item.error:
                row.error = item.error.replace(str(item.path), row.file)
            else:
                row.width, row.height, row.thumb, x = item.value
                pending.append((row, x))
            if len(pending) >= batch_size:
                flush()
            bar.advance(task)
        flush()
    return rows


def sort_worst_first(rows: list[AuditRow]) -> list[AuditRow]:
    scored = sorted((r for r in rows if not r.error), key=lambda r: (r.score, r.file))
    return scored + [r for r in rows if r.error]


def run(cfg: DictConfig) -> Path:
    if not cfg.get("input"):
        raise ConfigError("audit needs a folder of images: pass INPUT=folder/ (or input=...)")
    root = Path(cfg.input).resolve()
    files = list_files(root)
    module, source = load_scorer(cfg)
    out = output_folder(cfg)
    a = cfg.audit
    start = time.perf_counter()
    rows = sort_worst_first(audit_folder(module, files, root, a.batch_size, a.thumb_size, a.top_defects,
                                         a.defect_threshold, a.progress))
    seconds = time.perf_counter() - start
    write_csv_atomic(out / "audit.csv", HEADER, [r.csv() for r in rows])
    write_report(out / "report.html", rows, folder=str(root), model=source, seconds=seconds,
                 has_defects=module.kind != "seed_cnn")
    drop_unused_run_folder(cfg)
    bad = sum(1 for r in rows if r.error)
    rejected = sum(1 for r in rows if not r.error and not r.accept)
    print(f"{len(rows) - bad} images scored ({rejected} rejected), {bad} errors, {seconds:.1f} s "
          f"-> {out / 'audit.csv'}, {out / 'report.html'}")
    return out
