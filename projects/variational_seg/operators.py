"""Periodic finite-difference operators, their adjoints, the FFT symbol of the u-subproblem and the
proximal shrinkages (spec sections 3-5). All act on the last two dims (H, W) of float tensors.

The Hessian is stored as three fields (xx, xy, yy) with the weighted inner product
``<q, q'>_W = q_xx q'_xx + 2 q_xy q'_xy + q_yy q'_yy`` so that ``|q|_W`` is the Frobenius norm of the
symmetric 2x2 matrix.

The ADMM splits z = A u = (grad u, hess u, u) and keeps the three fields stacked on one channel
axis, ``(B, 6, H, W)`` = (u_x, u_y, u_xx, u_xy, u_yy, u), or ``(B, 3, H, W)`` = (u_x, u_y, u) when
the model has no Hessian term: :func:`split_forward` is A, :func:`split_adjoint` is A^T (W metric)
and :func:`split_prox` the three proximal maps, each a handful of whole-field kernels. (Norms over
the channel axis are written out: ``torch.linalg.vector_norm(dim=1)`` is ~100x slower on the CPU.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def dx_f(u: Tensor) -> Tensor:
    return torch.roll(u, -1, -1) - u


def dy_f(u: Tensor) -> Tensor:
    return torch.roll(u, -1, -2) - u


def dx_b(u: Tensor) -> Tensor:
    return u - torch.roll(u, 1, -1)


def dy_b(u: Tensor) -> Tensor:
    return u - torch.roll(u, 1, -2)


def grad(u: Tensor) -> Tensor:
    """(..., H, W) -> (..., 2, H, W): forward differences (x, y)."""
    return torch.stack((dx_f(u), dy_f(u)), dim=-3)


def grad_adj(p: Tensor) -> Tensor:
    """Adjoint of :func:`grad` (= -div with backward differences)."""
    return -dx_b(p[..., 0, :, :]) - dy_b(p[..., 1, :, :])


def hess(u: Tensor) -> Tensor:
    """(..., H, W) -> (..., 3, H, W): (u_xx, u_xy, u_yy) = (dx- dx+ u, dy+ dx+ u, dy- dy+ u)."""
    ux, uy = dx_f(u), dy_f(u)
    return torch.stack((dx_b(ux), dy_f(ux), dy_b(uy)), dim=-3)


def hess_adj(q: Tensor) -> Tensor:
    """Adjoint of :func:`hess` in the W inner product: dx-dx+ q_xx + 2 dx-dy- q_xy + dy-dy+ q_yy."""
    return dx_b(dx_f(q[..., 0, :, :])) + 2 * dx_b(dy_b(q[..., 1, :, :])) + dy_b(dy_f(q[..., 2, :, :]))


def norm_w(q: Tensor) -> Tensor:
    """Per-pixel Frobenius norm of the (xx, xy, yy) field: sqrt(q_xx^2 + 2 q_xy^2 + q_yy^2)."""
    xx, xy, yy = q[..., 0, :, :], q[..., 1, :, :], q[..., 2, :, :]
    return (xx * xx).addcmul_(xy, xy, value=2.0).addcmul_(yy, yy).sqrt_()


def laplace_symbol(h: int, w: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> Tensor:
    """Symbol of grad^T grad on the rfft2 grid, shape (h, w // 2 + 1): 4 sin^2(pi l/h) + 4 sin^2(pi k/w)."""
    ly = torch.arange(h, dtype=torch.float64, device=device)
    kx = torch.arange(w // 2 + 1, dtype=torch.float64, device=device)
    sym = 4 * torch.sin(math.pi * ly / h)[:, None] ** 2 + 4 * torch.sin(math.pi * kx / w)[None, :] ** 2
    return sym.to(dtype)


def solve_symbol(h: int, w: int, rho_w: float, rho_p: float, rho_q: float, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> Tensor:
    """Symbol of A = rho_w I + rho_p grad^T grad + rho_q hess^T_W hess (>= rho_w > 0 everywhere)."""
    lap = laplace_symbol(h, w, torch.float64, device)
    return (rho_w + rho_p * lap + rho_q * lap ** 2).to(dtype)


def apply_system(u: Tensor, rho_w: float, rho_p: float, rho_q: float) -> Tensor:
    """A u computed with the difference operators (used to check the FFT solve)."""
    return rho_w * u + rho_p * grad_adj(grad(u)) + rho_q * hess_adj(hess(u))


def fft_solve(rhs: Tensor, den: Tensor) -> Tensor:
    """Solve A u = rhs with periodic boundaries: u = irfft2(rfft2(rhs) / den)."""
    return fft_apply_inverse(rhs, 1.0 / den)


def fft_apply_inverse(rhs: Tensor, inv_den: Tensor) -> Tensor:
    """irfft2(rfft2(rhs) * inv_den) for a real symbol ``inv_den`` = 1 / den (a complex-by-real
    product is several times cheaper than the division on the CPU)."""
    h, w = rhs.shape[-2:]
    return torch.fft.irfft2(torch.fft.rfft2(rhs).mul_(inv_den), s=(h, w))


def shrink_factor(n: Tensor, t: Tensor) -> Tensor:
    """max(1 - t / |v|, 0) per pixel from the norms n (overwritten): v times it is the prox of t|.|."""
    return torch.addcdiv(torch.ones((), dtype=n.dtype, device=n.device), t, n.clamp_(min=1e-12),
                         value=-1.0).clamp_(min=0)


def vector_norm2(v: Tensor) -> Tensor:
    """Per-pixel Euclidean norm of a 2-vector field (B, 2, H, W) -> (B, H, W)."""
    return (v[:, 0] * v[:, 0]).addcmul_(v[:, 1], v[:, 1]).sqrt_()


def shrink_by_norm(v: Tensor, n: Tensor, t: Tensor, out: Tensor | None = None) -> Tensor:
    """v max(|v| - t, 0) / |v| per pixel, written as v max(1 - t / |v|, 0) (fewer kernels)."""
    return torch.mul(v, shrink_factor(n, t).unsqueeze(1), out=out)


def shrink_vector(v: Tensor, t: Tensor) -> Tensor:
    """Prox of t|.| for 2-vectors per pixel: v (B, 2, H, W), t (B, H, W)."""
    return shrink_by_norm(v, vector_norm2(v), t)


def shrink_frobenius(v: Tensor, t: Tensor) -> Tensor:
    """Prox of t|.|_W for the (xx, xy, yy) field in the W metric: v (B, 3, H, W), t (B, H, W)."""
    return shrink_by_norm(v, norm_w(v), t)


def split_forward(u: Tensor, use_q: bool, out: Tensor | None = None) -> Tensor:
    """A u = (u_x, u_y[, u_xx, u_xy, u_yy], u): (B, H, W) -> (B, 6 or 3, H, W), written into ``out``
    (a new tensor if None; the solver reuses its buffers: fresh 6-field tensors cost page faults)."""
    b, h, w = u.shape
    if out is None:
        out = u.new_empty(b, 6 if use_q else 3, h, w)
    ux, uy = out[:, 0], out[:, 1]
    torch.sub(torch.roll(u, -1, -1), u, out=ux)
    torch.sub(torch.roll(u, -1, -2), u, out=uy)
    if use_q:
        torch.sub(ux, torch.roll(ux, 1, -1), out=out[:, 2])
        torch.sub(torch.roll(ux, -1, -2), ux, out=out[:, 3])
        torch.sub(uy, torch.roll(uy, 1, -2), out=out[:, 4])
    out[:, -1] = u
    return out


def split_adjoint(d: Tensor, use_q: bool) -> Tensor:
    """A^T d = grad^T d_p + hess^T_W d_q + d_w, grouped by the outer backward difference:
    dx-(dx+ d_xx + 2 dy- d_xy - d_x) + dy-(dy+ d_yy - d_y) + d_w (5 differences instead of 8)."""
    if use_q:
        ex = dx_f(d[:, 2]).add_(dy_b(d[:, 3]), alpha=2.0).sub_(d[:, 0])
        ey = dy_f(d[:, 4]).sub_(d[:, 1])
        return dx_b(ex).add_(dy_b(ey)).add_(d[:, -1])
    return (d[:, -1] - dx_b(d[:, 0])).sub_(dy_b(d[:, 1]))


def split_prox(v: Tensor, t_p: Tensor, t_q: Tensor, use_q: bool, out: Tensor | None = None) -> Tensor:
    """The z-update: vector shrinkage of p by t_p, Frobenius (W) shrinkage of q by t_q, w onto [0, 1]
    (written into ``out``, a new tensor if None)."""
    return StackedProx(t_p, t_q, use_q).apply(v, out)


class StackedProx:
    """:func:`split_prox` for one solve: the thresholds stacked once as (B, 2, H, W) = (t_p, t_q) (or
    (B, 1, H, W) = t_p without the Hessian) and the scratch buffers reused every call. Both norms come
    from one squaring of the p and q channels and both shrink factors max(1 - t / |v|, 0) from one pass
    over the stack (11 kernels instead of 16)."""

    def __init__(self, t_p: Tensor, t_q: Tensor, use_q: bool) -> None:
        self.use_q = use_q
        self.t = torch.stack((t_p, t_q), 1) if use_q else t_p[:, None]
        self.one = torch.ones((), dtype=t_p.dtype, device=t_p.device)
        self.factor = torch.empty_like(self.t)
        b, _, h, w = self.t.shape
        self.squares = self.t.new_empty(b, 5 if use_q else 2, h, w)  # the p (and q) channels of v

    def apply(self, v: Tensor, out: Tensor | None = None) -> Tensor:
        z = torch.empty_like(v) if out is None else out
        pq = v[:, :self.squares.shape[1]]
        sq, f = torch.mul(pq, pq, out=self.squares), self.factor
        torch.add(sq[:, 0], sq[:, 1], out=f[:, 0])
        if self.use_q:  # |q|_W^2 = q_xx^2 + 2 q_xy^2 + q_yy^2
            torch.add(sq[:, 2], sq[:, 4], out=f[:, 1]).add_(sq[:, 3], alpha=2.0)
        f.sqrt_().clamp_(min=1e-12)
        torch.addcdiv(self.one, self.t, f, value=-1.0, out=f).clamp_(min=0.0)
        torch.mul(v[:, :2], f[:, :1], out=z[:, :2])
        if self.use_q:
            torch.mul(v[:, 2:5], f[:, 1:], out=z[:, 2:5])
        torch.clamp(v[:, -1], 0.0, 1.0, out=z[:, -1])
        return z
