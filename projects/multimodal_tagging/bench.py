"""``make bench PROJECT=multimodal_tagging``: train-step time per batch and inference items/s of the
full model vs image-only, and of the full model on the ImageNet-pretrained Lite0 encoder
(``experiment=fashion_tags_lite0``: at ``bench.lite0_image_size``, its step with the encoder frozen as in
stages 1-2 and with everything training as in stage 3), title-embedding throughput of the frozen text
encoder, KNN propagation time over a whole train set, device; ONNX Runtime beside PyTorch eager for the
exported full models at batch 1 and 32 (``bench_onnx.py``).

Same batch, resolution and thread count for both models, measured in one process: warm-up, then the
median of timed repeats, the models interleaved so machine noise hits both alike. Inputs are random
tensors of the real shapes (synthetic schema); the KNN set has the size of the fashion_tags train split.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from projects.multimodal_tagging.bench_onnx import ort_throughput
from projects.multimodal_tagging.module import TaggingModule
from projects.multimodal_tagging.text import TextEncoder
from projects.multimodal_tagging.weak.knn import propagate
from shared.bench import inference_call, interleaved_seconds, peak_rss_mb, write_results
from shared.lightning_utils import count_parameters


def _batch(module: TaggingModule, b: DictConfig, text_len: int, image_size: int) -> dict[str, torch.Tensor]:
    n = int(b.batch_size)
    industry = torch.zeros(n, module.schema.industry_dim)
    industry[:, 0] = 1
    return {"image": torch.randn(n, 3, image_size, image_size),
            "text_tokens": torch.randn(n, text_len, int(module.hparams.model["text"]["dim"])).half(),
            "text_mask": torch.ones(n, text_len, dtype=torch.bool), "industry": industry,
            "index": torch.arange(n)}


def _train_step(module: TaggingModule, batch: dict, optimizer: torch.optim.Optimizer, frozen_encoder: bool = False):
    if frozen_encoder:
        module.net.image_encoder.requires_grad_(False)

    def step() -> None:
        module.train()
        if frozen_encoder:
            module.net.image_encoder.eval()   # as ProgressiveTraining runs a frozen group
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            module(batch), module.train_targets[batch["index"]], weight=module.train_weights[batch["index"]])
        loss.backward()
        optimizer.step()

    return step


def run(cfg: DictConfig) -> Path:
    b = cfg.bench
    torch.manual_seed(0)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    model_cfg["image"].update(OmegaConf.to_container(b.image, resolve=True) if b.get("image") else {})
    lite0 = {**model_cfg, "image": {**model_cfg["image"], "arch": "tf_efficientnet_lite0",
                                    "pretrained": "packaged:efficientnet_lite0"}}
    size, lite0_size = int(b.image_size), int(b.lite0_image_size)
    variants = {   # key -> model config, image size, image encoder frozen
        "full": (model_cfg, size, False),
        "image_only": ({**model_cfg, "fusion": "concat", "use_text": False, "use_industry": False}, size, False),
        "full_lite0": (lite0, lite0_size, False),
        "full_lite0_frozen_encoder": (lite0, lite0_size, True),
    }
    results: dict = {"load_avg_1min_at_start": round(os.getloadavg()[0], 2), "batch_size": b.batch_size,
                     "image_size": b.image_size, "lite0_image_size": lite0_size,
                     "image_encoder": model_cfg["image"]["arch"], "text_max_length": model_cfg["text"]["max_length"],
                     "repeats": b.repeats}
    modules, train_fns, infer_fns = {}, {}, {}
    for key, (mcfg, image_size, frozen) in variants.items():
        module = TaggingModule(mcfg, cfg.optim, dataset="synthetic", memory_format=cfg.module.memory_format)
        n = int(b.batch_size)
        t = module.schema.num_tags
        module.set_train_targets(torch.randint(0, 2, (n, t)).float(), torch.ones(n, t))
        batch = _batch(module, b, int(model_cfg["text"]["max_length"]), image_size)
        modules[key] = module
        train_fns[key] = _train_step(module, batch, torch.optim.AdamW(module.parameters(), lr=1e-4), frozen)
        if not frozen:   # inference does not care whether the encoder trains
            infer_fns[key] = inference_call(module, batch)
            results[f"params_{key}"] = count_parameters(module.net)
    for key, s in interleaved_seconds(train_fns, b.repeats, b.warmup).items():
        results[f"train_step_s_per_batch_{key}"] = round(s, 4)
    for key, s in interleaved_seconds(infer_fns, b.repeats, b.warmup).items():
        results[f"infer_items_per_s_{key}"] = round(b.batch_size / s, 1)
    results["infer_speed_ratio_image_only_over_full"] = round(
        results["infer_items_per_s_image_only"] / results["infer_items_per_s_full"], 3)

    encoder = TextEncoder(model_cfg["text"]["path"], int(model_cfg["text"]["max_length"]), model_cfg["text"]["pooling"])
    titles = [f"brand {i} men blue cotton casual t-shirt with round neck" for i in range(int(b.num_titles))]
    encoder.encode(titles[:32])
    start = time.perf_counter()
    encoder.encode(titles)
    results["text_embed_titles_per_s"] = round(len(titles) / (time.perf_counter() - start), 1)

    rng = np.random.default_rng(0)
    n, dim, tags = int(b.knn_items), int(model_cfg["dim"]), modules["full"].schema.num_tags
    embedding = rng.normal(size=(n, dim)).astype(np.float32)
    precise = rng.random(n) < float(b.knn_precise_fraction)
    labels = (rng.random((n, tags)) < 0.2).astype(np.float32)
    start = time.perf_counter()
    propagate(embedding[precise], labels[precise], embedding[~precise], k=int(cfg.weak.knn_k),
              threshold=float(cfg.weak.knn_threshold))
    results["knn_propagation_s"] = round(time.perf_counter() - start, 4)
    results["knn_items"] = n
    results["knn_precise_items"] = int(precise.sum())
    results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    results.update(ort_throughput({"full": (modules["full"], size), "full_lite0": (modules["full_lite0"], lite0_size)},
                                  int(model_cfg["text"]["max_length"]), int(b.repeats), int(b.warmup)))
    return write_results(b.output, results)
