"""The batched ADMM + FFT solver of the weighted bounded-Hessian selective model (spec sections 2-6).

    min_{u in [0,1]}  sum alpha|grad u| + sum beta|hess u|_F + lam sum Fhat u + theta sum D_G u

Split z = (p, q, w) = A u = (grad u, hess u, u), stacked on one channel axis (scaled-form ADMM);
u-update by one rfft2/irfft2, p and q by shrinkage, w by box projection, optionally over-relaxed
(``relax``, Boyd et al. 2011 section 3.4.3). One iteration, with v = z + m:

    u  = (A^T A)^-1 (A^T (z - m) - r / rho)        one FFT solve
    v <- v + a (A u - z);   z <- prox(v);   z - m = 2 z - v

The fields live in buffers reused every iteration. Per-sample convergence is tracked on the device
(``done``, ``iters_at``); a converged sample is frozen by freezing its u and v (z and m are functions
of v), so batched and per-image runs give the same result; on a GPU the host
checks "all done" only every ``check_every`` iterations, on the CPU (where a check is free) every one.
The reflect padding is grown to FFT-friendly sizes (2^a 3^b 5^c): a prime side such as 139 made each
FFT about four times slower.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from projects.variational_seg import operators as op
from projects.variational_seg.geodesic import geodesic_distance
from projects.variational_seg.params import SolverParams
from projects.variational_seg.weights import weight_maps


def per_sample(value: Any, b: int, like: Tensor) -> Tensor:
    """A float or a length-B sequence -> (B,) tensor."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device).flatten()
    if t.numel() == 1:
        return t.expand(b).clone()
    if t.numel() != b:
        raise ValueError(f"per-sample parameter has {t.numel()} values for a batch of {b}")
    return t


def minmax(z: Tensor) -> Tensor:
    """Scale each sample of (B, C, H, W) to [0, 1] over all channels."""
    lo = z.flatten(1).amin(1).view(-1, 1, 1, 1)
    hi = z.flatten(1).amax(1).view(-1, 1, 1, 1)
    return (z - lo) / (hi - lo).clamp(min=1e-12)


def disks(markers: Tensor, radius: int) -> Tensor:
    """Union of disks of ``radius`` around the True pixels of markers (B, H, W) -> float (B, H, W)."""
    r = torch.arange(-radius, radius + 1, device=markers.device)
    kernel = ((r[:, None] ** 2 + r[None, :] ** 2) <= radius ** 2).float()[None, None]
    hit = F.conv2d(markers.float()[:, None], kernel, padding=radius)[:, 0]
    return (hit > 0.5).float()


def init_radius(h: int, w: int, radius: int | None = None) -> int:
    """Radius of the initial marker disks: ``radius`` when set, else max(3, round(0.03 min(H, W)))."""
    return radius or max(3, round(0.03 * min(h, w)))


def fit_term(z: Tensor, c1: Tensor, c2: Tensor, normalize: bool) -> Tensor:
    """F = |z - c1|^2 - |z - c2|^2 (summed over channels), divided by max |F| per sample if normalize."""
    f = ((z - c1[..., None, None]) ** 2 - (z - c2[..., None, None]) ** 2).sum(1)
    if normalize:
        f = f / f.abs().flatten(1).amax(1).clamp(min=1e-12).view(-1, 1, 1)
    return f


