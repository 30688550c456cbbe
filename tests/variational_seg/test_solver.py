"""Spec 13.5-13.7: special cases, the chan_vese anchor, energy decrease, batched == per-image loop."""

import numpy as np
import pytest
import torch
from skimage.segmentation import chan_vese

from projects.variational_seg.params import SolverParams
from projects.variational_seg.solver import Convergence, disks, padding, solve
from tests.variational_seg.helpers import as_batch, dsc, params_for, scene

FAST = {"max_iter": 300}


def test_tv_model_matches_skimage_chan_vese_at_mu_005():
    image, target, _ = scene(48, seed=1)
    x, m = as_batch(image, [(20, 17)])
    params = params_for("tv", {"alpha0": 0.05, "lam": 1.0, "normalize_fit": False, **FAST})
    ours = solve(x, m, params)[0][0].numpy() > 0.5
    init = np.where(disks(m, 3)[0].numpy() > 0, 1.0, -1.0)
    ref = chan_vese(image, mu=0.05, init_level_set=init)
    ref = ref if ref[20, 17] else ~ref
    assert dsc(ours, ref) >= 0.99 and dsc(ours, target) >= 0.97


def test_disks_are_the_union_of_the_pixels_within_radius_of_a_marker():
    markers = torch.zeros(2, 9, 12, dtype=torch.bool)
    markers[0, 4, 5] = True
    markers[1, 0, 0] = markers[1, 8, 11] = markers[1, 3, 9] = True
    for radius in (0, 1, 2, 3, 5):
        rows, cols = torch.meshgrid(torch.arange(9), torch.arange(12), indexing="ij")
        for b in range(2):
            want = torch.zeros(9, 12)
            for r, c in markers[b].nonzero().tolist():
                want[(rows - r) ** 2 + (cols - c) ** 2 <= radius ** 2] = 1.0
            assert torch.equal(disks(markers, radius)[b], want), (radius, b)
    assert disks(markers, 2)[0].sum() == 13   # the 13 pixels with dy^2 + dx^2 <= 4


def test_disk_with_markers_inside_is_segmented():
    image, target, _ = scene(64, seed=2)
    x, m = as_batch(image, [(26, 23), (22, 28), (31, 20)])
    w, iters, log = solve(x, m, params_for("wbh", FAST))
    assert dsc(w[0].numpy() > 0.5, target) > 0.95
    assert 5 <= int(iters[0]) < 300 and float(log["undecided_fraction"][0]) < 0.05


def test_selective_model_excludes_the_look_alike_and_tv_does_not():
    image, target, other = scene(64, distractor=True, seed=3)
    x, m = as_batch(image, [(27, 23)])
    sel = solve(x, m, params_for("wbh", FAST))[0][0].numpy() > 0.5
    tv = solve(x, m, params_for("tv", FAST))[0][0].numpy() > 0.5
    assert sel[other].mean() < 0.05 and dsc(sel, target) > 0.9
    assert tv[other].mean() > 0.9


def test_energy_decreases_and_primal_residual_is_small():
    image, _, _ = scene(48, distractor=True, seed=4)
    x, m = as_batch(image, [(20, 17)], dtype=torch.float64)
    _, _, log = solve(x, m, SolverParams(update_c=False, tol=1e-6, max_iter=400))
    assert float(log["energy_final"][0]) <= float(log["energy_init"][0])
    assert float(log["primal_residual"][0]) < 1e-2


def test_batched_equals_per_image_loop():
    a, _, _ = scene(40, seed=5)
    b, _, _ = scene(40, distractor=True, seed=6)
    xa, ma = as_batch(a, [(17, 14)], torch.float64)
    xb, mb = as_batch(b, [(17, 14), (15, 16)], torch.float64)
    params = SolverParams(max_iter=200, lam=[5.0, 4.0], theta=[5.0, 6.0])
    w, iters, _ = solve(torch.cat([xa, xb]), torch.cat([ma, mb]), params)
    wa, ia, _ = solve(xa, ma, params.with_(lam=5.0, theta=5.0))
    wb, ib, _ = solve(xb, mb, params.with_(lam=4.0, theta=6.0))
    assert torch.equal(w[0] > 0.5, wa[0] > 0.5) and torch.equal(w[1] > 0.5, wb[0] > 0.5)
    assert iters.tolist() == [int(ia[0]), int(ib[0])]
    assert iters[0] != iters[1]  # the two samples stopped at different k: per-sample convergence


def test_padding_makes_fft_friendly_sizes_and_the_output_keeps_the_input_size():
    for h, w in [(107, 160), (139, 97), (20, 33)]:
        left, right, top, bottom = padding(h, w, 16)
        assert min(left, right, top, bottom) >= min(16, h - 1, w - 1)
        for n in (h + top + bottom, w + left + right):
            k = n
            for f in (2, 3, 5):
                while k % f == 0:
                    k //= f
            assert k == 1, (h, w, n)
    assert padding(3, 2, 16) == (1, 1, 2, 2)  # reflect padding stops below the image size
    image, _, _ = scene(40, seed=7)
    x, m = as_batch(image[:37, :29], [(15, 12)])
    assert solve(x, m, SolverParams(max_iter=50))[0].shape == (1, 37, 29)


def test_over_relaxation_reaches_the_plain_admm_minimiser_in_fewer_iterations():
    image, _, _ = scene(48, distractor=True, seed=8)
    x, m = as_batch(image, [(20, 17)], dtype=torch.float64)
    tight = SolverParams(update_c=False, tol=1e-7, max_iter=3000)
    w_plain, it_plain, _ = solve(x, m, tight.with_(relax=1.0))
    w_relax, it_relax, _ = solve(x, m, tight.with_(relax=1.5))
    assert float((w_plain - w_relax).abs().max()) < 1e-2
    assert int(it_relax[0]) < int(it_plain[0])


def test_out_of_range_relaxation_or_tolerance_is_a_config_error():
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="relax"):
        SolverParams(relax=2.0)
    with pytest.raises(ConfigError, match="tol"):
        params_for("wbh", {"tol": 0.0})


def test_convergence_host_and_device_paths_stop_each_sample_at_the_same_k():
    # u_k = 1 + r^k per sample: ||u_k - u_k-1|| < tol ||u_k-1|| once r^(k-1) (1 - r) < tol (1 + r^(k-1))
    rates = (0.5, 0.7, 0.9)
    r = torch.tensor(rates, dtype=torch.float64).view(-1, 1, 1)
    params = SolverParams(tol=1e-3, min_iter=5, max_iter=200, check_every=10)
    expected = [next(k for k in range(5, 200) if q ** (k - 1) * (1 - q) < 1e-3 * (1 + q ** (k - 1))) for q in rates]
    u = torch.ones(3, 4, 5, dtype=torch.float64)
    host, device = Convergence(u, params, on_host=True), Convergence(u, params, on_host=False)
    all_host = all_device = None
    for k in range(1, 101):
        u_new = 1 + r ** k * torch.ones_like(u)
        live = [k <= e for e in expected]  # before this update
        assert (host.live is None and all(live)) or host.live.tolist() == live
        assert device.live.tolist() == live
        if host.update(k, u_new, u) and all_host is None:
            all_host = k
        if device.update(k, u_new, u) and all_device is None:
            all_device = k
        u = u_new
    assert host.iterations().tolist() == device.iterations().tolist() == expected
    assert len(set(expected)) == 3 and all_host == max(expected)  # the CPU knows at once
    assert all_device == -(-max(expected) // 10) * 10               # a GPU asks every check_every iterations
