"""The named functions of the training step against hand-computed numbers."""

import math

import pytest
import torch
from torch import nn

from projects.semiseg.losses import check_levels, hierarchical_masked_ce, masked_ce, pixel_weights
from projects.semiseg.perturb import apply_complementary_dropout, complementary_dropout
from projects.semiseg.pseudo_labels import (
    PseudoLabels,
    cutmix,
    cutmix_labels,
    historical_pseudo_labels,
    teacher_pseudo_labels,
)
from shared.callbacks import HistoricalCheckpointQueue, ema_momentum, ema_update

CONF = torch.tensor([[[0.80, 0.87], [0.92, 0.97]]])   # one 2x2 confidence map
LEVELS, WEIGHTS = (0.85, 0.90, 0.95), (0.1, 0.2, 0.7)


@pytest.mark.parametrize("t, expected", [(0, 0.0), (1, 0.5), (2, 2 / 3), (249, 0.996), (250, 0.996), (10_000, 0.996)])
def test_ema_momentum_values(t, expected):
    assert ema_momentum(t) == pytest.approx(expected)


def test_ema_momentum_rejects_negative_step():
    with pytest.raises(ValueError):
        ema_momentum(-1)


def test_ema_update_params_and_buffers():
    teacher, student = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    with torch.no_grad():
        teacher.weight.fill_(1.0)
        student.weight.fill_(3.0)
        teacher.running_mean.fill_(0.0)
        student.running_mean.fill_(4.0)
        student.num_batches_tracked.fill_(7)
    ema_update(teacher, student, 0.75)
    assert torch.allclose(teacher.weight, torch.full((2,), 1.5))          # 0.75*1 + 0.25*3
    assert torch.allclose(teacher.running_mean, torch.full((2,), 1.0))    # 0.75*0 + 0.25*4
    assert int(teacher.num_batches_tracked) == 7                          # integer buffers copied
    ema_update(teacher, student, ema_momentum(0))                         # t=0: teacher := student
    assert torch.allclose(teacher.weight, student.weight)


def test_nested_vs_banded_weights_on_a_2x2_map():
    nested = pixel_weights(CONF, LEVELS, WEIGHTS, "nested")
    banded = pixel_weights(CONF, LEVELS, WEIGHTS, "banded")
    assert torch.allclose(nested, torch.tensor([[[0.0, 0.1], [0.3, 1.0]]]))
    assert torch.allclose(banded, torch.tensor([[[0.0, 0.1], [0.2, 0.7]]]))


def _target(conf=CONF, ignore=None):
    label = torch.zeros_like(conf, dtype=torch.long)
    ignore = torch.zeros_like(label) if ignore is None else ignore
    return PseudoLabels(label=label, conf=conf, ignore=ignore)


def test_hierarchical_masked_ce_hand_computed():
    logits = torch.zeros(1, 2, 2, 2)                        # CE = ln 2 at every pixel
    ignore = torch.tensor([[[0, 0], [0, 255]]])             # the 0.97 pixel is padding
    loss = hierarchical_masked_ce(logits, _target(ignore=ignore), LEVELS, WEIGHTS, "nested")
    assert loss.item() == pytest.approx(math.log(2) * (0.0 + 0.1 + 0.3) / 3)   # / non-padded pixels
    banded = hierarchical_masked_ce(logits, _target(ignore=ignore), LEVELS, WEIGHTS, "banded")
    assert banded.item() == pytest.approx(math.log(2) * (0.0 + 0.1 + 0.2) / 3)


def test_masked_ce_is_unimatch_v2_formula():
    torch.manual_seed(0)
    logits, conf = torch.randn(2, 3, 4, 4), torch.rand(2, 4, 4)
    label, ignore = torch.randint(0, 3, (2, 4, 4)), (torch.rand(2, 4, 4) > 0.8).long() * 255
    ce = nn.functional.cross_entropy(logits, label, reduction="none")
    expected = (ce * ((conf >= 0.5) & (ignore != 255))).sum() / (ignore != 255).sum()
    got = masked_ce(logits, PseudoLabels(label, conf, ignore), 0.5)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_equal_thresholds_nested_reduce_to_single_threshold_banded_do_not():
    torch.manual_seed(1)
    logits, conf = torch.randn(2, 3, 4, 4), torch.rand(2, 4, 4)
    target = PseudoLabels(torch.randint(0, 3, (2, 4, 4)), conf, torch.zeros(2, 4, 4, dtype=torch.long))
    v2 = masked_ce(logits, target, 0.6)
    nested = hierarchical_masked_ce(logits, target, (0.6, 0.6, 0.6), WEIGHTS, "nested")
    banded = hierarchical_masked_ce(logits, target, (0.6, 0.6, 0.6), WEIGHTS, "banded")
    assert nested.item() == pytest.approx(v2.item(), rel=1e-6)
    assert banded.item() == pytest.approx(0.7 * v2.item(), rel=1e-6)


