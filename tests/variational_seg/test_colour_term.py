"""The colour data term of the shipped model: the weighted EM equals scikit-learn's with unit weights,
a weight of 2 equals a duplicated pixel, the solver takes a given data term, and a two-coloured object
that the two-phase Chan-Vese fit cannot describe is cut out from clicks on both colours."""

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from projects.variational_seg.colour_term import (
    ColourOptions,
    WeightedGMM,
    colour_options,
    keep_marked_components,
    solve_colour,
    spread_weights,
    start_weights,
    to_lab,
)
from projects.variational_seg.solver import solve
from tests.variational_seg.helpers import dsc, params_for


def blobs(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(c, s, size=(n, 3)) for c, s in ((0, 1.0), (6, 0.7), (-5, 1.5))])


def test_weighted_em_with_unit_weights_equals_sklearn_from_the_same_start():
    x = blobs()
    ours = WeightedGMM(3, em_steps=0, reg_covar=1e-3)
    ours.fit(x, np.ones(len(x)))           # the principal-axis start only
    start = (ours.mix.copy(), ours.means.copy(), np.linalg.inv(ours.covs))
    ours.fit(x, np.ones(len(x)), steps=4)
    ref = GaussianMixture(3, covariance_type="full", reg_covar=1e-3, max_iter=4, tol=0.0, weights_init=start[0],
                          means_init=start[1], precisions_init=start[2]).fit(x)
    np.testing.assert_allclose(ours.means, ref.means_, atol=1e-8)
    np.testing.assert_allclose(ours.covs, ref.covariances_, atol=1e-8)
    np.testing.assert_allclose(ours.mix, ref.weights_, atol=1e-10)


def test_weight_two_equals_a_duplicated_pixel():
    x = blobs(60, seed=1)
    w = np.ones(len(x))
    w[:20] = 2.0
    a = WeightedGMM(3, em_steps=3).fit(x, w)
    b = WeightedGMM(3, em_steps=3).fit(np.concatenate([x, x[:20]]), np.ones(len(x) + 20))
    np.testing.assert_allclose(a.means, b.means, atol=1e-8)
    np.testing.assert_allclose(a.covs, b.covs, atol=1e-8)


def test_solver_uses_the_given_data_term():
    x = torch.rand(1, 3, 32, 32)  # the image does not matter when the fit is given and strong
    m = torch.zeros(1, 32, 32, dtype=torch.bool)
    m[0, 16, 16] = True
    inside = torch.zeros(1, 32, 32)
    inside[0, 8:24, 10:26] = 1.0
    fit = 1.0 - 2.0 * inside
    params = params_for("wbh", {"lam": 10.0, "theta": 0.0, "update_c": False, "max_iter": 300})
    w = solve(x, m, params, fit=fit)[0][0].numpy() > 0.5
    assert dsc(w, inside[0].numpy() > 0.5) > 0.97


def two_colour_scene(size: int = 64) -> tuple[torch.Tensor, np.ndarray]:
    """A red/blue square on a green background (noisy): two object colours either side of the
    background in every channel's mean."""
    rng = np.random.default_rng(0)
    target = np.zeros((size, size), dtype=bool)
    target[14:50, 12:52] = True
    image = np.tile(np.array([0.2, 0.7, 0.2]), (size, size, 1))
    image[14:50, 12:32] = [0.9, 0.1, 0.1]
    image[14:50, 32:52] = [0.1, 0.1, 0.9]
    image = np.clip(image + 0.04 * rng.standard_normal(image.shape), 0, 1)
    return torch.from_numpy(image).permute(2, 0, 1)[None].float(), target


def test_two_coloured_object_is_cut_out_from_clicks_on_both_colours():
    x, target = two_colour_scene()
    m = torch.zeros(1, 64, 64, dtype=torch.bool)
    m[0, 30:33, 20:23] = True
    m[0, 30:33, 42:45] = True
    params = params_for("wbh", {"lam": 1.0, "theta": 0.0, "update_c": False})
    w, iterations, log = solve_colour(x, m, None, params, ColourOptions())
    assert dsc(w[0].numpy() > 0.5, target) > 0.95
    assert iterations > 0 and log["fit"].shape == (64, 64)
    assert log["fit"][~target].mean() > 0.5 and log["fit"][target].mean() < -0.5


