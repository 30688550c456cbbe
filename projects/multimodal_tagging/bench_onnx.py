"""ONNX Runtime (CPU) beside PyTorch eager for the exported tagger (``make bench``'s ``ort_*`` keys).

Each model is exported as ``make export`` exports it (normalisation inside, the inputs it reads) into a
temporary folder, then timed at batch 1 and 32 on the same random inputs, eager and ONNX Runtime
interleaved (warm-up, median of repeats). Products per second; the title encoder is not included (its
features are the same input for both). The process's peak RSS after the ONNX sessions ran is reported as
``ort_peak_rss_mb`` (one process: it covers the PyTorch models too).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from projects.multimodal_tagging.models.outputs import inference_model
from shared.bench import interleaved_seconds, peak_rss_mb
from shared.export import OnnxModel, to_onnx
from shared.inference import InferenceSpec

BATCHES = (1, 32)


def random_inputs(module: Any, names: list[str], batch: int, size: int, text_len: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    industry = np.zeros((batch, module.schema.industry_dim), dtype=np.float32)
    industry[:, 0] = 1
    feed = {"image": rng.uniform(0, 255, (batch, 3, size, size)).astype(np.float32),
            "text_tokens": rng.normal(size=(batch, text_len, int(module.hparams.model["text"]["dim"])))
            .astype(np.float32),
            "text_mask": np.ones((batch, text_len), dtype=bool), "industry": industry}
    return {n: feed[n] for n in names}


def ort_throughput(models: dict[str, tuple[Any, int]], text_len: int, repeats: int, warmup: int) -> dict[str, float]:
    """``models``: key -> (TaggingModule, image size). Keys ``eager_images_per_s_<key>_b<n>`` and
    ``ort_images_per_s_<key>_b<n>``, and ``ort_peak_rss_mb``."""
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tagger-onnx-") as tmp:
        for key, (module, size) in models.items():
            spec = InferenceSpec("multimodal_tagging", tuple(module.tag_names), size)
            model, names = inference_model(module.net.eval(), spec)
            path = to_onnx(model, tuple(torch.from_numpy(a) for a in random_inputs(module, names, 2, size,
                                                                                    text_len).values()),
                           Path(tmp) / f"{key}.onnx", names, ["probabilities"])
            session = OnnxModel.session_only(path).session
            for batch in BATCHES:
                feed = random_inputs(module, names, batch, size, text_len)
                tensors = [torch.from_numpy(a) for a in feed.values()]

                def eager(model=model, tensors=tensors) -> None:
                    with torch.inference_mode():
                        model(*tensors)

                def ort(session=session, feed=feed) -> None:
                    session.run(None, feed)

                seconds = interleaved_seconds({"eager": eager, "ort": ort}, repeats, warmup)
                for runtime, s in seconds.items():
                    results[f"{runtime}_images_per_s_{key}_b{batch}"] = round(batch / s, 1)
    results["ort_peak_rss_mb"] = round(peak_rss_mb(), 1)
    return results
