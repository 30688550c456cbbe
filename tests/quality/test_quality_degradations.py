"""Degradations: deterministic from the generator, stronger with severity; the benchmark recipe."""

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure as ssim

from projects.quality.datasets import QualityArrays, Recipe, SyntheticPool, build_arrays, plan_defects
from projects.quality.degradations import DEFECTS, SEVERITIES, degrade, framing, subject_mask
from shared.datasets.synthetic import SyntheticSpec, make_sample
from shared.errors import ConfigError

PHOTOMETRIC = ("blur", "noise", "jpeg", "underexposed", "overexposed", "low_resolution", "colour_cast", "clutter")


@pytest.fixture(scope="module")
def product():
    s = make_sample(5, 3, SyntheticSpec(image_size=96, clutter_prob=0.0))
    background = make_sample(6, 1, SyntheticSpec(image_size=96, clutter_prob=1.0)).image
    return s.image, s.mask > 0, background


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    t = [torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 for x in (a, b)]
    return float(ssim(t[0], t[1], data_range=1.0))


@pytest.mark.parametrize("defect", DEFECTS)
def test_same_generator_state_gives_the_same_bytes(product, defect):
    image, mask, bg = product
    a = degrade(image, defect, 3, np.random.default_rng(7), mask=mask, background=bg)
    b = degrade(image, defect, 3, np.random.default_rng(7), mask=mask, background=bg)
    assert a.shape == image.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, image)


@pytest.mark.parametrize("defect", PHOTOMETRIC)
@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_to_pristine_falls_strictly_with_severity(product, defect, seed):
    image, mask, bg = product
    scores = [_ssim(degrade(image, defect, s, np.random.default_rng(seed), mask=mask, background=bg), image)
              for s in SEVERITIES]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores


def test_framing_keeps_less_of_the_photo_with_severity(product):
    """SSIM cannot rank geometric changes, so framing is checked geometrically: with a photo whose
    red/green channels encode x/y, the visible window of the original shrinks with severity (cut
    off), and the photo's footprint on the canvas shrinks (tiny)."""
    h, w = 96, 72
    yy, xx = np.mgrid[0:h, 0:w]
    coords = np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), np.full_like(xx, 128)], axis=2).astype(np.uint8)
    windows, footprints = [], []
    for s in SEVERITIES:
        cut = framing(coords, s, np.random.default_rng(2), kind="cutoff").astype(int)
        windows.append(np.ptp(cut[..., 0]) * np.ptp(cut[..., 1]))
        white = np.full_like(coords, 255)
        white[1:-1, 1:-1] = 0  # a black photo with a white border: the canvas is white
        footprints.append((framing(white, s, np.random.default_rng(2), kind="tiny")[..., 0] < 128).sum())
    assert all(a > b for a, b in zip(windows, windows[1:])), windows
    assert all(a > b for a, b in zip(footprints, footprints[1:])), footprints


def test_bad_defect_and_severity_are_clear_errors(product):
    image = product[0]
    with pytest.raises(ConfigError, match="unknown defect 'smudge'"):
        degrade(image, "smudge", 1, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="severity must be one of"):
        degrade(image, "noise", 6, np.random.default_rng(0))


def test_subject_mask_only_for_studio_shots(product):
    image, mask, background = product
    found = subject_mask(image)
    assert found is not None and (found & mask).sum() / mask.sum() > 0.9
    assert subject_mask(background) is None  # a busy scene has no clean background


def test_plans_are_seeded_and_never_mix_under_and_over_exposure():
    plans = [plan_defects(0, i, v, clutter_ok=True)[0] for i in range(200) for v in range(1, 4)]
    assert plans == [plan_defects(0, i, v, clutter_ok=True)[0] for i in range(200) for v in range(1, 4)]
    assert plan_defects(0, 5, 0, True)[0] == []  # variant 0 is the pristine copy
    names = [{d for d, _ in p} for p in plans]
    assert not any({"underexposed", "overexposed"} <= n for n in names)
    assert {d for n in names for d in n} == set(DEFECTS) and {len(p) for p in plans} == {1, 2}
    assert not any("clutter" in n for n in ({d for d, _ in plan_defects(0, i, 1, False)[0]} for i in range(200)))


def test_built_benchmark_labels_and_ssim_target():
    arrays = build_arrays(SyntheticPool("val", 5, seed=3, size=48), Recipe(variants=4, seed=3))
    ds = QualityArrays(arrays)
    assert len(ds) == 20
    for i in range(len(ds)):
        s = ds[i]
        assert s["label"] == int(s["defects"].sum() > 0) == int(s["severity"].max() > 0)
        if s["label"] == 0:
            assert s["score"] == pytest.approx(1.0, abs=1e-6)  # the pristine copy
        else:
            assert 0 < s["score"] < 1
    again = build_arrays(SyntheticPool("val", 5, seed=3, size=48), Recipe(variants=4, seed=3))
    assert np.array_equal(arrays["images"], again["images"]) and np.array_equal(arrays["score"], again["score"])
