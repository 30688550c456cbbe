"""Periodic finite-difference operators, their adjoints, the FFT symbol of the u-subproblem and the
proximal shrinkages (spec sections 3-5). All act on the last two dims (H, W) of float tensors.

The Hessian is stored as three fields (xx, xy, yy) with the weighted inner product
``<q, q'>_W = q_xx q'_xx + 2 q_xy q'_xy + q_yy q'_yy`` so that ``|q|_W`` is the Frobenius norm of the
symmetric 2x2 matrix.
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


def grad_hess(u: Tensor) -> tuple[Tensor, Tensor]:
    """(:func:`grad` u, :func:`hess` u) sharing the first differences (one ADMM iteration needs both)."""
    ux, uy = dx_f(u), dy_f(u)
    return torch.stack((ux, uy), dim=-3), torch.stack((dx_b(ux), dy_f(ux), dy_b(uy)), dim=-3)


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
    h, w = rhs.shape[-2:]
    return torch.fft.irfft2(torch.fft.rfft2(rhs) / den, s=(h, w))


def shrink_by_norm(v: Tensor, n: Tensor, t: Tensor) -> Tensor:
    """v max(|v| - t, 0) / |v| per pixel, written as v max(1 - t / |v|, 0) (fewer kernels)."""
    return v * (1 - t / n.clamp(min=1e-12)).clamp(min=0).unsqueeze(1)


def shrink_vector(v: Tensor, t: Tensor) -> Tensor:
    """Prox of t|.| for 2-vectors per pixel: v (B, 2, H, W), t (B, H, W)."""
    return shrink_by_norm(v, (v[:, 0] * v[:, 0]).addcmul_(v[:, 1], v[:, 1]).sqrt_(), t)


def shrink_frobenius(v: Tensor, t: Tensor) -> Tensor:
    """Prox of t|.|_W for the (xx, xy, yy) field in the W metric: v (B, 3, H, W), t (B, H, W)."""
    return shrink_by_norm(v, norm_w(v), t)
