"""The bench's NoC keys: read from the SWEEP=noc runs (added to an existing results file, its other keys
kept) and measured by the protocol itself on one real GrabCut image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.config import compose
from shared.errors import DataError
from tests.variational_seg.test_noc_report import fake_noc_run

MODELS = ("wbh_colour", "cv2_grabcut")


def test_noc_keys_from_the_sweep_runs_are_added_to_the_results(run_project, tmp_path):
    for i, model in enumerate(MODELS):
        cfg = compose("variational_seg", ["+sweep=noc", f"model={model}", f"paths.log_dir={tmp_path}"],
                      return_hydra_config=True)
        fake_noc_run(cfg, Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir), i / 10)
    out = tmp_path / "bench.json"
    out.write_text(json.dumps({"dsc_ours": 0.61, "measured_at": "then"}))
    args = [f"bench.output={out}", "bench.only_noc=true", "bench.cutout_models=[]",
            "bench.noc_models=[wbh_colour,cv2_grabcut]", f"report.archive={tmp_path / 'archive'}"]
    run_project("variational_seg", args, task="bench")
    res = json.loads(out.read_text())
    assert res["dsc_ours"] == 0.61 and res["measured_at"] == "then" and res["noc_n_images"] == 50
    assert (res["noc85_wbh_colour"], res["noc90_wbh_colour"], res["nof90_wbh_colour"]) == (3.0, 5.0, 7)
    assert res["noc90_cv2_grabcut"] == 5.1 and res["s_per_click_cv2_grabcut"] == 0.05
    with pytest.raises(DataError, match="SWEEP=noc"):
        run_project("variational_seg", [*args[:3], "bench.noc_models=[tv]", f"report.archive={tmp_path / 'a'}"],
                    task="bench")


def test_noc_keys_measured_on_one_grabcut_image(run_project, shared_data, tmp_path):
    out = tmp_path / "bench.json"
    run_project("variational_seg", ["data=grabcut", "data.max_side=48", "bench.limit=1", "bench.noc=measure",
                                    "bench.only_noc=true", "bench.noc_models=[cv2_grabcut,wbh]", f"bench.output={out}",
                                    "bench.cutout_models=[wbh_colour_fullres]", "bench.cutout_clicks=2",
                                    "bench.cutout_repeats=2",
                                    "bench.cutout_sizes={1mp:[60,80],12mp:[45,60]}"], task="bench")
    res = json.loads(out.read_text())
    assert res["noc_n_images"] == 1 and "measured in this bench" in res["noc_setting"]
    assert res["s_per_click_1mp_wbh_colour_fullres"] > 0 and res["s_per_click_12mp_wbh_colour_fullres"] > 0
    assert res["s_first_click_1mp_wbh_colour_fullres"] > 0 and res["s_first_click_12mp_wbh_colour_fullres"] > 0
    assert "60x80, 45x60" in res["cutout_setting"] and "median over 2 runs" in res["cutout_setting"]
    for model in ("cv2_grabcut", "wbh"):
        assert 1 <= res[f"noc85_{model}"] <= res[f"noc90_{model}"] <= 20 and res[f"nof90_{model}"] in (0, 1)
        assert res[f"s_per_click_{model}"] > 0


def test_cut_out_keys_with_no_clicks_or_no_runs_name_the_key():
    from projects.variational_seg.bench_cutout import cutout_keys
    from shared.errors import ConfigError

    for key in ("bench.cutout_clicks=0", "bench.cutout_repeats=0"):
        with pytest.raises(ConfigError, match="bench.cutout_clicks and bench.cutout_repeats must be at least 1"):
            cutout_keys(compose("variational_seg", [key], task="bench"))


def test_a_u_net_in_the_cut_out_keys_without_a_trained_one_names_the_key():
    from projects.variational_seg.bench_cutout import cutout_keys
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match=r"names a U-Net \(unet_lite0\) but no trained one is here: give "
                                          r"bench.unet_ckpt"):
        cutout_keys(compose("variational_seg", ["bench.cutout_models=[wbh_colour,unet_lite0]"], task="bench"))
