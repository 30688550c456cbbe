"""The pseudo-label statistics against hand-counted pixels, and the ground truth of the unlabelled crops:
it rides along with the crop (same pixels as the image), never changes the padding map, and is absent
where the data has none."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from projects.semiseg.data import UnlabeledViews
from projects.semiseg.pseudo_labels import PseudoLabels
from projects.semiseg.stats import pseudo_label_stats


def _labels() -> tuple[PseudoLabels, torch.Tensor]:
    # one 2x4 image; last column is padding (ignore 255)
    label = torch.tensor([[[0, 1, 2, 0], [1, 1, 0, 2]]])
    conf = torch.tensor([[[0.99, 0.96, 0.80, 0.99], [0.91, 0.97, 0.99, 0.99]]])
    ignore = torch.tensor([[[0, 0, 0, 255], [0, 0, 0, 255]]])
    gt = torch.tensor([[[0, 1, 1, 0], [255, 2, 0, 2]]])     # one known-unknown pixel (row 1, col 0)
    return PseudoLabels(label=label, conf=conf, ignore=ignore), gt


def test_ground_truth_stats_by_hand():
    teacher, gt = _labels()
    s = {k: float(v) for k, v in pseudo_label_stats(teacher, None, [0.9, 0.95], gt, ["bg", "a", "b"]).items()}
    # valid pixels: 6; conf >= 0.95 among them: (0,0) .99, (0,1) .96, (1,1) .97, (1,2) .99 -> 4
    assert s["mask_ratio@0.95"] == pytest.approx(4 / 6) and s["mask_ratio@0.9"] == pytest.approx(5 / 6)
    # known pixels (valid and gt != 255): 5; gt foreground there: (0,1) 1, (0,2) 1, (1,1) 2 -> 3
    assert s["gt_known"] == pytest.approx(5 / 6) and s["gt_fg"] == pytest.approx(3 / 5)
    # argmax right on known pixels: (0,0) yes, (0,1) yes, (0,2) 2 vs 1 no, (1,1) 1 vs 2 no, (1,2) yes -> 3/5
    assert s["pl_acc"] == pytest.approx(3 / 5)
    # conf >= 0.95: labels 0, 1, 1, 0 -> foreground 2/4; known among them all 4, right: (0,0), (0,1), (1,2)
    assert s["pl_fg@0.95"] == pytest.approx(2 / 4) and s["pl_acc@0.95"] == pytest.approx(3 / 4)
    # conf >= 0.9: + (1,0) label 1 (gt unknown) -> foreground 3/5; accuracy still over the 4 known: 3/4
    assert s["pl_fg@0.9"] == pytest.approx(3 / 5) and s["pl_acc@0.9"] == pytest.approx(3 / 4)
    assert (s["pl_class@0.95/bg"], s["pl_class@0.95/a"], s["pl_class@0.95/b"]) == pytest.approx((0.5, 0.5, 0.0))
    assert (s["gt_class/bg"], s["gt_class/a"], s["gt_class/b"]) == pytest.approx((2 / 5, 2 / 5, 1 / 5))


def test_empty_shares_are_nan_and_no_ground_truth_logs_no_ground_truth_keys():
    teacher, gt = _labels()
    none_known = torch.full_like(gt, 255)
    s = pseudo_label_stats(teacher, None, [0.95], none_known, ["bg", "a", "b"])
    assert float(s["gt_known"]) == 0.0 and math.isnan(float(s["pl_acc@0.95"])) and math.isnan(float(s["gt_fg"]))
    assert set(pseudo_label_stats(teacher, None, [0.95])) == {"mask_ratio@0.95"}


class _Raw:
    def __init__(self, with_mask: bool) -> None:
        rng = np.random.default_rng(0)
        self.image = rng.integers(0, 255, size=(30, 40, 3), dtype=np.uint8)
        self.mask = (np.arange(30)[:, None] // 10 + np.zeros((1, 40), dtype=np.int64)).astype(np.uint8)
        self.mask[0, 0] = 255
        self.with_mask = with_mask

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> dict:
        return {"image": self.image, "mask": self.mask} if self.with_mask else {"image": self.image}


def test_unlabelled_ground_truth_follows_the_crop_and_leaves_padding_and_views_unchanged():
    with_gt = UnlabeledViews(_Raw(True), crop=48, base_size=None, scale=(1.0, 1.0))[(0, 7)]
    without = UnlabeledViews(_Raw(False), crop=48, base_size=None, scale=(1.0, 1.0))[(0, 7)]
    assert "gt" not in without
    for key in ("weak", "strong1", "strong2", "box1", "box2", "ignore"):
        assert torch.equal(with_gt[key], without[key]), key                  # training sees the same sample
    gt, ignore = with_gt["gt"], with_gt["ignore"]
    assert gt.shape == ignore.shape == (48, 48)
    assert (gt[ignore == 255] == 255).all()                                  # padding is unknown
    inside = gt[ignore != 255]
    assert inside.numel() == 30 * 40 and set(inside.unique().tolist()) == {0, 1, 2, 255}
    # the rows of class c are 10 image rows each, wherever the flip put the columns
    rows = [set(r[r != 255].tolist()) for r in gt[:30] if (r != 255).any()]
    assert [next(iter(r)) for r in rows[::10]] == [0, 1, 2]
