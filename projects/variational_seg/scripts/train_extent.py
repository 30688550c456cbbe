"""Train the extent net (``extent_net``: from one click, how far the clicked object reaches), on CCP objects and
catalogue products pasted on photos (``extent_data``; never GrabCut). The shipped nets (seeds 0, 1, 2):

    python -m projects.variational_seg.scripts.train_extent --seed 0 \
        --out projects/variational_seg/weights/extent_lite0_s0.safetensors

A history net (``--history``, usually ``--init`` a trained first-click net: it starts from its weights) also reads
the previous mask and every click; its training follows RITM's iterative scheme: per batch 0 to ``--rounds`` times
the net (in eval mode, no gradient) predicts from the clicks so far, and the protocol's next click goes to that
prediction's larger error (``extent_data.corrective_click``); then it learns the object from that state:

    python -m projects.variational_seg.scripts.train_extent --history --seed 0 --epochs 2 \
        --init projects/variational_seg/weights/extent_lite0_s0.safetensors \
        --out projects/variational_seg/weights/extent_history_lite0_s0.safetensors

Seeded (``--seed``: the pasting, the clicks, the batches and the net's initial weights), on the CPU
(``--threads``); each epoch prints its mean loss. The weights file carries the net's config and how it was
trained (the arguments, the photos and objects, the per-epoch losses, the seconds). The frozen encoder sees
every photo once (the maps are kept in memory, about 0.8 GB), then the head trains on them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from projects.variational_seg.extent_data import FINE, Example, build_examples, corrective_click, deep_click
from projects.variational_seg.extent_net import (
    ExtentConfig,
    ExtentNet,
    history_maps,
    load_extent,
    save_extent,
    with_history,
)
from projects.variational_seg.feature_term import FeatureOptions, ImageEncoder
from shared.errors import EcomvisionError
from shared.paths import data_root


def extent_loss(logit: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy on the soft (area-averaged) target plus the soft Jaccard loss 1 - sum(p t) /
    sum(p + t - p t) per example, averaged: the cross-entropy alone lets a small object's few positions be
    outvoted by the background's."""
    p = torch.sigmoid(logit)
    inter = (p * target).sum((1, 2))
    union = (p + target - p * target).sum((1, 2)).clamp_min(1e-6)
    return F.binary_cross_entropy_with_logits(logit, target) + (1.0 - inter / union).mean()


def batches(examples: list[Example], size: int, rng: np.random.Generator) -> list[list[tuple[int, int]]]:
    """(example, object) pairs in batches of ``size`` whose photos share one grid size, in random order."""
    by_grid: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    pairs = [(i, j) for i, e in enumerate(examples) for j in range(len(e.objects))]
    for k in rng.permutation(len(pairs)):
        i, j = pairs[k]
        by_grid.setdefault(tuple(examples[i].maps[0].shape[-2:]), []).append((i, j))
    found = [group[s:s + size] for group in by_grid.values() for s in range(0, len(group), size)]
    return [found[k] for k in rng.permutation(len(found))]


def batch_tensors(examples: list[Example], pairs: list[tuple[int, int]],
                  rng: np.random.Generator) -> tuple[list[Tensor], Tensor, Tensor] | None:
    """(maps per stage (B, C, h, w), clicks (B, 2), targets (B, h, w)): one deep click per object, each example
    mirrored left-right at random."""
    maps: list[list[Tensor]] = [[] for _ in examples[0].maps]
    clicks, targets = [], []
    for i, j in pairs:
        coverage = examples[i].objects[j].float()
        click = deep_click(coverage.numpy(), rng)
        if click is None:
            continue
        flip = bool(rng.random() < 0.5)
        target = F.avg_pool2d(coverage[None, None], FINE)[0, 0]
        width = target.shape[1]
        for stage, m in enumerate(examples[i].maps):
            maps[stage].append(m.flip(-1) if flip else m)
        clicks.append([click[0], width - 1 - click[1] if flip else click[1]])
        targets.append(target.flip(-1) if flip else target)
    if not clicks:
        return None
    return [torch.stack(m) for m in maps], torch.tensor(clicks, dtype=torch.float32), torch.stack(targets)


