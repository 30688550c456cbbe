"""The batched ADMM + FFT solver of the weighted bounded-Hessian selective model (spec sections 2-6).

    min_{u in [0,1]}  sum alpha|grad u| + sum beta|hess u|_F + lam sum Fhat u + theta sum D_G u

Split p = grad u, q = hess u, w = u (scaled-form ADMM); u-update by one rfft2/irfft2, p and q by
shrinkage, w by box projection. Per-sample convergence is tracked on the device (``done``,
``iters_at``) and converged samples are frozen with ``torch.where``, so batched and per-image runs
give the same result; the host checks "all done" only every ``check_every`` iterations.
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


def energy(w: Tensor, alpha: Tensor, beta: Tensor, r: Tensor) -> Tensor:
    """E(w) = sum alpha|grad w| + sum beta|hess w|_W + sum r w, per sample (B,)."""
    g = op.grad(w)
    tv = (alpha * torch.sqrt(g[:, 0] ** 2 + g[:, 1] ** 2)).sum((-2, -1))
    return tv + (beta * op.norm_w(op.hess(w))).sum((-2, -1)) + (r * w).sum((-2, -1))


def _pad(x: Tensor, pad: int) -> Tensor:
    """Reflect-pad (B, H, W) or (B, C, H, W) by ``pad`` on each side."""
    if pad <= 0:
        return x
    squeeze = x.dim() == 3
    x4 = x[:, None] if squeeze else x
    out = F.pad(x4, (pad, pad, pad, pad), mode="reflect")
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
    radius = params.init_radius or max(3, round(0.03 * min(h, w)))
    return {"z": z, "dg": dg, "alpha": alpha, "beta": beta, "u0": disks(markers, radius)}


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
    pad = max(0, min(params.pad, h - 1, w_ - 1))
    z, dg, alpha, beta, u = (_pad(inputs[k], pad) for k in ("z", "dg", "alpha", "beta", "u0"))
    lam = per_sample(params.lam, b, z).view(-1, 1, 1)
    theta = per_sample(params.theta, b, z).view(-1, 1, 1)
    use_q = bool((beta > 0).any())
    rho = params.rho
    den = op.solve_symbol(*u.shape[-2:], rho, rho, rho if use_q else 0.0, z.dtype, z.device)

    c1, c2 = region_means(z, u)
    r = lam * fit_term(z, c1, c2, params.normalize_fit) + theta * dg
    p, q, w = op.grad(u), op.hess(u), u.clone()
    mp, mq, mw = torch.zeros_like(p), torch.zeros_like(q), torch.zeros_like(w)
    e0 = energy(w, alpha, beta, r)
    t_p, t_q = alpha / rho, beta / rho

    done = torch.zeros(b, dtype=torch.bool, device=z.device)
    iters_at = torch.full((b,), params.max_iter, dtype=torch.long, device=z.device)
    prev = (p, q, w)
    k = 0
    for k in range(1, params.max_iter + 1):
        act = ~done
        a3, a4 = act.view(-1, 1, 1), act.view(-1, 1, 1, 1)
        rhs = rho * op.grad_adj(p - mp) + rho * (w - mw) - r
        if use_q:
            rhs = rhs + rho * op.hess_adj(q - mq)
        u_new = op.fft_solve(rhs, den)
        gu = op.grad(u_new)
        p_new = op.shrink_vector(gu + mp, t_p)
        if use_q:
            hu = op.hess(u_new)
            q_new = op.shrink_frobenius(hu + mq, t_q)
            mq = torch.where(a4, mq + hu - q_new, mq)
        else:
            q_new = q
        w_new = torch.clamp(u_new + mw, 0.0, 1.0)
        mp = torch.where(a4, mp + gu - p_new, mp)
        mw = torch.where(a3, mw + u_new - w_new, mw)
        rel = torch.linalg.vector_norm((u_new - u).flatten(1), dim=1) / \
            torch.linalg.vector_norm(u.flatten(1), dim=1).clamp(min=1e-12)
        prev = (p, q, w)
        u = torch.where(a3, u_new, u)
        p = torch.where(a4, p_new, p)
        q = torch.where(a4, q_new, q)
        w = torch.where(a3, w_new, w)
        newly = act & (rel < params.tol) & (k >= params.min_iter)
        iters_at = torch.where(newly, torch.full_like(iters_at, k), iters_at)
        done = done | newly
        if params.update_c and k % params.c_every == 0:
            n1, n2 = region_means(z, w)
            c1 = torch.where(act.view(-1, 1), n1, c1)
            c2 = torch.where(act.view(-1, 1), n2, c2)
            r = torch.where(a3, lam * fit_term(z, c1, c2, params.normalize_fit) + theta * dg, r)
        if k % params.check_every == 0 and bool(done.all()):
            break

    primal = torch.sqrt(((op.grad(u) - p) ** 2).sum((1, 2, 3)) + ((op.hess(u) - q) ** 2).sum((1, 2, 3))
                        + ((u - w) ** 2).sum((1, 2)))
    dual = rho * torch.sqrt((op.grad_adj(p - prev[0]) ** 2).sum((1, 2)) + ((w - prev[2]) ** 2).sum((1, 2)))
    crop = (slice(None), slice(pad, pad + h), slice(pad, pad + w_))
    out = w[crop]
    log = {"energy_init": e0, "energy_final": energy(w, alpha, beta, r), "primal_residual": primal,
           "dual_residual": dual, "c1": c1, "c2": c2, "loop_iterations": torch.tensor(k),
           "undecided_fraction": ((out > 0.1) & (out < 0.9)).float().flatten(1).mean(1),
           "dg": inputs["dg"], "alpha": inputs["alpha"], "beta": inputs["beta"]}
    return out, iters_at, log
