"""The anchors (cv2.grabCut, skimage random_walker) on a hand-made scene: both recover a bright square
on a dark background from one click plus the border prior; the seed masks are what they receive."""

import numpy as np
import pytest

from projects.variational_seg.anchors import background_seeds, border_mask, run_anchor
from tests.variational_seg.helpers import disk, dsc


def square_scene(size: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) float image in [0, 1]: a bright orange square on a dark blue background, mild noise."""
    target = np.zeros((size, size), dtype=bool)
    target[12:34, 14:38] = True
    image = np.where(target[..., None], [0.9, 0.6, 0.2], [0.1, 0.15, 0.35])
    image = image + 0.03 * np.random.default_rng(seed).standard_normal(image.shape)
    return np.clip(image, 0, 1), target


def test_border_mask_is_the_frame_and_background_seeds_add_strokes():
    frame = border_mask((5, 6), 1)
    assert frame.sum() == 2 * 6 + 2 * 3 and not frame[1:-1, 1:-1].any()
    stroke = np.zeros((5, 6), dtype=bool)
    stroke[2, 3] = True
    seeds = background_seeds((5, 6), stroke, 1)
    assert seeds[2, 3] and seeds.sum() == frame.sum() + 1
    assert not background_seeds((5, 6), None, 0).any()


@pytest.mark.parametrize("name", ["cv2_grabcut", "random_walker"])
def test_anchor_recovers_the_square_from_one_click(name):
    image, target = square_scene()
    click = disk(*target.shape, 22, 25, 3)
    prob, seconds = run_anchor(name, image, click, border_mask(target.shape), {"beta": 130.0, "iterations": 5})
    assert prob.shape == target.shape and seconds >= 0
    assert dsc(prob > 0.5, target) > 0.95


def test_unknown_anchor_is_refused():
    image, target = square_scene(16)
    with pytest.raises(ValueError, match="unknown anchor 'snake'"):
        run_anchor("snake", image, target, border_mask(target.shape), {})


@pytest.mark.realdata
@pytest.mark.parametrize("model", ["cv2_grabcut", "random_walker", "wbh_colour"])
def test_eval_runs_each_method_with_background_strokes(run_project, shared_data, model):
    from pathlib import Path

    cfg, summary = run_project("variational_seg", ["data=grabcut", "data.split=val", "data.max_side=64",
                                                   "+data.options.limit=2", f"model={model}",
                                                   "markers.source=scribbles_set2", "markers.background=true"],
                               task="eval", smoke=False)
    assert summary["model"] == model and summary["n"] == 2 and summary["markers"]["background"] is True
    assert 0.3 < summary["dice"] <= 1.0  # two real photos with real strokes: far from a failure
    assert (Path(cfg.paths.output_dir) / "per_image.csv").is_file()


def test_grabcut_does_not_depend_on_the_calls_before():
    from projects.variational_seg.anchors import grabcut_mask

    image, target = square_scene(40, seed=3)
    rgb = (image * 255).astype(np.uint8)
    click = disk(*target.shape, 22, 25, 3)
    alone = grabcut_mask(rgb, click, border_mask(target.shape))
    other, _ = square_scene(40, seed=4)
    grabcut_mask((other[::-1] * 255).astype(np.uint8), click, border_mask(target.shape))  # moves OpenCV's RNG
    assert (grabcut_mask(rgb, click, border_mask(target.shape)) == alone).all()