@pytest.mark.parametrize("thresholds, weights, weighting, match", [
    ((0.95, 0.90, 0.85), WEIGHTS, "nested", "increasing order"),
    ((0.85, 0.90), WEIGHTS, "nested", "same length"),
    ((0.85, 0.90, 1.5), WEIGHTS, "nested", r"\[0, 1\]"),
    (LEVELS, WEIGHTS, "stacked", "weighting"),
])
def test_bad_levels_are_clear_errors(thresholds, weights, weighting, match):
    with pytest.raises(ValueError, match=match):
        check_levels(thresholds, weights, weighting)


def test_complementary_dropout_masks():
    g = torch.Generator().manual_seed(0)
    batch, channels = 6, 32
    mask = complementary_dropout(batch, channels, g)
    m1, m2 = mask[:batch], mask[batch:]
    assert mask.shape == (2 * batch, channels)
    assert torch.all(m1 + m2 == 2)                                   # complementary everywhere
    kept = (m1 == 1).all(dim=1)
    assert int(kept.sum()) == batch // 2                             # half of the images untouched
    assert torch.all(m2[kept] == 1)
    assert set(m1[~kept].unique().tolist()) <= {0.0, 2.0}            # the others: dropout at rate 0.5, x2
    assert set(m2[~kept].unique().tolist()) <= {0.0, 2.0}


def test_complementary_dropout_same_mask_for_equal_widths():
    feats = [torch.ones(4, 8, 2, 2) for _ in range(4)]
    out = apply_complementary_dropout(feats, torch.Generator().manual_seed(3))
    assert all(torch.equal(out[0], o) for o in out[1:])
    pyramid = apply_complementary_dropout([torch.ones(4, c, 2, 2) for c in (4, 8, 16, 32)],
                                          torch.Generator().manual_seed(3))
    assert [p.shape[1] for p in pyramid] == [4, 8, 16, 32]


def test_cutmix_takes_the_flipped_partner_inside_the_box():
    images = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2)])   # image 0 zeros, image 1 ones
    box = torch.tensor([[[True, False], [False, False]], [[False, False], [False, True]]])
    mixed = cutmix(images, box)
    assert mixed[0, :, 0, 0].tolist() == [1.0, 1.0, 1.0] and mixed[0, :, 1, 1].tolist() == [0.0, 0.0, 0.0]
    assert mixed[1, :, 1, 1].tolist() == [0.0, 0.0, 0.0] and mixed[1, :, 0, 0].tolist() == [1.0, 1.0, 1.0]
    labels = PseudoLabels(torch.tensor([[[1, 1], [1, 1]], [[2, 2], [2, 2]]]),
                          torch.tensor([[[0.1] * 2] * 2, [[0.9] * 2] * 2]),
                          torch.tensor([[[0, 0], [0, 0]], [[255, 255], [255, 255]]]))
    m = cutmix_labels(labels, box)
    assert m.label[0].tolist() == [[2, 1], [1, 1]] and m.label[1].tolist() == [[2, 2], [2, 1]]
    assert m.conf[0, 0, 0].item() == pytest.approx(0.9) and m.ignore[0].tolist() == [[255, 0], [0, 0]]


class Constant(nn.Module):
    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits))

    def forward(self, x):
        return self.logits[None, :, None, None].expand(x.shape[0], -1, x.shape[2], x.shape[3])


def test_teacher_pseudo_labels_hand_computed():
    teacher = Constant([0.0, math.log(3.0)])               # softmax = (0.25, 0.75)
    weak, ignore = torch.zeros(2, 3, 2, 2), torch.zeros(2, 2, 2, dtype=torch.long)
    pl_ = teacher_pseudo_labels(teacher, weak, ignore)
    assert torch.all(pl_.label == 1) and torch.allclose(pl_.conf, torch.full((2, 2, 2), 0.75))


def test_historical_pseudo_labels_weighted_logits():
    queue = HistoricalCheckpointQueue(length=2, max_models=2, random_count=False, seed=0)
    assert historical_pseudo_labels(queue, torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2)) is None
    queue.push(Constant([2.0, 0.0]))
    queue.push(Constant([0.0, 4.0]))
    draw = queue.draw()
    weights = {i: w for i, w in zip(draw.indices, draw.weights.tolist())}
    expected = torch.tensor([2.0 * weights[0], 4.0 * weights[1]])
    queue.generator.manual_seed(0)                          # same draw again inside the function
    out = historical_pseudo_labels(queue, torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2))
    p = expected.softmax(0)
    assert torch.allclose(out.conf, torch.full((1, 2, 2), float(p.max())))
    assert torch.all(out.label == int(p.argmax()))
