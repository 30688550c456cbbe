"""The seeded sampler every training loader uses: data order and augmentation are functions of
(seed, epoch), so a seeded run repeats exactly and a run resumed from ``last.ckpt`` draws the same
batches and the same augmentations as the uninterrupted one (the epoch comes back with the loop
state; the seed is in the datamodule's checkpoint state).

:class:`SeededSampler` yields ``(index, seed)`` pairs: the sample and the seed its augmentation
pipeline is reset to (:func:`shared.datasets.transformed.split_key`), whichever worker loads it. It shards
the pairs by rank itself, without the padding duplicates of ``DistributedSampler``; it subclasses
``DistributedSampler`` only so that Lightning (``use_distributed_sampler=True``) leaves it in place
instead of wrapping it in a second, unseeded one.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

ORDER_STREAM, SEED_STREAM = 1_000_003, 7_919   # two independent generator streams per (seed, epoch)


def loader_generator(seed: int) -> torch.Generator:
    """For ``DataLoader(generator=...)``: a loader draws its worker base seed from this generator instead
    of the global torch RNG, so how many loaders were iterated (with workers or not, persistent or not,
    validation, embedding passes) never shifts the stream that dropout draws from."""
    return torch.Generator().manual_seed(int(seed))


def rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class SeededSampler(DistributedSampler):
    """``size`` items, ``num_samples`` per epoch (the list repeated and reshuffled when larger), in
    an order drawn from (seed, epoch); ``shuffle=False``: 0..size-1 in order (evaluation)."""

    def __init__(self, size: int, num_samples: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = True) -> None:
        # DistributedSampler.__init__ would query the process group now; rank and world are read per epoch.
        self.size, self.num_samples = int(size), int(num_samples or size)
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, int(seed), drop_last, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.size)
        g = torch.Generator().manual_seed(self.seed * ORDER_STREAM + self.epoch)
        # Every item `full` times plus a random `rest` of them (drawn anew each epoch), then shuffled: a
        # capped epoch (num_samples < size) is a fresh random subset of the whole set, every item appears
        # full or full + 1 times, and without a cap (full = 1, rest = 0) the order is one permutation.
        full, rest = divmod(self.num_samples, self.size)
        parts = [torch.arange(self.size).repeat(full)]
        if rest:
            parts.append(torch.randperm(self.size, generator=g)[:rest])
        order = torch.cat(parts)
        return order[torch.randperm(len(order), generator=g)]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rank, world = rank_world()
        order = self._order()
        g = torch.Generator().manual_seed(self.seed * SEED_STREAM + self.epoch + 1)
        seeds = torch.randint(0, 2**31 - 1, (len(order),), generator=g)
        usable = len(order) - len(order) % world if self.drop_last else len(order)
        for i in range(rank, usable, world):
            yield int(order[i]), int(seeds[i])

    def __len__(self) -> int:
        rank, world = rank_world()
        total = self.num_samples if self.shuffle else self.size
        if self.drop_last:
            return total // world
        return len(range(rank, total, world))
