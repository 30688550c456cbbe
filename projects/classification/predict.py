"""``make predict PROJECT=classification CKPT=... INPUT=folder/``: a CSV of top-3 predictions per image.

The images are streamed (decoded and resized one at a time, in batches of 32 model-size tensors), so
memory does not grow with the folder; one row per file, named by its path.
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from projects.classification.module import ClassificationModule
from shared.augment import build_transforms
from shared.checkpoints import load_module
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


def run(cfg: DictConfig) -> Path:
    ckpt = require_checkpoint(cfg)
    files = require_input_folder(cfg)
    module = load_module(ClassificationModule, ckpt).eval()
    size = cfg.data.image_size
    transform = build_transforms("eval", size)
    stream = stream_images(files, lambda _, image: transform(image=image)["image"])
    rows: list[list] = []
    failed: list[list] = []
    with torch.inference_mode():
        for chunk in batches(stream, BATCH):
            failed += [[str(item.path), "", "", "", item.error] for item in chunk if item.error]
            ok = [item for item in chunk if not item.error]
            if not ok:
                continue
            probs = module(torch.stack([item.value for item in ok])).softmax(dim=1)
            top_p, top_i = probs.topk(min(3, probs.shape[1]), dim=1)
            for item, p, i in zip(ok, top_p.tolist(), top_i.tolist()):
                names = [module.class_names[k] for k in i]
                top3 = ";".join(f"{n}:{q:.3f}" for n, q in zip(names, p))
                rows.append([str(item.path), names[0], f"{p[0]:.4f}", top3, ""])
    out = output_file(cfg, "predictions.csv")
    write_csv_atomic(out, ["file", "prediction", "confidence", "top3", "error"], rows + failed)
    drop_unused_run_folder(cfg)
    print(f"{len(rows)} images predicted, {len(failed)} unreadable -> {out}")
    return out
