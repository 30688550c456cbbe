"""Model families: output heads and shapes, the seed CNN's article structure, the classical measures."""

import numpy as np
import pytest
import torch

from projects.quality.degradations import DEFECTS
from projects.quality.models import create_model
from projects.quality.models.classical import ClassicalIQA, blockiness, noise_sigma
from shared.lightning_utils import count_parameters


@pytest.mark.parametrize("arch", ["mobilenetv3_small_100", "resnet10t"])  # with and without a conv head
def test_timm_iqa_has_three_heads(arch):
    model = create_model({"kind": "timm_iqa", "arch": arch}, [64, 48], DEFECTS)
    out = model(torch.randn(2, 3, 64, 48))
    assert out["reject"].shape == (2,) and out["defects"].shape == (2, len(DEFECTS)) and out["score"].shape == (2,)


def test_seed_cnn_is_the_articles_network():
    model = create_model({"kind": "seed_cnn"}, [128, 96], DEFECTS)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128] and all(c.padding == (0, 0) for c in convs)
    dropout = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropout) == 1 and dropout[0].p == 0.5
    # flatten 128 x 14 x 10 -> dense 128 -> 1: 32*27+32 + 64*288+64 + 128*576+128 + 17920*128+128 + 129
    assert count_parameters(model) == 896 + 18496 + 73856 + 2293888 + 129
    assert set(model(torch.randn(3, 3, 128, 96))) == {"reject"}


def test_classical_measures_react_to_their_defect():
    rng = np.random.default_rng(0)
    flat = np.full((64, 64), 0.5)
    assert noise_sigma(flat) == pytest.approx(0.0, abs=1e-9)
    assert noise_sigma(flat + rng.normal(0, 0.05, flat.shape)) == pytest.approx(0.05, rel=0.15)  # Immerkaer
    blocks = np.kron(rng.uniform(0, 255, (8, 8)), np.ones((8, 8)))  # 8x8 constant blocks: steps only on the grid
    assert blockiness(blocks) > 50 and blockiness(rng.uniform(0, 255, (64, 64))) == pytest.approx(1.0, abs=0.1)


def test_uncalibrated_classical_model_is_a_clear_error():
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="not calibrated"):
        ClassicalIQA(list(DEFECTS)).predict_images([np.zeros((8, 8, 3), np.uint8)])
