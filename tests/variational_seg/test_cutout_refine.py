"""The full-resolution cut-out (refine.py), the boundary F-score, clicks painted at full resolution, and the
click session the page, make select and cut_out share (click order, previous mask, undo for free)."""

from __future__ import annotations

import numpy as np
import pytest

from projects.variational_seg.boundary import boundary_f, fill_ignore
from projects.variational_seg.click_model import (
    ClickSession,
    click_segmenter_for,
    incremental_segmenter,
    ordered_clicks,
    paint_clicks,
)
from projects.variational_seg.clicker import Click, iou
from projects.variational_seg.methods import model_config
from projects.variational_seg.noc import run_clicks
from projects.variational_seg.refine import GuideCache, RefineOptions, refine, refine_options
from shared.errors import ConfigError


def test_refine_moves_the_coarse_boundary_onto_the_photos_edge():
    gt = np.zeros((120, 160), dtype=bool)
    gt[30:90, 37:123] = True                                  # edges between working pixels of a 4x smaller grid
    image = np.where(gt[..., None], [200, 80, 40], [40, 90, 160]).astype(np.uint8)
    coarse = np.zeros((30, 40), dtype=np.float32)
    coarse[8:22, 9:31] = 1.0                                  # the working-size mask, a working pixel off on each side
    bilinear = refine(image, coarse, RefineOptions(radius=0)) > 0.5
    refined = refine(image, coarse, RefineOptions(radius=1.0, grid=80)) > 0.5
    assert iou(refined, gt) > 0.97 > iou(bilinear, gt)
    assert refine_options(None) is None
    with pytest.raises(ConfigError, match="model.refine"):
        refine_options({"radus": 1})


def test_the_kept_guide_gives_the_same_cut_out_and_is_remade_when_the_box_or_the_photo_changes():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    opts = RefineOptions(radius=1.0, grid=60)                 # the crop is shrunk: the kept guide is the small one
    guides = GuideCache()
    first = np.zeros((30, 40), dtype=np.float32)
    first[8:22, 9:31] = 1.0
    second = first.copy()
    second[12:16, 12:20] = 0.3                                # another mask inside the same box
    moved = np.zeros_like(first)
    moved[2:12, 4:14] = 1.0
    kept = []
    for coarse in (first, second, moved):
        assert np.array_equal(refine(image, coarse, opts, guides), refine(image, coarse, opts))
        kept.append(guides.last)
    assert kept[0] is kept[1] and kept[1].key != kept[2].key
    other = image[::-1].copy()                                # another photo, the same box
    assert np.array_equal(refine(other, moved, opts, guides), refine(other, moved, opts))
    assert guides.last is not kept[2] and guides.image is other


def test_boundary_f_scores_the_outline_within_the_tolerance():
    gt = np.zeros((100, 100), dtype=bool)
    gt[20:80, 20:80] = True
    assert boundary_f(gt, gt) == 1.0
    assert boundary_f(np.roll(gt, 2, axis=1), gt) == 1.0       # within the 2-px tolerance (ceil(0.008 x 141))
    assert boundary_f(np.roll(gt, 10, axis=1), gt) < 0.6
    wide, band = np.zeros_like(gt), np.zeros_like(gt)
    wide[20:], band[16:24] = True, True                       # an ignore band over the object's top edge
    filled = fill_ignore(wide & ~band, band)                  # split down its middle
    assert filled[20:].all() and not filled[:20].any()


def test_clicks_painted_at_full_resolution_latest_last():
    prob = np.full((20, 20), 0.5, dtype=np.float32)
    image = np.zeros((20, 20, 3), dtype=np.uint8)
    out = paint_clicks(prob, image, [Click(10, 8, True), Click(10, 11, False)], radius=2.0, edge_tol=0.0)
    assert out[10, 7] == 1.0 and out[10, 12] == 0.0 and out[10, 10] == 0.0 and out[0, 0] == 0.5


def test_click_session_reuses_the_masks_of_the_clicks_it_has_seen():
    calls = []

    def segment(image, clicks, previous):
        calls.append((len(clicks), previous is not None))
        return np.full(image.shape[:2], float(len(clicks)), dtype=np.float32)

    session, image = ClickSession(segment), np.zeros((4, 4, 3), dtype=np.uint8)
    a, b, c = Click(1, 1, True), Click(2, 2, False), Click(3, 3, True)
    session.update(image, [a, b])
    assert calls == [(1, False), (2, True)]
    assert session.update(image, [a]).max() == 1.0 and len(calls) == 2     # undo: nothing solved
    session.update(image, [a, c])
    assert calls[-1] == (2, True)
    assert ordered_clicks(np.array([[1, 1], [3, 3]]), np.array([[2, 2]]), ["fg", "bg", "fg"]) == [a, b, c]
    with pytest.raises(ConfigError, match="click order"):
        ordered_clicks(np.array([[1, 1]]), None, ["fg", "fg"])


def test_a_model_without_a_background_term_refuses_background_clicks():
    segment = click_segmenter_for(model_config("wbh"), None, 32)
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(ConfigError, match="cannot use background clicks"):
        segment(image, [Click(16, 16, True), Click(2, 2, False)], None)


def test_the_full_resolution_click_model_on_a_tiny_scene():
    yy, xx = np.mgrid[:96, :96]
    gt = (yy - 44) ** 2 + (xx - 40) ** 2 <= 22 ** 2
    image = np.where(gt[..., None], [200, 60, 40], [40, 120, 200]).astype(np.uint8)
    model = model_config("wbh_colour_fullres")
    run = run_clicks(incremental_segmenter(model, None, 48), image, gt, None, max_clicks=2)
    assert run.ious[-1] > 0.95 and set(run.boundary) == {1} and run.boundary[1] > 0.9


def test_clicks_on_a_large_photo_keep_a_least_working_size_and_one_pixel_fits():
    from projects.variational_seg.click_model import click_masks
    from projects.variational_seg.colour_term import WeightedGMM

    fg, _ = click_masks([Click(1500, 2000, True)], (3000, 4000), (120, 160), radius=24.0, min_radius=2.0)
    assert fg.sum() == 13                                     # a disk of radius 2, not the one pixel 24 px make
    gmm = WeightedGMM(3, 1).fit(np.array([[50.0, 0.0, 0.0]]), np.array([1.0]))
    assert np.isfinite(gmm.means).all()
