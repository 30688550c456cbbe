"""QualityMetrics under DDP (2 CPU processes, gloo): every rank reports the metrics of all samples,
the same numbers as one process that saw everything (a per-rank PLCC would differ)."""

from __future__ import annotations

import math
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from projects.quality.metrics import QualityMetrics

NAMES = ["blur", "noise", "framing"]


def _data(n: int = 24) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    label = torch.tensor([0, 1] * (n // 2))
    p_reject = (label * 0.4 + torch.rand(n, generator=g) * 0.6).clamp(0, 1)
    p_defects = torch.rand(n, 3, generator=g)
    p_defects[:, 2] = float("nan")  # framing: not covered
    return {"reject": p_reject > 0.5, "p_reject": p_reject, "label": label,
            "score": torch.rand(n, generator=g), "score_target": torch.linspace(0, 1, n) ** 2,
            "p_defects": p_defects, "defects": (torch.rand(n, 3, generator=g) > 0.5).long()}


def _compute(parts: dict[str, torch.Tensor]) -> dict[str, float]:
    m = QualityMetrics(NAMES, prefix="test/")
    m.update(**parts)
    return m.compute()


def _rank(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        data = _data()
        half = {k: v[rank::world] for k, v in data.items()}
        m = QualityMetrics(NAMES, prefix="test/")
        for i in range(0, len(half["label"]), 4):  # several batches per rank
            m.update(**{k: v[i:i + 4] for k, v in half.items()})
        queue.put((rank, m.compute()))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_every_rank_reports_the_metrics_of_all_samples() -> None:
    full = _compute(_data())
    rank0_alone = _compute({k: v[0::2] for k, v in _data().items()})
    assert abs(rank0_alone["test/plcc_logistic"] - full["test/plcc_logistic"]) > 1e-3  # the test can fail
    assert abs(rank0_alone["test/plcc"] - full["test/plcc"]) > 1e-3
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_rank, args=(r, 2, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for rank in (0, 1):
        assert set(results[rank]) == set(full)
        for key, value in full.items():
            got = results[rank][key]
            assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(value, abs=1e-5), key
