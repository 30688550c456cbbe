"""A binary s-t minimum cut on a 4-connected pixel grid, some pixels free and the rest fixed (issue 29's
band solve, ``band_solve``): minimises

    E(l) = sum_p D_l(p)(p) + sum_{p~q} w_pq [l_p != l_q],   l in {0 (background), 1 (foreground)}

over the free pixels, the fixed pixels' labels entering through the pairwise terms of their free
neighbours. The max flow is scipy's (``scipy.sparse.csgraph.maximum_flow``, Dinic; integer capacities,
so costs are scaled by ``resolution`` and rounded); the cut is the set reachable from the source in the
residual graph. PyMaxflow is not in this environment; scipy's flow on the few thousand pixels of a thin
band takes milliseconds.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, maximum_flow


def contrast_weights(colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right (H, W-1), down (H-1, W)) edge weights exp(-beta |I_p - I_q|^2) of an (H, W, C) image, beta =
    1 / (2 mean |I_p - I_q|^2) over both directions (GrabCut's contrast term, Rother et al. 2004): 1 in flat
    regions, small across a colour edge."""
    x = colours.astype(np.float32)
    right = ((x[:, 1:] - x[:, :-1]) ** 2).sum(-1)
    down = ((x[1:] - x[:-1]) ** 2).sum(-1)
    mean = (right.sum() + down.sum()) / max(1, right.size + down.size)
    beta = 0.5 / mean if mean > 0 else 0.0
    return np.exp(-beta * right), np.exp(-beta * down)


def grid_cut(cost_fg: np.ndarray, cost_bg: np.ndarray, w_right: np.ndarray, w_down: np.ndarray,
             free: np.ndarray, fixed_fg: np.ndarray, resolution: float = 1000.0) -> np.ndarray:
    """Bool (H, W) foreground labels minimising E (module docstring): ``cost_fg`` / ``cost_bg`` (H, W) >= 0 the
    costs of labelling a pixel foreground / background, ``w_right`` (H, W-1) / ``w_down`` (H-1, W) >= 0 the
    pairwise weights, ``free`` (H, W) bool the pixels to solve; elsewhere the label is ``fixed_fg``."""
    h, w = free.shape
    fixed_fg = fixed_fg.astype(bool)
    out = fixed_fg & ~free
    n = int(free.sum())
    if n == 0:
        return out
    node = np.full((h, w), -1, dtype=np.int64)
    node[free] = np.arange(n)
    source, sink = n, n + 1
    to_source = cost_bg[free].astype(np.float64)   # s->p is cut when p ends background
    to_sink = cost_fg[free].astype(np.float64)     # p->t is cut when p ends foreground
    rows, cols, caps = [], [], []
    pairs = (((slice(None), slice(None, -1)), (slice(None), slice(1, None)), w_right),
             ((slice(None, -1), slice(None)), (slice(1, None), slice(None)), w_down))
    for sa, sb, wgt in pairs:
        a, b = node[sa], node[sb]
        for p, q, q_fg in ((a, b, fixed_fg[sb]), (b, a, fixed_fg[sa])):
            edge = (p >= 0) & (q < 0)   # a free p beside a fixed q pays w when its label differs from q's
            to_source += np.bincount(p[edge & q_fg], wgt[edge & q_fg], minlength=n)
            to_sink += np.bincount(p[edge & ~q_fg], wgt[edge & ~q_fg], minlength=n)
        both = (a >= 0) & (b >= 0)
        rows += [a[both], b[both]]
        cols += [b[both], a[both]]
        caps += [wgt[both], wgt[both]]
    ids = np.arange(n)
    rows += [np.full(n, source), ids]
    cols += [ids, np.full(n, sink)]
    caps += [to_source, to_sink]
    cap = np.rint(np.concatenate(caps) * resolution).astype(np.int32)
    r, c = np.concatenate(rows), np.concatenate(cols)
    keep = cap > 0
    graph = csr_matrix((cap[keep], (r[keep], c[keep])), shape=(n + 2, n + 2))
    flow = maximum_flow(graph, source, sink, method="dinic").flow
    residual = (graph - flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int8)
    residual.eliminate_zeros()
    reached = breadth_first_order(residual, source, directed=True, return_predecessors=False)
    fg = np.zeros(n + 2, dtype=bool)
    fg[reached] = True
    out[free] = fg[:n]
    return out
