"""ONNX Runtime CPU throughput beside PyTorch eager, for ``make bench`` (keys
``ort_images_per_s_<model>_b<batch>`` and ``eager_images_per_s_<model>_b<batch>``).

Each model is what ``make export`` writes: the network behind :func:`shared.export.with_preprocessing`
(input float32 RGB 0..255), exported with :func:`shared.export.to_onnx`. Both runtimes get the same thread
count (torch's), the same inputs, and are timed interleaved (:func:`shared.bench.interleaved_seconds`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BATCHES = (1, 32)


def ort_session(path: str | Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def throughput(models: dict[str, tuple[Any, Sequence[str]]], size_hw: Sequence[int], repeats: int = 3,
               warmup: int = 1, batches: Sequence[int] = BATCHES, channels_last: bool = False) -> dict[str, float]:
    """``models``: key -> (the wrapped network, its output names). Images per second of both runtimes at
    each batch size; ``channels_last``: PyTorch gets its input in that layout (as predict feeds a network
    whose weights are channels-last)."""
    import torch

    from shared.bench import inference_call, interleaved_seconds
    from shared.export import to_onnx

    h, w = int(size_hw[0]), int(size_hw[1])
    threads = torch.get_num_threads()
    calls: dict[str, Callable[[], Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, (model, outputs) in models.items():
            path = to_onnx(model, (torch.rand(1, 3, h, w) * 255,), Path(tmp) / f"{key}.onnx", ["image"], outputs)
            session = ort_session(path, threads)
            for batch in batches:
                x = torch.rand(batch, 3, h, w) * 255
                feed = {"image": x.numpy()}
                calls[f"ort_{key}_b{batch}"] = lambda session=session, feed=feed: session.run(None, feed)
                eager_x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
                calls[f"eager_{key}_b{batch}"] = inference_call(model, eager_x)
        seconds = interleaved_seconds(calls, repeats, warmup)
    out: dict[str, float] = {"ort_threads": threads}
    for name, s in seconds.items():
        runtime, rest = name.split("_", 1)
        key, batch = rest.rsplit("_b", 1)
        out[f"{runtime}_images_per_s_{key}_b{batch}"] = round(int(batch) / s, 2)
    return out
