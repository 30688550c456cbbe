"""The field's click protocol: the clicker on hand-made masks (deepest point with the image border as
boundary, which error region gets the click, the ignore band, no repeated pixel), the NoC / NoF / IoU
arithmetic on hand-computed numbers, the 20-click cap, and the eval mode end to end on tiny data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from projects.variational_seg.clicker import Click, depth, iou, next_click
from projects.variational_seg.noc import failed, from_points, noc, run_clicks, summarise, uses_negative_clicks
from tests.variational_seg.helpers import disk


def test_depth_counts_the_image_border_as_boundary():
    region = np.zeros((9, 12), dtype=bool)
    region[:, :7] = True                      # touches the top, bottom and left borders
    d = depth(region)
    assert d[4, 3] == 4.0 and d[0, 0] == 1.0  # 4 px from the left border and the right edge, 1 at the corner
    assert d.max() == 4.0 and np.unravel_index(np.argmax(d), d.shape) == (3, 3)


def test_first_click_is_positive_at_the_deepest_interior_point():
    gt = np.zeros((21, 31), dtype=bool)
    gt[3:18, 4:13] = True                     # 15 x 9 rectangle: deepest on its middle column
    gt[8:13, 13:28] = True                    # a thin arm (5 rows) to the right: shallower
    click = next_click(np.zeros_like(gt), gt)
    assert click == Click(row=7, col=8, positive=True)   # first of the deepest pixels in raster order
    assert depth(gt)[7, 8] == depth(gt).max() == 5.0


def test_the_deeper_error_region_gets_the_click():
    gt = np.zeros((40, 40), dtype=bool)
    gt[5:35, 5:20] = True
    pred = gt.copy()
    pred[5:9, 5:20] = False                   # missed strip, 4 rows deep (depth 2)
    pred[10:30, 24:36] = True                 # false blob 20 x 12 (depth 6)
    click = next_click(pred, gt)
    assert click is not None and not click.positive and 10 <= click.row < 30 and 24 <= click.col < 36
    pred2 = gt.copy()
    pred2[10:30, 5:20] = False                # now the missed part is the deeper one
    pred2[0:2, 30:40] = True
    click2 = next_click(pred2, gt)
    assert click2 is not None and click2.positive and 10 <= click2.row < 30


def test_ignore_band_clicked_pixels_and_a_perfect_mask():
    gt = disk(30, 30, 15, 15, 8)
    band = disk(30, 30, 15, 15, 10) & ~disk(30, 30, 15, 15, 6)
    pred = disk(30, 30, 15, 15, 10)           # too large only inside the band
    assert iou(pred, gt, band) == 1.0 and iou(pred, gt) == pytest.approx(gt.sum() / pred.sum())
    assert next_click(pred, gt, band) is None and next_click(gt, gt) is None
    first = next_click(np.zeros_like(gt), gt)
    clicked = np.zeros_like(gt)
    clicked[first.row, first.col] = True
    second = next_click(np.zeros_like(gt), gt, clicked=clicked)
    assert (second.row, second.col) != (first.row, first.col) and second.positive


def test_noc_and_nof_on_hand_computed_numbers():
    a = [0.50, 0.86, 0.91] + [0.95] * 17     # NoC@85 2, NoC@90 3
    b = [0.20, 0.40, 0.60, 0.87] + [0.88] * 16   # NoC@85 4, never 90: counts 20
    assert (noc(a, 0.85), noc(a, 0.90), noc(b, 0.85), noc(b, 0.90)) == (2, 3, 4, 20)
    assert failed(b, 0.90) and not failed(b, 0.85)
    late = [0.5] * 19 + [0.9]                # reaches 90 at the 20th click: NoC 20 but not a failure
    assert noc(late, 0.90) == 20 and not failed(late, 0.90)
    out = summarise([a, b, late], [0.85, 0.90], cpu_seconds=[[0.1, 0.3], [0.2, None], []], worse=[0, 3, 0])
    assert out["noc85"] == pytest.approx((2 + 4 + 20) / 3) and out["noc90"] == pytest.approx((3 + 20 + 20) / 3)
    assert out["nof85"] == 0 and out["nof90"] == 1 and out["n"] == 3   # only b never reaches 90
    assert out["iou_at_1"] == pytest.approx((0.5 + 0.2 + 0.5) / 3) and out["iou_at_20"] == pytest.approx(
        (0.95 + 0.88 + 0.9) / 3)
    assert out["s_per_click"] == pytest.approx(0.2) and out["worse_share"] == pytest.approx(3 / 57)


def test_run_clicks_caps_at_twenty_and_passes_negative_clicks_only_when_used():
    gt = disk(32, 32, 16, 16, 9)
    seen = []

    def nothing(image, positive, negative):  # a method that never finds anything: 20 clicks, IoU 0
        seen.append((len(positive), None if negative is None else len(negative)))
        return np.zeros(gt.shape, dtype=np.float32)

    run = run_clicks(from_points(nothing), np.zeros((32, 32, 3), np.uint8), gt, None, max_clicks=20)
    assert len(run.ious) == 20 and max(run.ious) == 0.0 and noc(run.ious, 0.85) == 20 and failed(run.ious, 0.85)
    assert all(c.positive for c in run.clicks) and len({(c.row, c.col) for c in run.clicks}) == 20
    assert seen[-1] == (20, None)

    def too_big(image, positive, negative):   # all foreground until a negative click arrives
        return np.ones(gt.shape, np.float32) if negative is None else gt.astype(np.float32)

    used = run_clicks(from_points(too_big), np.zeros((32, 32, 3), np.uint8), gt, None, max_clicks=5)
    assert [c.positive for c in used.clicks] == [True, False] and used.ious[1:] == [1.0] * 4
    ignored = run_clicks(from_points(too_big, negatives=False), np.zeros((32, 32, 3), np.uint8), gt, None, max_clicks=5)
    assert not any(c.positive for c in ignored.clicks[1:]) and max(ignored.ious) < 1.0


def test_which_models_take_negative_clicks():
    assert uses_negative_clicks({"kind": "anchor"}) and uses_negative_clicks({"kind": "variational",
                                                                               "data_term": "colour"})
    assert not uses_negative_clicks({"kind": "variational"}) and not uses_negative_clicks({"kind": "unet"})


def test_noc_eval_mode_end_to_end(run_project):
    """The eval mode on 2 tiny synthetic products x 3 clicks: per-image CSV and the metrics the report reads."""
    noc_block = "+noc={max_clicks:3,thresholds:[0.85,0.9],subsets:{all:null}}"
    cfg, metrics = run_project("variational_seg", ["data.options.sizes.test=2", "data.options.image_size=40",
                                                   "model=wbh_colour", noc_block], task="eval")
    out = Path(cfg.paths.output_dir)
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert len(rows) == 2 and {"noc85", "noc90", "iou_1", "iou_3", "s_per_click", "clicks"} <= set(rows[0])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["all/n"] == 2 and saved["negative_clicks_used"] == 1 and 1 <= saved["all/noc90"] <= 3
    assert saved["all/iou_at_1"] == pytest.approx(np.mean([float(r["iou_1"]) for r in rows]), abs=1e-4)
    assert metrics["all/n"] == 2
