"""``make bench PROJECT=quality``: audit throughput (images/s, decoding and thumbnails included) for
``timm_iqa``, ``seed_cnn`` and ``classical`` on this machine, peak memory, device.

The timed unit is exactly what ``make audit`` does per folder (:func:`projects.quality.audit.audit_folder`):
decode each file, make its report thumbnail, resize to 128x96, score in batches. The files are real
``fashion_products`` JPEGs (225x300) when the data root is present, else synthetic 300x225 JPEGs
(``images_source`` says which). Weights are freshly initialised: throughput does not depend on them.
Models are timed in turn each round (interleaved), median of ``repeats`` rounds after ``warmup``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import cv2
import torch
from omegaconf import DictConfig
from PIL import Image

from projects.quality.audit import audit_folder
from projects.quality.models import count_parameters
from projects.quality.module import QualityModule
from shared.bench import interleaved_seconds, peak_rss_mb, write_results
from shared.data.synthetic import SyntheticSpec, make_sample
from shared.paths import data_root

SIZE = [128, 96]
MODELS = {
    "timm_iqa": {"name": "timm_iqa", "kind": "timm_iqa", "arch": "mobilenetv3_small_100", "dropout": 0.2},
    "seed_cnn": {"name": "seed_cnn", "kind": "seed_cnn"},
    "classical": {"name": "classical", "kind": "classical",
                  "calibration": str(Path(__file__).with_name("classical_calibration.json"))},
}


def make_folder(folder: Path, count: int, root: Path | None = None) -> str:
    """Fill ``folder`` with ``count`` JPEGs; returns where they came from."""
    source = (root or data_root()) / "fashion_products" / "images"
    photos = sorted(source.glob("*.jpg"))[:count] if source.is_dir() else []
    if len(photos) == count:
        for p in photos:
            shutil.copy(p, folder / p.name)
        return f"fashion_products JPEGs ({source})"
    for i in range(count):
        image = make_sample(0, i, SyntheticSpec(image_size=300)).image
        Image.fromarray(cv2.resize(image, (225, 300))).save(folder / f"synthetic_{i:04d}.jpg", quality=90)
    return "synthetic 225x300 JPEGs (real data not found)"


def run(cfg: DictConfig) -> Path:
    b = cfg.bench
    torch.manual_seed(0)
    modules = {k: QualityModule(m, SIZE).eval() for k, m in MODELS.items()}
    results: dict = {"images": b.images, "batch_size": b.batch_size, "image_size_hw": SIZE, "repeats": b.repeats,
                     "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["images_source"] = make_folder(folder, b.images)
        files = sorted(folder.glob("*.jpg"))

        def audit(module: QualityModule):
            return lambda: audit_folder(module, files, folder, batch_size=b.batch_size, progress=False)

        times = interleaved_seconds({k: audit(m) for k, m in modules.items()}, b.repeats, b.warmup)
    for key, seconds in times.items():
        results[f"audit_imgs_per_s_{key}"] = round(b.images / seconds, 1)
        results[f"params_{key}"] = count_parameters(modules[key].net)
    results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if torch.cuda.is_available():
        results["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return write_results(b.output, results)
