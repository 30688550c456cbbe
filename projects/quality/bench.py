"""``make bench PROJECT=quality``: audit throughput (images/s, decoding and thumbnails included) for
``timm_iqa``, ``timm_iqa_lite0`` (the default: ImageNet Lite0 weights), ``seed_cnn`` and ``classical`` on
this machine, peak memory, device.

The timed unit is exactly what ``make audit`` does per folder (:func:`projects.quality.audit.audit_folder`):
decode each file, make its report thumbnail, resize to 128x96, score in batches. The files are real
``fashion_products`` JPEGs (225x300) when the data root is present, else synthetic 300x225 JPEGs
(``images_source`` says which). Weights are freshly initialised (``timm_iqa_lite0``: the packaged ImageNet
weights, the input re-normalisation included): throughput does not depend on them.
Models are timed in turn each round (interleaved), median of ``repeats`` rounds after ``warmup``.
``audit_peak_rss_mb_<n>_photo(s)``: the peak memory of ``make audit`` (a child process) on ``n`` synthetic
camera-sized JPEGs (``bench.peak_rss_photos``, ``bench.peak_rss_photo_size``).
``ort_images_per_s_<model>_b1|b32`` / ``eager_images_per_s_<model>_b1|b32``: the network alone (no decoding)
as ``make export`` writes it, in ONNX Runtime (CPU) and in PyTorch eager, same threads and inputs.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import cv2
import torch
from omegaconf import DictConfig
from PIL import Image

from projects.quality.api import OUTPUTS, Predictor, module_spec
from projects.quality.audit import audit_folder
from projects.quality.export import heads_as_tuple
from projects.quality.module import QualityModule
from shared.bench import interleaved_seconds, peak_rss_mb, predict_peak_rss_mb, save_fresh_checkpoint, write_results
from shared.datasets.synthetic import SyntheticSpec, make_sample
from shared.export import with_preprocessing
from shared.lightning_utils import count_parameters
from shared.onnx_bench import throughput
from shared.paths import data_root

MODELS = {
    "timm_iqa": {"name": "timm_iqa", "kind": "timm_iqa", "arch": "mobilenetv3_small_100", "dropout": 0.2},
    "timm_iqa_lite0": {"name": "timm_iqa_lite0", "kind": "timm_iqa", "arch": "tf_efficientnet_lite0", "dropout": 0.2,
                       "pretrained": "packaged:efficientnet_lite0"},   # the default model (ImageNet weights)
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
    b, size = cfg.bench, list(cfg.benchmark_size)
    torch.manual_seed(0)
    modules = {k: QualityModule(m, size).eval() for k, m in MODELS.items()}
    results: dict = {"images": b.images, "batch_size": b.batch_size, "image_size_hw": size, "repeats": b.repeats,
                     "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["images_source"] = make_folder(folder, b.images)
        files = sorted(folder.glob("*.jpg"))

        def audit(module: QualityModule):
            predictor = Predictor.from_module(module)
            return lambda: audit_folder(predictor, files, folder, batch_size=b.batch_size, progress=False)

        times = interleaved_seconds({k: audit(m) for k, m in modules.items()}, b.repeats, b.warmup)
    for key, seconds in times.items():
        results[f"audit_imgs_per_s_{key}"] = round(b.images / seconds, 1)
        results[f"params_{key}"] = count_parameters(modules[key].net)
    results.update(ort_throughput(modules, size, b))
    results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if torch.cuda.is_available():
        results["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    results.update(audit_peak_rss(b, size))
    return write_results(b.output, results)


def ort_throughput(modules: dict[str, QualityModule], size: list[int], b: DictConfig) -> dict[str, float]:
    """``ort_images_per_s_<model>_b1|b32`` beside ``eager_images_per_s_<model>_b1|b32``: each network as
    ``make export`` writes it (normalisation inside, heads as outputs) in ONNX Runtime and in PyTorch."""
    chosen = {}
    for key, module in modules.items():
        if module.trainable:
            heads = [k for k in OUTPUTS if k in module.net.eval()(torch.zeros(1, 3, *size))]
            wrapped = with_preprocessing(heads_as_tuple(module.net, heads), module_spec(module))
            chosen[key] = (wrapped, heads)
    return throughput(chosen, size, int(b.repeats), int(b.warmup))


def audit_peak_rss(b: DictConfig, size: list[int]) -> dict:
    """Peak RSS of ``make audit`` (a timm_iqa checkpoint, fresh weights; a child process) on 1 and 100
    camera-sized JPEGs: the same peak for both shows the folder is streamed."""
    with tempfile.TemporaryDirectory() as tmp:
        module = QualityModule(MODELS["timm_iqa"], size, inference={"data": "bench"})
        ckpt = save_fresh_checkpoint(module, Path(tmp) / "timm_iqa.ckpt")

        def cli(folder: Path, out: Path) -> list[str]:
            return ["audit", "quality", f"ckpt_path={ckpt}", f"input={folder}", f"output={out}",
                    "audit.progress=false", f"paths.log_dir={Path(tmp) / 'runs'}"]

        peaks = predict_peak_rss_mb(cli, list(b.peak_rss_photos), list(b.peak_rss_photo_size), prefix="audit")
    return {"peak_rss_photo_size_wh": list(b.peak_rss_photo_size), **peaks}