def region_means(z: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Soft means c1 = sum z w / sum w, c2 = sum z (1-w) / sum (1-w), per channel -> (B, C) each."""
    w4 = w[:, None]
    c1 = (z * w4).sum((-2, -1)) / w4.sum((-2, -1)).clamp(min=1e-12)
    c2 = (z * (1 - w4)).sum((-2, -1)) / (1 - w4).sum((-2, -1)).clamp(min=1e-12)
    return c1, c2


def keep(live: Tensor | None, new: Tensor, old: Tensor) -> Tensor:
    """``new`` for the samples still iterating (live (B,) bool), ``old`` for the converged ones;
    ``live=None`` means all are live (the CPU path skips the where's until one sample converges)."""
    if live is None:
        return new
    return torch.where(live.view((-1,) + (1,) * (new.dim() - 1)), new, old)


def ascent_(v: Tensor, au: Tensor, z: Tensor, a: float, live: Tensor | None) -> Tensor:
    """v <- v + a (A u - z) in place: the relaxed A u plus the scaled multiplier in one field (``au``
    is overwritten); samples not ``live`` (converged) keep their v.

    With m the scaled multiplier and over-relaxation ``a`` (Boyd et al. 2011, section 3.4.3; a = 1 is
    plain ADMM), the z-update is z' = prox(a A u + (1 - a) z + m) and m' = a A u + (1 - a) z + m - z'.
    Keeping v = z + m instead of m makes both one line: v' = v + a (A u - z), z' = prox(v'), m' = v' - z'.
    Since z and m are functions of v, freezing v (and u) freezes a converged sample entirely.
    """
    step = au.sub_(z)
    if live is not None:
        step.mul_(live.view(-1, 1, 1, 1).to(step.dtype))
    return v.add_(step, alpha=a)


def residuals(u: Tensor, z: Tensor, z_prev: Tensor, rho: float, use_q: bool) -> tuple[Tensor, Tensor]:
    """Primal ||A u - z|| and dual rho ||A^T (z - z_prev)|| per sample (Boyd 3.3)."""
    primal = torch.linalg.vector_norm((op.split_forward(u, use_q) - z).flatten(1), dim=1)
    dual = rho * torch.linalg.vector_norm(op.split_adjoint(z - z_prev, use_q).flatten(1), dim=1)
    return primal, dual


def energy(w: Tensor, alpha: Tensor, beta: Tensor, r: Tensor) -> Tensor:
    """E(w) = sum alpha|grad w| + sum beta|hess w|_W + sum r w, per sample (B,)."""
    g = op.grad(w)
    tv = (alpha * torch.sqrt(g[:, 0] ** 2 + g[:, 1] ** 2)).sum((-2, -1))
    return tv + (beta * op.norm_w(op.hess(w))).sum((-2, -1)) + (r * w).sum((-2, -1))


def fft_friendly(n: int) -> int:
    """The smallest m >= n whose only prime factors are 2, 3 and 5 (fast FFT lengths; a prime such as
    139 is several times slower)."""
    m = n
    while True:
        k = m
        for f in (2, 3, 5):
            while k % f == 0:
                k //= f
        if k == 1:
            return m
        m += 1


def padding(h: int, w: int, pad: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom): at least ``pad`` reflected pixels per side (fewer on tiny images),
    grown evenly so that the padded size is FFT-friendly."""
    def split(n: int) -> tuple[int, int]:
        base = max(0, min(pad, n - 1))
        extra = fft_friendly(n + 2 * base) - n - 2 * base
        return min(base + extra // 2, n - 1), min(base + extra - extra // 2, n - 1)
    return (*split(w), *split(h))


def _pad(x: Tensor, pads: tuple[int, int, int, int]) -> Tensor:
    """Reflect-pad (B, H, W) or (B, C, H, W) by ``pads`` = (left, right, top, bottom)."""
    if not any(pads):
        return x
    squeeze = x.dim() == 3
    x4 = x[:, None] if squeeze else x
    out = F.pad(x4, pads, mode="reflect")
    return out[:, 0] if squeeze else out


def prepare(images: Tensor, markers: Tensor, params: SolverParams) -> dict[str, Tensor]:
    """Per-pixel inputs on the unpadded grid: z, D_G, alpha, beta, u0 (all float, same device/dtype)."""
    if markers.dim() != 3 or markers.shape != (images.shape[0], *images.shape[-2:]):
        raise ValueError(f"markers must be (B, H, W) matching images {tuple(images.shape)}, got {tuple(markers.shape)}")
    if not bool(markers.flatten(1).any(1).all()):
        raise ValueError("every image needs at least one marker pixel")
    b, _, h, w = images.shape
    z = minmax(images)
    theta = per_sample(params.theta, b, z)
    if bool((theta > 0).any()):
        dg = geodesic_distance(z, markers, params.geodesic, params.eps_d, params.beta_g, params.sigma_g,
                               params.geodesic_sweeps)
    else:
        dg = torch.zeros(b, h, w, dtype=z.dtype, device=z.device)
    alpha, beta = weight_maps(z, per_sample(params.alpha0, b, z), per_sample(params.beta0, b, z), params.weights,
                              params.alpha_source, params.beta_source, params.weight_sigma, params.quantile,
                              params.k_min)
    u0 = disks(markers, init_radius(h, w, params.init_radius)).to(z.dtype)
    return {"z": z, "dg": dg, "alpha": alpha, "beta": beta, "u0": u0}


@torch.inference_mode()
def solve(images: Tensor, markers: Tensor, params: SolverParams | None = None) -> tuple[Tensor, Tensor, dict]:
    """Segment a batch: images (B, C, H, W) float, markers (B, H, W) bool.

    Returns ``w`` (B, H, W) in [0, 1] (segmentation ``w > 0.5``), ``iterations`` (B,) long (the
    stopping k of spec 5.7) and a log dict of per-sample tensors (energies, residuals, c1/c2, the
    undecided-pixel fraction).
    """
    params = params or SolverParams()
    inputs = prepare(images, markers, params)
    b, _, h, w_ = images.shape
    pads = padding(h, w_, params.pad)
    z, dg, alpha, beta, u = (_pad(inputs[k], pads) for k in ("z", "dg", "alpha", "beta", "u0"))
    lam = per_sample(params.lam, b, z).view(-1, 1, 1)
    theta = per_sample(params.theta, b, z).view(-1, 1, 1)
    use_q = bool((beta > 0).any())
    rho, a = params.rho, params.relax
    # A^T A u = A^T (z - m) - r / rho: the u-update divided through by rho (fewer kernels).
    inv_den = 1.0 / op.solve_symbol(*u.shape[-2:], 1.0, 1.0, 1.0 if use_q else 0.0, z.dtype, z.device)

    c1, c2 = region_means(z, u)
    r = lam * fit_term(z, c1, c2, params.normalize_fit) + theta * dg
    e0 = energy(u, alpha, beta, r)
    t_p, t_q, r_rho = alpha / rho, beta / rho, r / rho
    split = op.split_forward(u, use_q)  # z = (p, q, w) = A u0
    relaxed_plus_m = split.clone()      # v = z + m, zero multipliers to start
    z_minus_m = split.clone()           # what the u-update sees: z - m = 2 z - v
    split_prev, au = torch.empty_like(split), torch.empty_like(split)  # buffers reused every iteration
    u_norm = torch.linalg.vector_norm(u.flatten(1), dim=1)

    done = torch.zeros(b, dtype=torch.bool, device=z.device)
    iters_at = torch.full((b,), params.max_iter, dtype=torch.long, device=z.device)
    on_cpu = z.device.type == "cpu"  # a host sync costs nothing there: check "all done" every iteration
    k = 0
    for k in range(1, params.max_iter + 1):
        act = ~done
        live = None if on_cpu and not bool(done.any()) else act  # None: nothing to freeze yet
        u_new = op.fft_apply_inverse(op.split_adjoint(z_minus_m, use_q).sub_(r_rho), inv_den)
        ascent_(relaxed_plus_m, op.split_forward(u_new, use_q, out=au), split, a, live)
        split, split_prev = op.split_prox(relaxed_plus_m, t_p, t_q, use_q, out=split_prev), split
        torch.lerp(relaxed_plus_m, split, 2.0, out=z_minus_m)
        new_norm = torch.linalg.vector_norm(u_new.flatten(1), dim=1)
        rel = torch.linalg.vector_norm((u_new - u).flatten(1), dim=1) / u_norm.clamp(min=1e-12)
        u, u_norm = keep(live, u_new, u), keep(live, new_norm, u_norm)
        newly = act & (rel < params.tol) & (k >= params.min_iter)
        iters_at = torch.where(newly, torch.full_like(iters_at, k), iters_at)
        done = done | newly
        if params.update_c and k % params.c_every == 0:
            n1, n2 = region_means(z, split[:, -1])
            c1, c2 = keep(live, n1, c1), keep(live, n2, c2)
            r = keep(live, lam * fit_term(z, c1, c2, params.normalize_fit) + theta * dg, r)
            r_rho = r / rho
        if (on_cpu or k % params.check_every == 0) and bool(done.all()):
            break

    w = split[:, -1]
    primal, dual = residuals(u, split, split_prev, rho, use_q)
    crop = (slice(None), slice(pads[2], pads[2] + h), slice(pads[0], pads[0] + w_))
    out = w[crop].contiguous()
    log = {"energy_init": e0, "energy_final": energy(w, alpha, beta, r), "primal_residual": primal,
           "dual_residual": dual, "c1": c1, "c2": c2, "loop_iterations": torch.tensor(k),
           "undecided_fraction": ((out > 0.1) & (out < 0.9)).float().flatten(1).mean(1),
           "dg": inputs["dg"], "alpha": inputs["alpha"], "beta": inputs["beta"]}
    return out, iters_at, log
