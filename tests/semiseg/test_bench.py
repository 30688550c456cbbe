"""``make bench PROJECT=semiseg`` on a tiny model: every key the issue names, plausible values."""

import json

from projects.semiseg import bench
from shared.config import compose
from tests.bench_checks import ratio_within_rounding

TINY_BENCH = ["model.features=8", "model.out_channels=[8,8,8,8]", "bench.batch_size=2", "bench.crop_size=32",
              "bench.repeats=1", "bench.warmup=0", "bench.loader_batches=1", "data.num_workers=0"]


def test_bench_writes_every_key(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "child_peak_rss", lambda method, overrides: 123.0)
    cfg = compose("semiseg", [*TINY_BENCH, f"bench.output={tmp_path / 'semiseg.json'}"], task="bench")
    out = json.loads(bench.run(cfg).read_text())
    for key in ("step_s_supervised", "step_s_unimatch_v2", "step_s_mvpmatch", "loader_imgs_per_s"):
        assert out[key] > 0, key
    # The ratio is taken before the step times are rounded to 4 decimals: it lies within that rounding.
    assert ratio_within_rounding(out["ratio_mvpmatch_over_unimatch_v2"], out["step_s_mvpmatch"],
                                 out["step_s_unimatch_v2"])
    assert set(out["peak_rss_mb"]) == {"supervised", "unimatch_v2", "mvpmatch"} and out["device"]
    assert out["images_per_step"] == 4  # 2 labelled + 2 unlabelled


def test_child_process_reports_its_own_peak_memory():
    cfg = compose("semiseg", TINY_BENCH, task="bench")
    rss = bench.child_peak_rss("supervised", bench.bench_overrides(cfg))
    assert 50 < rss < 20_000
