"""Spec 13.4: the torch raster scan equals MCP_Geometric; normalisation; the 1-row case."""

import numpy as np
import torch

from projects.variational_seg.geodesic import geodesic_cost, geodesic_distance, geodesic_mcp, geodesic_raster


def test_raster_scan_converges_to_mcp_geometric():
    g = torch.Generator().manual_seed(0)
    z = torch.rand(2, 3, 20, 27, generator=g, dtype=torch.float64)
    seeds = torch.zeros(2, 20, 27, dtype=torch.bool)
    seeds[0, 4, 6] = True
    seeds[1, 17, 2] = seeds[1, 1, 25] = True
    cost = geodesic_cost(z)
    ref = np.stack([geodesic_mcp(cost[i].numpy(), seeds[i].numpy()) for i in range(2)])
    ours = geodesic_raster(cost, seeds, n_iter=200, tol=0.0).numpy()
    assert np.abs(ours - ref).max() <= 1e-9 * ref.max()


def test_one_row_is_the_cumulative_step_cost():
    f = torch.tensor([[[1.0, 3.0, 2.0, 5.0, 1.0]]], dtype=torch.float64)
    seeds = torch.zeros(1, 1, 5, dtype=torch.bool)
    seeds[0, 0, 0] = True
    d = geodesic_raster(f, seeds, n_iter=1)[0, 0]
    assert torch.allclose(d, torch.tensor([0.0, 2.0, 4.5, 8.0, 11.0], dtype=torch.float64))


def test_normalised_distance_is_zero_on_markers_and_max_one():
    z = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    seeds = torch.zeros(1, 16, 16, dtype=torch.bool)
    seeds[0, 8, 8] = True
    for backend in ("mcp", "raster"):
        d = geodesic_distance(z, seeds, backend)
        assert float(d[0, 8, 8]) == 0.0 and abs(float(d.max()) - 1.0) < 1e-6 and float(d.min()) >= 0.0
