"""``make predict PROJECT=classification CKPT=... INPUT=folder/``: a CSV of top-3 predictions per image."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from projects.classification.module import ClassificationModule
from shared.augment import build_transforms
from shared.predict import load_images, require_checkpoint, require_input_folder, write_csv_atomic


def run(cfg: DictConfig) -> Path:
    ckpt = require_checkpoint(cfg)
    files = require_input_folder(cfg)
    module = ClassificationModule.load_from_checkpoint(ckpt, map_location="cpu").eval()
    size = cfg.data.image_size
    transform = build_transforms("eval", size)
    images, failed = load_images(files)
    rows: list[list] = []
    batch = 32
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            chunk = images[start:start + batch]
            x = torch.stack([transform(image=img)["image"] for _, img in chunk])
            probs = module(x).softmax(dim=1)
            top_p, top_i = probs.topk(min(3, probs.shape[1]), dim=1)
            for (path, _), p, i in zip(chunk, top_p.tolist(), top_i.tolist()):
                names = [module.class_names[k] for k in i]
                top3 = ";".join(f"{n}:{q:.3f}" for n, q in zip(names, p))
                rows.append([str(path), names[0], f"{p[0]:.4f}", top3, ""])
    rows += [[str(path), "", "", "", reason] for path, reason in failed]
    out = Path(cfg.output) if cfg.get("output") else Path(cfg.paths.output_dir) / "predictions.csv"
    write_csv_atomic(out, ["file", "prediction", "confidence", "top3", "error"], rows)
    print(f"{len(rows) - len(failed)} images predicted, {len(failed)} unreadable -> {out}")
    return out
