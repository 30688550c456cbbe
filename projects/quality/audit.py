"""``make audit INPUT=folder/ CKPT=...``: score every file of a folder; write ``audit.csv`` and ``report.html``.

* Every regular file under the folder (recursively, hidden files skipped) is tried: photos of any
  size in JPEG / PNG / WebP / BMP / TIFF are decoded (upright per EXIF, 16-bit scaled) one at a time
  and resized to the model's input size; a corrupt file or a non-image file becomes an error row (in
  the CSV and the report) and never stops the audit.
* The model (:class:`projects.quality.api.Predictor`, the Python API's class): ``CKPT=`` a Lightning
  checkpoint of ``seed_cnn`` / ``timm_iqa``, its ONNX export (``model.onnx``) or a
  ``classical_calibration.json`` (written by ``make train ... model=classical``); with no ``CKPT``, the
  shipped default model (``projects/quality/default_model/``), or with ``model=classical`` the committed
  calibration ``projects/quality/classical_calibration.json``.
* ``audit.csv``: ``file, score, accept, p_reject, top_defects, width, height, error``, rows sorted from
  the worst score to the best, error rows last; written atomically. ``report.html``: one
  self-contained page (inline thumbnails) with the same order and the defect reasons.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from projects.quality.api import Predictor
from projects.quality.report import AuditRow, thumbnail_data_uri, write_report
from shared.datasets.io import require_dir
from shared.errors import ConfigError
from shared.export import is_onnx, read_model_json
from shared.files import write_csv_atomic
from shared.inference import InferenceSpec, apply_spec, read_spec
from shared.paths import REPO_ROOT
from shared.predict import drop_unused_run_folder, output_folder, stream_images

DEFAULT_CALIBRATION = REPO_ROOT / "projects" / "quality" / "classical_calibration.json"
HEADER = ["file", "score", "accept", "p_reject", "top_defects", "width", "height", "error"]


def list_files(folder: str | Path) -> list[Path]:
    """Every regular, non-hidden file under ``folder`` (images or not: non-images become error rows)."""
    folder = require_dir(folder, "input", "Pass INPUT=folder/ with the photos to audit.")
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def load_predictor(cfg: DictConfig) -> Predictor:
    """The model to score with: ``CKPT=`` a checkpoint, an exported ``model.onnx`` or a classical calibration
    JSON; without ``CKPT``, the committed classical calibration for ``model=classical`` and the shipped
    default model otherwise. A command-line value that contradicts a checkpoint is refused."""
    ckpt = cfg.get("ckpt_path")
    if ckpt and str(ckpt).endswith(".json"):
        return Predictor.classical(ckpt, cfg.model.get("z_threshold", 3.0), cfg.data.image_size)
    if ckpt:
        if not Path(ckpt).is_file():
            raise ConfigError(f"checkpoint not found: {ckpt}")
        if is_onnx(ckpt):
            apply_spec(cfg, InferenceSpec.from_dict(read_model_json(ckpt)["spec"], str(ckpt)), ckpt)
            return Predictor.from_onnx(ckpt, **_reasons(cfg))
        apply_spec(cfg, read_spec(ckpt), ckpt)
        return Predictor.from_checkpoint(ckpt, **_reasons(cfg))
    if cfg.model.kind == "classical":
        return Predictor.classical(DEFAULT_CALIBRATION, cfg.model.get("z_threshold", 3.0), cfg.data.image_size,
                                   **_reasons(cfg))
    return Predictor.default(**_reasons(cfg))


def _reasons(cfg: DictConfig) -> dict[str, float]:
    return {"defect_threshold": cfg.audit.defect_threshold, "top_defects": cfg.audit.top_defects}


def audit_folder(predictor: Predictor, files: list[Path], root: Path, batch_size: int = 32,
                 thumb_size: int = 112, progress: bool = True) -> list[AuditRow]:
    """Score ``files`` in batches; decoding errors become error rows. Returns rows in file order.

    Streamed: each photo is decoded, reduced to its thumbnail and its model-size array, and dropped
    before the next file is read (memory does not grow with the folder or the photos' size)."""
    rows: list[AuditRow] = []
    pending: list[tuple[AuditRow, np.ndarray]] = []

    def prepare(_: Path, image: np.ndarray) -> tuple[int, int, str, np.ndarray]:
        height, width = image.shape[:2]
        return width, height, thumbnail_data_uri(image, thumb_size), predictor.prepare(image)

    def flush() -> None:
        if not pending:
            return
        results = predictor.results(predictor.outputs(np.stack([x for _, x in pending])))
        for (row, _), result in zip(pending, results):
            row.score, row.p_reject = result["score"], result["p_reject"]
            row.accept = result["verdict"] == "accept"
            row.defects = result["reasons"]
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
    predictor = load_predictor(cfg)
    out = output_folder(cfg)
    a = cfg.audit
    start = time.perf_counter()
    rows = sort_worst_first(audit_folder(predictor, files, root, a.batch_size, a.thumb_size, a.progress))
    seconds = time.perf_counter() - start
    write_csv_atomic(out / "audit.csv", HEADER, [r.csv() for r in rows])
    model = f"{predictor.spec.model.get('name', 'model')} ({predictor.source})"
    write_report(out / "report.html", rows, folder=str(root), model=model, seconds=seconds,
                 has_defects=predictor.has_reasons)
    drop_unused_run_folder(cfg)
    bad = sum(1 for r in rows if r.error)
    rejected = sum(1 for r in rows if not r.error and not r.accept)
    print(f"{len(rows) - bad} images scored ({rejected} rejected), {bad} errors, {seconds:.1f} s "
          f"-> {out / 'audit.csv'}, {out / 'report.html'}")
    return out