def simulate_history(net: ExtentNet, maps: list[Tensor], first: Tensor, targets: Tensor, rounds: int,
                     rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """(latest clicks (B, 2), ``history_maps`` (B, 3, h, w)) after ``rounds`` corrective clicks, each at the larger
    error of the net's own prediction from the state before it (eval mode, no gradient); an example whose
    prediction has no error keeps its state."""
    n, h, w = targets.shape
    positive = [[c] for c in first.tolist()]
    negative: list[list[list[float]]] = [[] for _ in range(n)]
    previous: list[Tensor | None] = [None] * n
    latest = first.clone()

    def state() -> Tensor:
        return torch.stack([history_maps(h, w, torch.tensor(positive[b]).reshape(-1, 2),
                                         torch.tensor(negative[b]).reshape(-1, 2), previous[b]) for b in range(n)])
    was_training = net.training
    net.eval()
    for _ in range(rounds):
        with torch.no_grad():
            prob = torch.sigmoid(net(maps, latest, state()))
        for b in range(n):
            click = corrective_click(targets[b].numpy() > 0.5, prob[b].numpy() > 0.5, rng)
            if click is None:
                continue
            row, col, is_positive = click
            (positive if is_positive else negative)[b].append([row, col])
            latest[b] = torch.tensor([row, col])
            previous[b] = prob[b]
    net.train(was_training)
    return latest, state()


def train(examples: list[Example], cfg: ExtentConfig, epochs: int, batch_size: int, lr: float,
          seed: int, init: ExtentNet | None = None, rounds: int = 2) -> tuple[ExtentNet, list[float]]:
    """AdamW with a one-cycle schedule; returns the net and each epoch's mean loss. ``init``: a first-click net
    a history net (``cfg.history``) starts from; ``rounds``: a history batch's most simulated corrective clicks."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = with_history(init) if init is not None else ExtentNet(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * len(batches(examples, batch_size, np.random.default_rng(seed)))
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps))
    losses = []
    for epoch in range(epochs):
        start, total, seen = time.perf_counter(), 0.0, 0
        net.train()
        for pairs in batches(examples, batch_size, rng):
            found = batch_tensors(examples, pairs, rng)
            if found is None:
                continue
            maps, clicks, targets = found
            history = None
            if net.cfg.history:
                clicks, history = simulate_history(net, maps, clicks, targets, int(rng.integers(0, rounds + 1)), rng)
            loss = extent_loss(net(maps, clicks, history), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            total, seen = total + float(loss.detach()) * len(clicks), seen + len(clicks)
        losses.append(total / max(1, seen))
        print(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    return net.eval(), losses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the weights file to write (.safetensors)")
    parser.add_argument("--data-root", default=None, help="the real-data root (default: $ECOMVISION_DATA or "
                                                          "../shared/data)")
    parser.add_argument("--ccp", type=int, default=1004, help="CCP labelled photos to use (first N)")
    parser.add_argument("--products", type=int, default=2946, help="catalogue products to paste (first N)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--history", action="store_true", help="a history net: also the previous mask and all clicks")
    parser.add_argument("--init", type=Path, default=None, help="a history net starts from this first-click net")
    parser.add_argument("--rounds", type=int, default=2, help="a history batch's most simulated corrective clicks")
    args = parser.parse_args(argv)
    if args.init is not None and not args.history:
        parser.error("--init starts a history net from a first-click one: give --history too")
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    root = data_root(args.data_root)
    try:
        init = None if args.init is None else load_extent(args.init)[0]
    except EcomvisionError as exc:
        raise SystemExit(f"error: {exc}") from None
    if init is not None and init.cfg.history:
        raise SystemExit(f"error: --init {args.init} is a history net already; give a first-click net")
    cfg = init.cfg if init is not None else ExtentConfig(history=args.history)
    try:
        encoder = ImageEncoder(FeatureOptions(arch=cfg.arch, pretrained=cfg.pretrained, stages=cfg.stages,
                                              input_side=cfg.input_side))
        examples = build_examples(root, encoder, args.ccp, args.products, args.seed)
    except EcomvisionError as exc:   # no data or no packaged weights: one line, not a traceback
        raise SystemExit(f"error: {exc}") from None
    objects = sum(len(e.objects) for e in examples)
    print(f"extent net: {len(examples)} photos, {objects} objects ({time.perf_counter() - began:.0f} s to build)",
          flush=True)
    net, losses = train(examples, cfg, args.epochs, args.batch_size, args.lr, args.seed, init, args.rounds)
    about = {"history": args.history, "init": None if args.init is None else args.init.name, "rounds": args.rounds,
             "ccp": args.ccp, "products": args.products, "epochs": args.epochs, "batch_size": args.batch_size,
             "lr": args.lr, "seed": args.seed, "photos": len(examples), "objects": objects,
             "losses": [round(v, 5) for v in losses], "seconds": round(time.perf_counter() - began, 1)}
    save_extent(net, args.out, about)
    print(f"wrote {args.out}: final loss {losses[-1]:.4f}" if losses else f"wrote {args.out} (0 epochs)")


if __name__ == "__main__":
    main()
