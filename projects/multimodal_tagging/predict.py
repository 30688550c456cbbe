"""``make predict PROJECT=multimodal_tagging CKPT=... INPUT=images/ ARGS="metadata=products.csv"``.

``metadata`` is a CSV with one row per image: ``id`` (the image file name without extension),
``title``, ``industry`` and ``category`` (the Fashion Product Images names ``productDisplayName``,
``masterCategory`` and ``subCategory`` are accepted too). Output: one row per image with the tags
whose probability is >= the module's threshold, every tag's probability, and an error column for
unreadable images. A missing title column or an image without a metadata row is a clear error; an
empty title is valid text; a category never seen in training uses the "unknown" slot. The images are
streamed (decoded and resized one at a time), so memory does not grow with the folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from projects.multimodal_tagging.datasets import match_images_to_metadata
from projects.multimodal_tagging.module import TaggingModule
from projects.multimodal_tagging.text import TextEncoder
from shared.augment import build_transforms
from shared.checkpoints import load_module
from shared.errors import ConfigError, DataError
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
ALIASES = {"productDisplayName": "title", "masterCategory": "industry", "subCategory": "category"}


def read_product_metadata(path: str | Path) -> pd.DataFrame:
    """id/title/industry/category as text, indexed by id; DataError for a missing file or column."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"metadata file not found: {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False).rename(columns=ALIASES)
    for column in ("id", "title"):
        if column not in df.columns:
            raise DataError(f"{path}: no {column!r} column (columns: {list(df.columns)}); the tagger needs the "
                            f"product title ('title' or 'productDisplayName'; an empty value is fine)")
    for column in ("industry", "category"):
        if column not in df.columns:
            df[column] = ""  # -> the unknown slot of that level
    return df.drop_duplicates("id").set_index("id")


def run(cfg: DictConfig) -> Path:
    ckpt = require_checkpoint(cfg)
    files = require_input_folder(cfg)
    if not cfg.get("metadata"):
        raise ConfigError("predict needs the products' titles: pass metadata=products.csv (columns id,title,"
                          "industry,category)")
    meta = read_product_metadata(cfg.metadata)
    match_images_to_metadata(files, set(meta.index), str(cfg.metadata))
    module = load_module(TaggingModule, ckpt).eval()
    text_cfg = module.hparams.model["text"]
    encoder = TextEncoder(text_cfg.get("path"), int(text_cfg["max_length"]), str(text_cfg["pooling"]))
    transform = build_transforms("eval", int(module.hparams.get("image_size") or cfg.data.image_size))
    stream = stream_images(files, lambda _, image: transform(image=image)["image"])
    names, threshold = module.tag_names, float(module.hparams.threshold)
    rows: list[list] = []
    failed: list[list] = []
    with torch.inference_mode():
        for chunk in batches(stream, BATCH):
            failed += [[str(item.path), "", *([""] * len(names)), item.error] for item in chunk if item.error]
            ok = [item for item in chunk if not item.error]
            if not ok:
                continue
            info = meta.loc[[item.path.stem for item in ok]]
            tokens, mask, _ = encoder.encode(list(info["title"]))
            industry = np.stack([module.schema.encode_industry(i, c)
                                 for i, c in zip(info["industry"], info["category"])])
            batch = {"image": torch.stack([item.value for item in ok]),
                     "text_tokens": tokens, "text_mask": mask, "industry": torch.from_numpy(industry)}
            probs = module(batch).sigmoid()
            for item, p in zip(ok, probs.tolist()):
                on = [f"{n}" for n, q in zip(names, p) if q >= threshold]
                rows.append([str(item.path), ";".join(on), *(f"{q:.4f}" for q in p), ""])
    out = output_file(cfg, "predictions.csv")
    write_csv_atomic(out, ["file", "tags", *names, "error"], rows + failed)
    drop_unused_run_folder(cfg)
    print(f"{len(rows)} images tagged, {len(failed)} unreadable -> {out}")
    return out
