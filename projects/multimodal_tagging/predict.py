"""``make predict PROJECT=multimodal_tagging CKPT=... INPUT=products.csv``, or ``INPUT=images/`` with
``ARGS="metadata=meta.csv"``.

``CKPT`` is a checkpoint or an exported ``model.onnx`` (the same output file): the tags, input size,
normalisation, threshold, category levels and title encoder come from it
(:class:`projects.multimodal_tagging.api.Predictor`, the Python API), never from today's config.

Two inputs: a products CSV in the training layout (``image`` relative to its folder or absolute,
``title``, optional ``industry``, ``category``; a ``tags`` column is ignored), or a folder of images
plus ``metadata``, a CSV with one row per image: ``id`` (the image file name without extension),
``title``, ``industry`` and ``category`` (the Fashion Product Images names ``productDisplayName``,
``masterCategory`` and ``subCategory`` are accepted too). Output: one row per image with the tags whose
probability passes the threshold, every tag's probability, and an error column for unreadable images.
A missing title column or an image without a metadata row is a clear error; an empty title is valid
text; a category never seen in training uses the "unknown" slot. The images are streamed (decoded and
resized one at a time), so memory does not grow with the folder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from projects.multimodal_tagging.datasets import match_images_to_metadata
from projects.multimodal_tagging.product_csv import read_products
from shared.api import load
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


def products_of(cfg: DictConfig) -> pd.DataFrame:
    """One row per product, in output order: title, industry, category (index: the image path)."""
    source = Path(str(cfg.get("input") or ""))
    if source.suffix.lower() == ".csv":
        table = read_products({"csv": str(source)}, need_tags=False)
        return pd.DataFrame({"title": table.titles, "industry": table.industry, "category": table.category},
                            index=[str(p) for p in table.images])
    files = require_input_folder(cfg)
    if not cfg.get("metadata"):
        raise ConfigError("predict needs the products' titles: pass INPUT=products.csv (columns image,title,...) "
                          "or metadata=meta.csv beside INPUT=folder/ (columns id,title,industry,category)")
    meta = read_product_metadata(cfg.metadata)
    match_images_to_metadata(files, set(meta.index), str(cfg.metadata))
    info = meta.loc[[f.stem for f in files]]
    info.index = [str(f) for f in files]
    return info


def run(cfg: DictConfig) -> Path:
    ckpt = require_checkpoint(cfg)
    products = products_of(cfg)
    predictor = load(ckpt, cfg)   # the command line checked against the file's spec
    names = predictor.tag_names
    stream = stream_images([Path(p) for p in products.index], lambda _, image: predictor.prepare(image))
    rows: list[list] = []
    failed: list[list] = []
    start = 0
    for chunk in batches(stream, BATCH):   # the stream keeps the products' order
        info = products.iloc[start:start + len(chunk)]
        start += len(chunk)
        failed += [[str(item.path), "", *([""] * len(names)), item.error] for item in chunk if item.error]
        keep = [i for i, item in enumerate(chunk) if not item.error]
        if not keep:
            continue
        ok, info = [chunk[i] for i in keep], info.iloc[keep]
        probs = predictor.probabilities([item.value for item in ok], list(info["title"]), list(info["industry"]),
                                        list(info["category"]))
        for item, p in zip(ok, probs.tolist()):
            rows.append([str(item.path), ";".join(predictor.tags_of(p)), *(f"{q:.4f}" for q in p), ""])
    out = output_file(cfg, "predictions.csv")
    write_csv_atomic(out, ["file", "tags", *names, "error"], rows + failed)
    drop_unused_run_folder(cfg)
    print(f"{len(rows)} products tagged, {len(failed)} unreadable -> {out}")
    return out
