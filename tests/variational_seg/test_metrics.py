"""Spec 13.9: Dice / HD / HD95 on hand cases, the HD95 convention, the empty-mask rules."""

import numpy as np
import pytest
from scipy.spatial.distance import directed_hausdorff

from projects.variational_seg.seg_metrics import boundary, dice, hausdorff, hausdorff_pair, seg_scores
from tests.variational_seg.helpers import disk


def test_two_disks_offset_by_d_have_hausdorff_d():
    a, b = disk(64, 64, 30, 28, 10), disk(64, 64, 30, 32, 10)
    assert hausdorff(a, b) == pytest.approx(4.0)
    pa, pb = np.argwhere(boundary(a)), np.argwhere(boundary(b))
    assert hausdorff(a, b) == pytest.approx(max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0]))


def test_hd95_is_the_max_of_directed_percentiles_not_the_pooled_one():
    gt = np.zeros((12, 20), bool)
    gt[5, 5] = True
    pred = gt.copy()
    pred[5, 15] = True
    # directed P->G distances [0, 10] -> P95 = 9.5; G->P [0] -> 0. MONAI: 9.5. medpy (pooled [0, 0, 10]): 9.0
    hd, h95 = hausdorff_pair(pred, gt)
    assert hd == pytest.approx(10.0) and h95 == pytest.approx(9.5)
    assert np.percentile([0, 10, 0], 95) == pytest.approx(9.0)


def test_dice_hand_case_and_empty_rules():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    a[0, :2] = True
    b[0, 1:4] = True
    assert dice(a, b) == pytest.approx(2 * 1 / 5)
    empty = np.zeros((3, 4), bool)
    assert seg_scores(empty, empty) == {"dice": 1.0, "hd": 0.0, "hd95": 0.0, "hd_pct": 0.0, "empty_case": 0.0}
    one = empty.copy()
    one[1, 1] = True
    s = seg_scores(empty, one)
    assert s["dice"] == 0.0 and s["hd"] == pytest.approx(5.0) and s["hd95"] == pytest.approx(5.0)
    assert s["empty_case"] == 1.0 and s["hd_pct"] == pytest.approx(100.0)


def test_ignored_pixels_do_not_count():
    gt = disk(32, 32, 16, 16, 8)
    pred = disk(32, 32, 16, 16, 9)
    band = disk(32, 32, 16, 16, 9.5) & ~disk(32, 32, 16, 16, 7.5)
    assert seg_scores(pred, gt)["dice"] < 1.0
    assert seg_scores(pred, gt, ignore=band) == pytest.approx({"dice": 1.0, "hd": 0.0, "hd95": 0.0, "hd_pct": 0.0,
                                                               "empty_case": 0.0})


def test_the_eval_summary_is_the_mean_and_sample_std_over_images():
    """One summarise in the repo (shared.report.cells): an eval's ``<key>_std`` is the sample std (ddof 1),
    the convention of every report cell; one image has no std."""
    from projects.variational_seg.evaluate import SUMMARY_KEYS, summarise

    rows = [{**{k: 0.0 for k in SUMMARY_KEYS}, "dice": d, "empty_case": 0.0} for d in (0.2, 0.4, 0.9)]
    out = summarise(rows)
    assert out["n"] == 3 and out["dice"] == pytest.approx(0.5)
    assert out["dice_std"] == pytest.approx(np.std([0.2, 0.4, 0.9], ddof=1)) and out["hd_std"] == 0.0
    assert np.isnan(summarise(rows[:1])["dice_std"])