def test_spread_weights_and_the_first_rounds_weights_by_hand():
    seeds = np.zeros((3, 4), dtype=bool)
    seeds[0, 0] = True
    near = spread_weights(seeds, 0.5)              # s = 0.5 x hypot(3, 4) = 2.5 px
    assert near[0, 0] == 1.0 and near[0, 3] == pytest.approx(np.exp(-9 / 12.5))
    assert near[2, 3] == pytest.approx(np.exp(-13 / 12.5))
    bg_seed = np.zeros(12, dtype=bool)
    bg_seed[11] = True                             # pixel (2, 3) a background seed
    fg_w, bg_w = start_weights(seeds.reshape(-1), bg_seed, (3, 4), ColourOptions(spread=0.5, rest_weight=0.5))
    assert fg_w[0] == 1.0 and bg_w[0] == 0.0       # the marker
    assert fg_w[3] == pytest.approx(np.exp(-9 / 12.5)) and bg_w[3] == pytest.approx(0.5 * (1 - np.exp(-9 / 12.5)))
    assert fg_w[11] == 0.0 and bg_w[11] == 1.0     # the seed keeps its side
    plain_fg, plain_bg = start_weights(seeds.reshape(-1), bg_seed, (3, 4), ColourOptions(rest_weight=0.5))
    assert plain_fg.sum() == 1.0 and plain_bg[3] == 0.5


def test_a_single_click_takes_the_other_colour_of_its_object_only_with_spread():
    x, target = two_colour_scene()
    m = torch.zeros(1, 64, 64, dtype=torch.bool)
    m[0, 30:33, 20:23] = True                      # one click, on the red half
    params = params_for("wbh", {"lam": 1.0, "theta": 0.0, "update_c": False})
    plain, _, _ = solve_colour(x, m, None, params, ColourOptions())
    spread, _, _ = solve_colour(x, m, None, params, ColourOptions(spread=0.2))
    assert plain[0, 14:50, 34:52].mean() < 0.2    # the blue half starts, and stays, in the background model
    assert dsc(spread[0].numpy() > 0.5, target) > 0.95


def test_histogram_ablation_runs_and_background_strokes_are_background():
    x, target = two_colour_scene()
    m = torch.zeros(1, 64, 64, dtype=torch.bool)
    m[0, 30, 20] = m[0, 30, 42] = True
    bg = torch.zeros(1, 64, 64, dtype=torch.bool)
    bg[0, 5, 5:60] = True
    params = params_for("wbh", {"lam": 1.0, "theta": 0.0, "update_c": False})
    w, _, log = solve_colour(x, m, bg, params, ColourOptions(model="histogram"))
    assert (log["fit"][5, 5:60] == 1.0).all() and w[0, 5, 5:60].max() < 0.5


def test_lab_range_and_option_errors():
    lab = to_lab(torch.tensor([[[1.0]], [[1.0]], [[1.0]]]))
    assert lab.shape == (1, 3) and abs(lab[0, 0] - 100.0) < 0.5 and abs(lab[0, 1]) < 1.0
    with pytest.raises(ValueError, match="unknown colour option"):
        colour_options({"bins": 8, "colour_space": "hsv"})
    with pytest.raises(ValueError, match="'gmm' or 'histogram'"):
        ColourOptions(model="kmeans")


def test_keep_marked_drops_only_the_unmarked_foreground_components():
    u = torch.zeros(1, 8, 10)
    u[0, 1:3, 1:3] = 0.9          # marked blob
    u[0, 3, 3] = 0.8              # touches the marked blob diagonally: the same 8-connected component
    u[0, 5:7, 6:9] = 0.7          # unmarked blob: dropped
    u[0, 0, 9] = 0.4              # below 0.5: not foreground, left as it is
    markers = torch.zeros(1, 8, 10, dtype=torch.bool)
    markers[0, 1, 1] = True
    out = keep_marked_components(u, markers)
    expected = u.clone()
    expected[0, 5:7, 6:9] = 0.0
    assert torch.equal(out, expected)
    assert torch.equal(keep_marked_components(torch.zeros(1, 4, 4), markers[:, :4, :4]), torch.zeros(1, 4, 4))


def test_keep_marked_removes_a_same_coloured_patch_far_from_the_click():
    x, target = two_colour_scene()
    x[0, :, 53:63, 2:12] = x[0, :, 31, 21][:, None, None]   # a patch of the clicked colour in a corner
    m = torch.zeros(1, 64, 64, dtype=torch.bool)
    m[0, 30:33, 20:23] = True
    m[0, 30:33, 42:45] = True
    params = params_for("wbh", {"lam": 1.0, "theta": 0.0, "update_c": False})
    plain, _, _ = solve_colour(x, m, None, params, ColourOptions(keep_marked=False))
    kept, _, _ = solve_colour(x, m, None, params, ColourOptions(keep_marked=True))
    assert plain[0, 53:63, 2:12].mean() > 0.8                # the colour model fires on the patch
    assert kept[0, 53:63, 2:12].max() < 0.5 and dsc(kept[0].numpy() > 0.5, target) > 0.95
