"""``make bench PROJECT=semiseg`` on a tiny model: it times the real training step (the Trainer with the
method's shared.callbacks) and writes the committed result file's keys, with values of the right kind."""

import json
from pathlib import Path

import pytest
import torch

from projects.semiseg import bench
from shared.callbacks import EMATeacher, HistoricalCheckpointQueue
from shared.config import compose

TINY_BENCH = ["model.features=8", "model.out_channels=[8,8,8,8]", "bench.batch_size=2", "bench.crop_size=32",
              "bench.repeats=2", "bench.warmup=1", "bench.loader_batches=1", "data.num_workers=0",
              "bench.ort_batches=[1,2]", "bench.ort_size=32"]
COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "semiseg.json"


def _config(method: str):
    cfg = compose("semiseg", TINY_BENCH, task="bench")
    return cfg, bench.method_config(method, bench.bench_overrides(cfg))


@pytest.mark.slow   # make bench's code end to end, ONNX exports included
def test_bench_writes_the_committed_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "child_peak_rss", lambda method, overrides: 123.0)
    cfg = compose("semiseg", [*TINY_BENCH, f"bench.output={tmp_path / 'semiseg.json'}"], task="bench")
    out = json.loads(bench.run(cfg).read_text())
    committed = json.loads(COMMITTED.read_text())
    runtimes = ("ort_images_per_s_", "eager_images_per_s_")   # the batch sizes differ: b1, b2 here, b1, b32 there
    assert {k for k in out if not k.startswith(runtimes)} == {k for k in committed if not k.startswith(runtimes)}
    assert {k.rsplit("_b", 1)[0] for k in committed if k.startswith(runtimes)} == {
        "ort_images_per_s_segmenter", "eager_images_per_s_segmenter"}
    assert all(out[f"{r}segmenter_b{n}"] > 0 for r in runtimes for n in (1, 2))
    assert set(out["peak_rss_mb"]) == set(committed["peak_rss_mb"]) == set(bench.METHODS)
    timed = [k for k in out if k.startswith(("step_s_", "step_cpu_s_", "ratio_", "cpu_ratio_", "imgs_per_s_",
                                              "loader_"))]
    assert len(timed) == 16 and all(isinstance(out[k], float) and out[k] > 0 for k in timed), timed
    assert out["images_per_step"] == 4 and out["repeats"] == 2 and out["model"] == "efficientnet_lite0"  # 2 + 2 images


@pytest.mark.slow   # the bench's step loop with every method's callbacks
def test_every_step_runs_the_methods_callbacks():
    """unimatch_v2: the EMA callback updates the teacher once per step; mvpmatch at K = Kmax: each step's
    historical ensemble is a draw of exactly queue_models models from the callback's queue."""
    cfg, v2 = _config("unimatch_v2")
    batch = bench.first_batch(v2)
    trainer = bench.MethodTrainer(v2, batch)
    assert [type(c) for c in trainer.callbacks] == [EMATeacher]
    trainer.run(2)
    trainer.run(2)
    ema = trainer.callbacks[0]
    assert ema.updates == 4 and len(trainer.clock.wall) == len(trainer.clock.cpu) == 4
    assert not all(torch.equal(a, b) for a, b in zip(ema.teacher.parameters(), trainer.module.net.parameters()))

    _, mvp = _config("mvpmatch")
    trainer = bench.MethodTrainer(mvp, batch, kmax_only=True)
    queue = next(c for c in trainer.callbacks if isinstance(c, HistoricalCheckpointQueue))
    draws = []
    draw = queue.draw
    queue.draw = lambda: draws.append(draw()) or draws[-1]
    trainer.run(2)
    assert len(queue) == cfg.bench.queue_models and trainer.module.history is queue
    assert [len(d.indices) for d in draws] == [cfg.bench.queue_models] * 2
    assert len(trainer.timed()["wall"]) == 1                    # one timed step per round of two


@pytest.mark.slow   # a child Python process that imports torch
def test_child_process_reports_its_own_peak_memory():
    cfg = compose("semiseg", TINY_BENCH, task="bench")
    rss = bench.child_peak_rss("supervised", bench.bench_overrides(cfg))
    assert 50 < rss < 20_000
