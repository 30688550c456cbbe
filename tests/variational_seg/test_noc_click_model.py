"""The incremental click model: click disks in full-resolution px, the latest click winning where disks
overlap, the colour trim, the prior's fade around the latest click, and a few clicks on a tiny scene."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from projects.variational_seg.click_model import (
    click_masks,
    click_options,
    incremental_segmenter,
    prior_weight,
    spread_click,
    working_photo,
)
from projects.variational_seg.clicker import Click
from projects.variational_seg.colour_term import colour_options
from projects.variational_seg.methods import model_config
from projects.variational_seg.noc import run_clicks
from projects.variational_seg.params import SolverParams
from projects.variational_seg.solver import prepare
from shared.errors import ConfigError
from tests.variational_seg.helpers import disk


def test_click_disks_are_full_resolution_px_and_the_latest_click_wins():
    clicks = [Click(40, 40, True), Click(40, 48, False)]   # working (10, 10) and (10, 12): disks of 2 px overlap
    fg, bg = click_masks(clicks, (80, 80), (20, 20), radius=8.0)   # 8 full-resolution px = 2 px on a 4x smaller grid
    assert fg[10, 8] and fg[10, 9] and not fg[10, 7] and fg.sum() + bg.sum() == 13 + 13 - 5   # 5 pixels shared
    assert bg[10, 11] and bg[10, 12] and bg[10, 14] and fg[10, 10] and not (fg & bg).any()   # overlap: the later
    fg2, bg2 = click_masks(clicks[::-1], (80, 80), (20, 20), radius=8.0)
    assert fg2[10, 11] and fg2[10, 10] and bg2[10, 12] and bg2[10, 13]  # the other order: the positive click wins
    tiny, _ = click_masks([Click(40, 40, True)], (80, 80), (20, 20), radius=1.0)
    assert tiny.sum() == 1                                  # smaller than a working pixel: the clicked pixel


def test_click_masks_paint_each_disk_over_the_whole_grid_as_defined_near_the_borders_too():
    rng = np.random.default_rng(3)
    lab = rng.uniform(0, 100, (30 * 40, 3))
    clicks = [Click(0, 0, True), Click(118, 158, False), Click(60, 3, True), Click(57, 8, False), Click(2, 150, True)]
    for radius, tol in ((10.0, 0.0), (17.5, 60.0), (2.0, 0.0)):
        fg, bg = click_masks(clicks, (120, 160), (30, 40), radius, lab, tol)
        want_fg, want_bg = np.zeros((30, 40), bool), np.zeros((30, 40), bool)
        yy, xx = np.mgrid[:30, :40]
        colours = lab.reshape(30, 40, 3)
        for c in clicks:
            row, col = min(29, round((c.row + 0.5) / 4 - 0.5)), min(39, round((c.col + 0.5) / 4 - 0.5))
            d = (yy - row) ** 2 + (xx - col) ** 2 <= (radius / 4) ** 2
            if tol > 0:
                d &= np.linalg.norm(colours - colours[row, col], axis=-1) <= tol
            want_fg[d], want_bg[d] = c.positive, not c.positive
        for c in clicks:
            row, col = min(29, round((c.row + 0.5) / 4 - 0.5)), min(39, round((c.col + 0.5) / 4 - 0.5))
            want_fg[row, col], want_bg[row, col] = c.positive, not c.positive
        assert np.array_equal(fg, want_fg) and np.array_equal(bg, want_bg), (radius, tol)


def test_a_photo_keeps_its_solver_inputs_and_the_last_markers_geodesic_distance():
    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3)).astype(np.uint8)
    params = SolverParams(theta=0.5)
    photo = working_photo(image, 40, params)
    assert tuple(photo.x.shape) == (1, 3, 30, 40)
    one, two = torch.zeros(1, 30, 40, dtype=torch.bool), torch.zeros(1, 30, 40, dtype=torch.bool)
    one[0, 10:13, 10:13], two[0, 20:22, 30:33] = True, True
    for markers in (one, one.clone(), two, one):   # the second: the same markers again, D_G kept
        got, want = photo.solver_inputs(markers, params), prepare(photo.x, markers, params)
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert photo.geodesic is not None and photo.geodesic[0] == one.numpy().tobytes()


def test_colour_trim_and_prior_fade():
    lab = np.zeros((10, 10, 3))
    lab[:, 5:] = 50.0                                       # a strong edge between columns 4 and 5
    fg, _ = click_masks([Click(5, 4, True)], (10, 10), (10, 10), radius=3.0, lab=lab.reshape(-1, 3), edge_tol=10)
    assert fg[5, 4] and fg[5, 2] and not fg[5, 5:].any()
    g = prior_weight((50, 50), (10, 10), prior=0.5, fade=0.1)
    assert g[10, 10] == 0.0 and g[49, 49] == pytest.approx(0.5, abs=1e-3) and g[12, 10] < g[30, 10]
    with pytest.raises(ConfigError, match="model.clicks"):
        click_options({"radiuss": 3})


def test_the_click_model_follows_simulated_clicks_on_a_tiny_scene():
    gt = disk(48, 48, 22, 20, 11)
    image = np.where(gt[..., None], [200, 60, 40], [40, 120, 200]).astype(np.uint8)
    model = {**model_config("wbh_colour_clicks"), "clicks": {"radius": 3.0, "prior": 0.5}}
    run = run_clicks(incremental_segmenter(model, None, 48), image, gt, None, max_clicks=3)
    assert len(run.ious) == 3 and run.ious[-1] > 0.9 and run.worse == 0 and run.ious[-1] > run.ious[0]
    assert run.clicks[0] == Click(22, 20, True)            # the deepest point of the disk, then corrections


def test_a_click_spreads_its_label_into_the_colour_weights_by_hand():
    fg_w, bg_w = np.full(12, 0.8), np.full(12, 0.2)    # a previous mask that took everything as foreground
    fg_seed, bg_seed = np.zeros(12, dtype=bool), np.zeros(12, dtype=bool)
    fg_seed[0], bg_seed[11] = True, True
    fg, bg = spread_click(fg_w, bg_w, fg_seed, bg_seed, (3, 4), (0, 3), False, 0.5)   # negative click at (0, 3)
    s = np.exp(-9 / 12.5)                              # at (0, 0): distance 3, sigma 0.5 x hypot(3, 4) = 2.5
    assert bg[3] == 1.0 and fg[3] == 0.0               # the click's own pixel
    assert bg[1] == pytest.approx(max(0.2, np.exp(-4 / 12.5))) and fg[1] == pytest.approx(0.8 * (1 - np.exp(-4 / 12.5)))
    assert fg[0] == 1.0 and bg[0] == 0.0 and s > 0.2   # the foreground seed keeps its side, spread or not
    assert fg[11] == 0.0 and bg[11] == 1.0
    pos_fg, pos_bg = spread_click(fg_w, bg_w, fg_seed, bg_seed, (3, 4), (0, 3), True, 0.5)
    assert pos_fg[3] == 1.0 and pos_bg[3] == 0.0 and pos_fg[11] == 0.0


def test_spread_options_are_read_and_a_negative_spread_is_one_error_naming_its_key():
    model = model_config("wbh_colour_spread")
    assert click_options(model["clicks"]).spread > 0 and model["colour"]["spread"] > 0
    with pytest.raises(ConfigError, match="model.clicks.spread"):
        click_options({"spread": -0.1})
    with pytest.raises(ConfigError, match="model.colour.spread"):
        colour_options({"spread": -0.1})
