"""The first-click study script (README "Clicks that spread"): its measurements on a scene whose answers are
known: a one-colour disk on a plain background."""

from __future__ import annotations

import numpy as np

from projects.variational_seg.click_model import click_segmenter_for
from projects.variational_seg.methods import model_config
from projects.variational_seg.scripts.first_click import edges, quality, spread_masks
from tests.variational_seg.helpers import disk


def test_first_click_quality_spread_and_edge_distances_on_a_disk():
    gt = disk(48, 48, 24, 24, 12)
    sample = {"image": np.where(gt[..., None], [230, 200, 60], [40, 60, 120]).astype(np.uint8)}   # a grey step too
    model = model_config("wbh_colour_fullres")
    score, precision, recall = quality(sample, gt, None, click_segmenter_for(model, None, 48, 5))
    assert score > 0.9 and precision > 0.9 and recall > 0.9
    inradius, colour_edge, canny_edge = edges(sample, gt, None, model, 48)
    assert abs(inradius - 12.5) <= 1.5 and abs(colour_edge - inradius) <= 1.5 and abs(canny_edge - inradius) <= 2.5
    rows = spread_masks(sample, gt, None, model, {}, 48)
    assert len(rows) == 3 and all(r[0] > 0.9 for r in rows) and all(r[1] > 0.5 for r in rows)   # one colour: any
