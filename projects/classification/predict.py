"""``make predict PROJECT=classification CKPT=... INPUT=folder/``: a CSV of top-3 predictions per image.

``CKPT`` is a checkpoint or an exported ``model.onnx`` (same output file). Size, normalisation and class
names come from it (:class:`projects.classification.api.Predictor`), never from today's ``data`` config; a
command-line value that contradicts it (``data.image_size=...``) is refused. The images are streamed
(decoded and resized one at a time, in batches of 32 model-size arrays), so memory does not grow with the
folder; one row per file, named by its path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from shared.api import load
from shared.files import write_csv_atomic
from shared.predict import (
    batches,
    drop_unused_run_folder,
    output_file,
    require_checkpoint,
    require_input_folder,
    stream_images,
)

BATCH = 32
HEADER = ["file", "prediction", "confidence", "top3", "error"]


def run(cfg: DictConfig) -> Path:
    ckpt = require_checkpoint(cfg)
    files = require_input_folder(cfg)
    predictor = load(ckpt, cfg)   # the command line checked against the file's spec
    stream = stream_images(files, lambda _, image: predictor.prepare(image))
    rows: list[list] = []
    failed: list[list] = []
    for chunk in batches(stream, BATCH):
        failed += [[str(item.path), "", "", "", item.error] for item in chunk if item.error]
        ok = [item for item in chunk if not item.error]
        if not ok:
            continue
        results = predictor.results(predictor.probabilities(np.stack([item.value for item in ok])))
        for item, result in zip(ok, results):
            top = ";".join(f"{name}:{p:.3f}" for name, p in result["top"])
            rows.append([str(item.path), result["label"], f"{result['score']:.4f}", top, ""])
    out = output_file(cfg, "predictions.csv")
    write_csv_atomic(out, HEADER, rows + failed)
    drop_unused_run_folder(cfg)
    print(f"{len(rows)} images predicted, {len(failed)} unreadable -> {out}")
    return out
