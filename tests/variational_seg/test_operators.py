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
