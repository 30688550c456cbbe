"""``make report`` fills the NoC tables and the curve from the runs of ``SWEEP=noc`` (fake run folders made
from the sweep's own job configs), with the published rows as text and the methods without background
input marked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from projects.variational_seg.report import run as report_run
from shared.config import compose
from shared.paths import CONFIG_ROOT, REPO_ROOT
from shared.report.readme import markers

MODELS = ("wbh_colour_fullres", "wbh_colour_spread", "wbh_colour", "wbh_colour_clicks", "cv2_grabcut", "random_walker",
          "wbh", "rci", "tv")


def fake_noc_run(cfg, run_dir: Path, offset: float) -> None:
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), run_dir / ".hydra" / "config.yaml")
    metrics = {"max_clicks": 20, "negative_clicks_used": 1}
    for prefix, n in (("all", 50), ("test", 40)):
        metrics.update({f"{prefix}/n": n, f"{prefix}/noc85": 3 + offset, f"{prefix}/noc90": 5 + offset,
                        f"{prefix}/nof85": 2, f"{prefix}/nof90": 7, f"{prefix}/s_per_click": 0.05,
                        f"{prefix}/worse_share": 0.1})
        metrics.update({f"{prefix}/iou_at_{k}": min(1.0, 0.6 + offset / 10 + k / 100) for k in range(1, 21)})
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


@pytest.mark.slow   # 7 Hydra compositions and a figure
def test_noc_sweep_runs_fill_the_noc_tables_and_curve(tmp_path):
    for i, model in enumerate(MODELS):
        cfg = compose("variational_seg", ["+sweep=noc", f"model={model}", f"paths.log_dir={tmp_path}"],
                      return_hydra_config=True)
        assert cfg.noc.max_clicks == 20 and cfg.data.options.subset == "all" and cfg.data.name == "grabcut"
        run_dir = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
        assert run_dir.parent.name == "noc" and run_dir.name == model
        fake_noc_run(cfg, run_dir, i / 10)
    for name in ("wbh_colour_extent", "wbh_colour_extent_later"):   # one run per trained net (SWEEP=noc_extent)
        for seed in range(3):
            weights = f"projects/variational_seg/weights/extent_lite0_s{seed}.safetensors"
            cfg = compose("variational_seg", ["+sweep=noc_extent", f"model={name}",
                                              f"model.extent.weights={weights}", f"paths.log_dir={tmp_path}"],
                          return_hydra_config=True)
            run_dir = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
            assert run_dir.parent.name == "noc" and run_dir.name == f"{name}-extent_lite0_s{seed}.safetensors"
            fake_noc_run(cfg, run_dir, seed / 10 + (0.3 if name.endswith("later") else 0.0))
    for seed in range(3):   # the history nets (SWEEP=noc_history) and the U-Net's seeds (SWEEP=noc_unet)
        weights = f"projects/variational_seg/weights/extent_history_lite0_s{seed}.safetensors"
        for sweep, overrides, expected in (
                ("noc_history", ["model=wbh_colour_extent_history", f"model.extent.weights={weights}"],
                 f"wbh_colour_extent_history-extent_history_lite0_s{seed}.safetensors"),
                ("noc_unet", ["model=unet_lite0", f"seed={seed}"], f"unet_lite0-s{seed}")):
            cfg = compose("variational_seg", [f"+sweep={sweep}", *overrides, f"paths.log_dir={tmp_path}"],
                          return_hydra_config=True)
            run_dir = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
            assert run_dir.parent.name == "noc" and run_dir.name == expected
            fake_noc_run(cfg, run_dir, seed / 10 + 1.0)
    cfg = compose("variational_seg", ["+sweep=noc_ensemble", "model=wbh_colour_extent_later_ensemble",
                                      f"paths.log_dir={tmp_path}"], return_hydra_config=True)
    run_dir = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
    assert run_dir.name == "wbh_colour_extent_later_ensemble" and len(cfg.model.extent.weights) == 3
    fake_noc_run(cfg, run_dir, -0.5)
    readme = tmp_path / "README.md"
    readme.write_text((REPO_ROOT / "projects" / "variational_seg" / "README.md").read_text())
    cfg = compose("variational_seg", [f"paths.log_dir={tmp_path}", f"report.readme={readme}",
                                      f"report.output_dir={tmp_path / 'reports'}"], task="report")
    result = report_run(cfg)
    assert {t["table"] for t in result["tables"] if t["runs"]} == {"noc", "noc_curve"}   # the others: missing
    block = readme.read_text().split(markers("noc")[0])[1].split(markers("noc")[1])[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()
            if line.startswith("| ") and not line.startswith("| method")]
    spec_rows = OmegaConf.load(CONFIG_ROOT / "variational_seg" / "report" / "noc.yaml").rows
    assert len(rows) == len(spec_rows) and sum("(published)" in r[0] for r in rows) == 5
    fullres = next(r for r in rows if r[0].startswith("Click model + full-res"))
    assert "3.00" in fullres and "5.00 (n=1)" in fullres and "7" in fullres
    shipped = next(r for r in rows if r[0].startswith("Shipped"))
    assert "wbh_colour_extent_later_ensemble" in shipped[0] and shipped[3] == "4.50 (n=1)"   # its one run
    one_net = next(r for r in rows if r[0].startswith("The same with one net"))
    assert "(n=3)" in one_net[3] and one_net[3].startswith("5.40")     # NoC@90: the mean of 5.3, 5.4, 5.5
    unet = next(r for r in rows if r[0].startswith("U-Net"))
    assert unet[3].startswith("6.10 ± 0.10 (n=3)") and unet[1] == "not used: no background input"
    first_only = next(r for r in rows if r[0].startswith("Learned first click only"))
    assert first_only[3].startswith("5.10 ± 0.10 (n=3)")               # 5.0, 5.1, 5.2: its own three runs
    assert next(r for r in rows if r[0].startswith("Paper (WBH)")).count("not used: no background term") == 1
    ritm = next(r for r in rows if r[0].startswith("RITM"))
    assert "1.54" in ritm and "published: RITM README" in " ".join(ritm)
    curve = json.loads((tmp_path / "reports" / "noc_curve.json").read_text())
    # + the learned models (first click, later clicks, their ensemble, the history net) and the U-Net
    assert sum(c["mean"] is not None for c in curve["cells"]) == 20 * (len(MODELS) + 5)
    assert (tmp_path / "reports" / "noc_curve.png").stat().st_size > 0
