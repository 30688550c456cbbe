"""GrabCut reader and protocol on the real files (skipped when ../shared/data is absent)."""

import numpy as np
import pytest

from projects.variational_seg.protocol import ground_truth, marker_points
from shared.datasets.registry import create_dataset
from shared.errors import ConfigError

pytestmark = pytest.mark.realdata


def test_grabcut_splits_and_samples(shared_data):
    val = create_dataset("grabcut", "val", root=shared_data)
    test = create_dataset("grabcut", "test", root=shared_data)
    assert len(val) == 10 and len(test) == 40 and not set(val.names) & set(test.names)
    with pytest.raises(ConfigError, match="no train split"):
        create_dataset("grabcut", "train", root=shared_data)
    sample = val[0]
    assert sample["image"].shape[:2] == sample["mask"].shape == sample["scribbles_set1"].shape
    assert set(np.unique(sample["mask"])) <= {0, 1, 255}
    gt, _ = ground_truth(sample)
    pts = marker_points(sample, "simulated", 3)
    assert len(pts) == 3 and gt[pts[:, 0], pts[:, 1]].all()
    scribbles = marker_points(sample, "scribbles_set1")
    assert len(scribbles) > 10 and gt[scribbles[:, 0], scribbles[:, 1]].all()  # set 1 is always inside


@pytest.mark.slow   # make bench over the GrabCut test images (real data): its own keys and the anchors'
def test_bench_writes_the_issue_and_anchor_keys(run_project, shared_data, tmp_path):
    out = tmp_path / "bench.json"
    run_project("variational_seg", ["data=grabcut", "data.max_side=48", "bench.limit=2", "bench.batch_size=2",
                                    "bench.batch_image_size=32", f"bench.output={out}",
                                    "bench.cutout_models=[]"], task="bench")   # the 1- / 12-MP cut-out: test_noc_bench
    import json

    res = json.loads(out.read_text())
    for key in ("s_per_image_ours", "s_per_image_skimage_chan_vese", "speedup_vs_skimage", "dsc_ours",
                "dsc_skimage_chan_vese", "mean_iterations_ours", "mean_iterations_rci", "mean_iterations_tv",
                "batched_imgs_per_s", "device"):
        assert key in res, key
    assert res["n_images"] == 2 and 0 <= res["dsc_ours"] <= 1 and res["batched_imgs_per_s"] > 0
    assert all(isinstance(res[k], float) and res[k] > 0 for k in ("s_per_image_ours", "s_per_image_skimage_chan_vese",
                                                                   "speedup_vs_skimage"))
    assert res["mean_iterations_ours_spec_solver"] >= 5 and 0 <= res["dsc_ours_spec_solver"] <= 1
    for name in ("wbh_colour", "wbh", "cv2_grabcut", "random_walker"):
        assert res[f"s_per_image_{name}"] > 0, name
        for k in (1, 3, 5):
            assert 0.0 <= res[f"dsc_{name}_k{k}"] <= 1.0, (name, k)
    assert res["dsc_wbh_k3"] == res["dsc_ours"]  # the same runs, the same images
    assert res["s_per_image_unet_lite0"].startswith("not measured: no trained U-Net")   # empty training cache


def test_time_pipeline_reports_every_stage_and_the_ratio(shared_data, monkeypatch, capsys):
    from projects.variational_seg.scripts import time_pipeline

    monkeypatch.setattr("sys.argv", ["time_pipeline", "--images", "1", "--repeats", "1"])
    time_pipeline.main()
    out = capsys.readouterr().out
    for stage in ("resize", "geodesic", "weights", "disks", "solve", "pipeline_min", "chan_vese_min"):
        assert f"{stage} " in out, stage
    assert "ms per iteration" in out and "speed ratio chan_vese / ours" in out
