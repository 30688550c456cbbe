"""The band solve of the full-resolution cut-out (band_solve.py) and its minimum cut (graph_cut.py), on tiny
hand-checkable grids."""

from __future__ import annotations

import numpy as np
import pytest

from projects.variational_seg.band_solve import band_solve, boundary_band, click_labels
from projects.variational_seg.clicker import Click, iou
from projects.variational_seg.colour_term import WeightedGMM, lab_image
from projects.variational_seg.graph_cut import contrast_weights, grid_cut
from projects.variational_seg.methods import model_config
from projects.variational_seg.refine import RefineOptions, refine, refine_options
from shared.errors import ConfigError


def test_grid_cut_on_a_row_of_four():
    # pixel 0 fixed foreground, 3 fixed background; pixel 1 costs 0.2 as foreground, 0 as background; pixel 2
    # 0 as foreground, 0.3 as background; every edge 0.5. Labellings of (1, 2):
    # fg fg 0.2 + 0.5 = 0.7 | fg bg 0.2 + 0.3 + 0.5 = 1.0 | bg bg 0.3 + 0.5 = 0.8 | bg fg 1.5
    free = np.array([[False, True, True, False]])
    fixed_fg = np.array([[True, False, False, False]])
    cost_fg, cost_bg = np.array([[0.0, 0.2, 0.0, 0.0]]), np.array([[0.0, 0.0, 0.3, 0.0]])
    labels = grid_cut(cost_fg, cost_bg, np.full((1, 3), 0.5), np.zeros((0, 4)), free, fixed_fg)
    assert labels.tolist() == [[True, True, True, False]]
    cheap_edges = grid_cut(cost_fg, cost_bg, np.full((1, 3), 0.1), np.zeros((0, 4)), free, fixed_fg)
    assert cheap_edges.tolist() == [[True, False, True, False]]   # 0.0 + 0.0 + 3 x 0.1 = 0.3: the data wins
    nothing_free = grid_cut(cost_fg, cost_bg, np.ones((1, 3)), np.zeros((0, 4)), np.zeros_like(free), fixed_fg)
    assert nothing_free.tolist() == fixed_fg.tolist()


def test_contrast_weights_are_one_in_flat_regions_and_small_across_an_edge():
    image = np.zeros((4, 6, 3))
    image[:, 3:] = 100.0
    right, down = contrast_weights(image)
    assert np.allclose(down, 1.0) and np.allclose(right[:, [0, 1, 3, 4]], 1.0)
    assert (right[:, 2] < 0.01).all()


def test_boundary_band_holds_the_pixels_near_the_outline_on_both_sides():
    inside = np.zeros((1, 9), dtype=bool)
    inside[0, :4] = True
    assert boundary_band(inside, 1.0).nonzero()[1].tolist() == [3, 4]
    assert boundary_band(inside, 2.0).nonzero()[1].tolist() == [2, 3, 4, 5]
    assert not boundary_band(np.ones((3, 3), dtype=bool), 5.0).any()


def test_click_labels_latest_wins_on_the_fine_grid():
    rgb = np.zeros((10, 10, 3), dtype=np.uint8)
    # fine pixel (i, j) is full-resolution point (i + 0.5, j + 0.5) x 2 from (0, 0): click (9, 9) is fine (4, 4)
    fixed, fg = click_labels([Click(9, 9, True), Click(9, 13, False)], rgb, (0, 0), (2.0, 2.0), 4.0, 0.0)
    assert fixed[4, 2] and fg[4, 2] and fixed[4, 6] and not fg[4, 6]
    assert fixed[4, 4] and not fg[4, 4]                              # in both disks: the later, negative one
    assert not fixed[0, 0]


def test_band_solve_recovers_a_part_thinner_than_a_working_pixel():
    gt = np.zeros((80, 80), dtype=bool)
    gt[20:60, 20:50] = True
    gt[36:39, 50:70] = True                                        # a 3-px leg: under one working px (8 px)
    image = np.where(gt[..., None], [200, 60, 40], [40, 120, 200]).astype(np.uint8)
    coarse = np.zeros((10, 10), dtype=np.float32)
    coarse[2:8, 2:6] = 1.0                                         # the working mask: body, no leg
    lab = lab_image(image).reshape(-1, 3).astype(np.float64)
    flat = gt.reshape(-1).astype(float)
    models = (WeightedGMM(1, 3).fit(lab, flat), WeightedGMM(1, 3).fit(lab, 1.0 - flat))
    opts = RefineOptions(mode="band_solve", radius=2.0, scale=8.0, smooth=0.5)
    solved = band_solve(image, coarse, models, [Click(40, 35, True)], opts, 4.0, 0.0, 0.0) > 0.5
    bilinear = refine(image, coarse, RefineOptions(radius=0)) > 0.5
    assert solved[37, 52:58].all() and not bilinear[37, 52:58].any()
    assert iou(solved, gt) > 0.97 > iou(bilinear, gt)
    with pytest.raises(ConfigError, match="model.refine.mode"):
        refine_options({"mode": "graphcut"})


def test_the_band_solve_model_on_a_tiny_scene():
    from projects.variational_seg.click_model import incremental_segmenter
    from projects.variational_seg.noc import run_clicks

    yy, xx = np.mgrid[:96, :96]
    gt = (yy - 44) ** 2 + (xx - 40) ** 2 <= 22 ** 2
    image = np.where(gt[..., None], [200, 60, 40], [40, 120, 200]).astype(np.uint8)
    run = run_clicks(incremental_segmenter(model_config("wbh_colour_band"), None, 48), image, gt, None, max_clicks=2)
    assert run.ious[-1] > 0.95
    histogram = {**model_config("wbh_colour_band"), "colour": {"model": "histogram"}}
    with pytest.raises(ConfigError, match="needs the colour mixtures"):
        incremental_segmenter(histogram, None, 48)
