"""Spec 13.1-13.3: adjoints, the FFT solve, the shrinkage proxes."""

import math

import torch

from projects.variational_seg import operators as op


def _inner_w(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a[:, 0] * b[:, 0] + 2 * a[:, 1] * b[:, 1] + a[:, 2] * b[:, 2]).sum())


def test_adjoint_identities_float64():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(2, 13, 17, generator=g, dtype=torch.float64)
    p = torch.randn(2, 2, 13, 17, generator=g, dtype=torch.float64)
    q = torch.randn(2, 3, 13, 17, generator=g, dtype=torch.float64)
    assert abs(float((op.grad(u) * p).sum()) - float((u * op.grad_adj(p)).sum())) < 1e-10
    assert abs(_inner_w(op.hess(u), q) - float((u * op.hess_adj(q)).sum())) < 1e-10


def test_hessian_of_a_quadratic_is_exact_inside():
    yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    h = op.hess((xx ** 2 + 3 * xx * yy - yy ** 2).double())
    assert torch.allclose(h[0, 3:8, 3:8], torch.tensor(2.0, dtype=torch.float64))    # u_xx
    assert torch.allclose(h[1, 3:8, 3:8], torch.tensor(3.0, dtype=torch.float64))    # u_xy
    assert torch.allclose(h[2, 3:8, 3:8], torch.tensor(-2.0, dtype=torch.float64))   # u_yy


def test_fft_solve_inverts_the_system():
    b = torch.randn(1, 16, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    den = op.solve_symbol(16, 20, 2.0, 3.0, 0.5, dtype=torch.float64)
    u = op.fft_solve(b, den)
    assert torch.allclose(op.apply_system(u, 2.0, 3.0, 0.5), b, atol=1e-10)


def test_vector_shrinkage_hand_computed():
    v = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)  # |v| = 5, t = 1 -> v * 4/5
    out = op.shrink_vector(v, torch.tensor([[[1.0]]]))
    assert torch.allclose(out.flatten(), torch.tensor([2.4, 3.2]))
    assert torch.equal(op.shrink_vector(v, torch.tensor([[[6.0]]])), torch.zeros_like(v))


def test_frobenius_shrinkage_hand_computed():
    # (xx, xy, yy) = (1, 2, 2): |v|_W = sqrt(1 + 2*4 + 4) = sqrt(13); t = 1 -> scale (sqrt13 - 1)/sqrt13
    v = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64).view(1, 3, 1, 1)
    out = op.shrink_frobenius(v, torch.tensor([[[1.0]]], dtype=torch.float64))
    s = (math.sqrt(13) - 1) / math.sqrt(13)
    assert torch.allclose(out.flatten(), torch.tensor([s, 2 * s, 2 * s], dtype=torch.float64))


def test_stacked_split_operators_match_grad_hess_and_are_adjoint():
    """A u = (grad u, hess u, u) on one channel axis and A^T in the W metric, with and without q."""
    g = torch.Generator().manual_seed(2)
    u = torch.randn(2, 11, 14, generator=g, dtype=torch.float64)
    for use_q in (True, False):
        au = op.split_forward(u, use_q)
        parts = [op.grad(u)] + ([op.hess(u)] if use_q else []) + [u[:, None]]
        assert torch.equal(au, torch.cat(parts, 1))
        d = torch.randn(au.shape, generator=g, dtype=torch.float64)
        weight = torch.ones(au.shape[1], dtype=torch.float64)
        if use_q:
            weight[3] = 2.0  # the xy entry counts twice in <., .>_W
        lhs = float((au * d * weight.view(1, -1, 1, 1)).sum())
        assert abs(lhs - float((u * op.split_adjoint(d, use_q)).sum())) < 1e-10
        out = torch.empty_like(au)
        assert op.split_forward(u, use_q, out=out) is out and torch.equal(out, au)


def test_stacked_prox_is_the_three_proxes():
    g = torch.Generator().manual_seed(3)
    v = torch.randn(2, 6, 5, 7, generator=g, dtype=torch.float64)
    t_p, t_q = (torch.rand(2, 5, 7, generator=g, dtype=torch.float64) for _ in range(2))
    z = op.split_prox(v, t_p, t_q, use_q=True)
    assert torch.allclose(z[:, :2], op.shrink_vector(v[:, :2], t_p))
    assert torch.allclose(z[:, 2:5], op.shrink_frobenius(v[:, 2:5], t_q))
    assert torch.equal(z[:, 5], v[:, 5].clamp(0, 1))
    without_q = op.split_prox(v[:, [0, 1, 5]], t_p, t_q, use_q=False)  # (p, w) only: tv and rci
    assert torch.allclose(without_q[:, :2], z[:, :2]) and torch.equal(without_q[:, 2], z[:, 5])


def test_fft_apply_inverse_equals_the_division():
    b = torch.randn(2, 12, 18, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    den = op.solve_symbol(12, 18, 1.0, 1.0, 1.0, dtype=torch.float64)
    by_division = torch.fft.irfft2(torch.fft.rfft2(b) / den, s=(12, 18))
    assert torch.allclose(op.fft_apply_inverse(b, 1.0 / den), by_division, atol=1e-12)
