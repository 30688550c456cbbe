"""The seeded sampler: an epoch capped below the set size draws a fresh random subset of the whole set
(a cut before the shuffle kept the first items forever: semiseg's unlabelled photos 0..epoch_samples-1,
all of them pixel-labelled-train photos, issue 14), and without a cap the order is unchanged."""

from __future__ import annotations

import torch

from shared.datasets.sampler import ORDER_STREAM, SeededSampler


def _indices(sampler: SeededSampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return [i for i, _ in sampler]


def test_a_capped_epoch_draws_from_the_whole_set_and_changes_with_the_epoch():
    sampler = SeededSampler(100, 20, seed=3)
    first, second = _indices(sampler, 0), _indices(sampler, 1)
    assert len(first) == len(set(first)) == 20 and first != second
    assert max(first) >= 20 or max(second) >= 20                         # not only the first 20 items
    seen = {i for epoch in range(30) for i in _indices(sampler, epoch)}
    assert len(seen) > 95                                                 # 30 x 20 draws cover the set


def test_without_a_cap_the_order_is_one_permutation_drawn_from_seed_and_epoch():
    sampler = SeededSampler(50, seed=2)
    order = _indices(sampler, 4)
    g = torch.Generator().manual_seed(2 * ORDER_STREAM + 4)
    assert order == torch.randperm(50, generator=g).tolist()            # the same as before the fix
    assert sorted(order) == list(range(50))


def test_more_samples_than_items_repeat_every_item_as_evenly_as_possible():
    sampler = SeededSampler(10, 25, seed=0)
    counts = torch.bincount(torch.tensor(_indices(sampler, 0)), minlength=10)
    assert counts.sum() == 25 and set(counts.tolist()) == {2, 3}         # each item 2 or 3 times
