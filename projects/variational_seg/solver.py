"""The batched ADMM + FFT solver of the weighted bounded-Hessian selective model (spec sections 2-6).

    min_{u in [0,1]}  sum alpha|grad u| + sum beta|hess u|_F + lam sum Fhat u + theta sum D_G u

Split z = (p, q, w) = A u = (grad u, hess u, u), stacked on one channel axis (scaled-form ADMM);
u-update by one rfft2/irfft2, p and q by shrinkage, w by box projection, optionally over-relaxed
(``relax``, Boyd et al. 2011 section 3.4.3). One iteration, with v = z + m:

    u  = (A^T A)^-1 (A^T (z - m) - r / rho)        one FFT solve
    v <- v + a (A u - z);   z <- prox(v);   z - m = 2 z - v

The fields live in buffers reused every iteration; the p and q shrinkages share one pass over their
stacked norms (``operators.StackedProx``). Per-sample convergence is tracked by :class:`Convergence`
(on host floats on the CPU, on the device on a GPU); a converged sample is frozen by freezing its u and
v (z and m are functions of v), so batched and per-image runs give the same result; on a GPU the host
checks "all done" only every ``check_every`` iterations, on the CPU (where a check is free) every one.
The reflect padding is grown to FFT-friendly sizes (2^a 3^b 5^c): a prime side such as 139 made each
FFT about four times slower.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from projects.variational_seg import operators as op
from projects.variational_seg.geodesic import geodesic_distance
from projects.variational_seg.params import SolverParams
from projects.variational_seg.regularisation_maps import weight_maps


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
    """Union of disks of ``radius`` around the True pixels of markers (B, H, W) -> float (B, H, W): a disk is
    2r + 1 rows, the row dy a run of half-width isqrt(r^2 - dy^2), so the union is the max over dy of a 1-D max
    filter shifted by dy (r + 1 max-pools: on the CPU ~10x faster than a 2-D convolution with the disk, whose
    one-channel oneDNN call costs ~10 ms at the working size)."""
    h = markers.shape[-2]
    rows = F.pad(markers.float()[:, None], (0, 0, radius, radius))   # (B, 1, H + 2r, W), zero rows above / below
    out = torch.zeros_like(rows[..., :h, :])
    for dy in range(radius + 1):   # rows dy and -dy share their half-width
        half = math.isqrt(radius * radius - dy * dy)
        run = F.max_pool2d(rows, (1, 2 * half + 1), stride=1, padding=(0, half))
        for shift in {dy, -dy}:
            torch.maximum(out, run[..., radius + shift:radius + shift + h, :], out=out)
    return out[:, 0]


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


class Convergence:
    """The per-sample stopping k of spec 5.7: sample i stops at the first k >= ``min_iter`` with
    ||u_k - u_k-1|| < tol ||u_k-1||, and is frozen from then on (``live``).

    On the CPU the test runs on host floats: a sync is free there, and it replaces the dozen tiny
    tensor ops the device version needs every iteration. On a GPU it stays on the device and the host
    asks "all done?" only every ``check_every`` iterations.
    """

    def __init__(self, u0: Tensor, params: SolverParams, on_host: bool | None = None) -> None:
        self.tol, self.min_iter, self.check_every = params.tol, params.min_iter, params.check_every
        self.on_host = u0.device.type == "cpu" if on_host is None else on_host
        self.change = torch.empty_like(u0)
        norm = torch.linalg.vector_norm(u0.flatten(1), dim=1)
        b = u0.shape[0]
        self.live: Tensor | None = None if self.on_host else torch.ones(b, dtype=torch.bool, device=u0.device)
        if self.on_host:
            self.prev_norm: list[float] | Tensor = norm.tolist()
            self.stopped_at = [0] * b  # 0: still iterating
        else:
            self.prev_norm = norm
            self.iters_at = torch.full((b,), params.max_iter, dtype=torch.long, device=u0.device)
        self.max_iter, self.device = params.max_iter, u0.device

    def update(self, k: int, u_new: Tensor, u: Tensor) -> bool:
        """Record iteration k; True when every sample has stopped (on a GPU: known at checks only)."""
        step = torch.linalg.vector_norm(torch.sub(u_new, u, out=self.change).flatten(1), dim=1)
        norm = torch.linalg.vector_norm(u_new.flatten(1), dim=1)
        if self.on_host:
            return self._update_host(k, step.tolist(), norm.tolist())
        small = step < self.prev_norm.clamp(min=1e-12).mul_(self.tol)
        self.prev_norm = torch.where(self.live, norm, self.prev_norm)
        if k >= self.min_iter:
            newly = small.logical_and_(self.live)
            self.iters_at.masked_fill_(newly, k)
            self.live = self.live & ~newly
        return k % self.check_every == 0 and not bool(self.live.any())

    def _update_host(self, k: int, step: list[float], norm: list[float]) -> bool:
        stopped = self.stopped_at
        newly = [i for i, s in enumerate(stopped)
                 if s == 0 and k >= self.min_iter and step[i] < self.tol * max(self.prev_norm[i], 1e-12)]
        self.prev_norm = norm  # a stopped sample's entry is never read again
        for i in newly:
            stopped[i] = k
        if newly:
            self.live = torch.tensor([s == 0 for s in stopped], device=self.device)
        return all(stopped)

    def iterations(self) -> Tensor:
        """(B,) long: the stopping k of each sample (``max_iter`` if it never stopped)."""
        if self.on_host:
            return torch.tensor([s or self.max_iter for s in self.stopped_at], dtype=torch.long, device=self.device)
        return self.iters_at


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


def photo_inputs(images: Tensor, params: SolverParams) -> dict[str, Tensor]:
    """The per-pixel inputs that depend on the images alone: z, alpha, beta (a click model keeps them per photo)."""
    b = images.shape[0]
    z = minmax(images)
    alpha, beta = weight_maps(z, per_sample(params.alpha0, b, z), per_sample(params.beta0, b, z), params.weights,
                              params.alpha_source, params.beta_source, params.weight_sigma, params.quantile,
                              params.k_min)
    return {"z": z, "alpha": alpha, "beta": beta}


def prepare(images: Tensor, markers: Tensor, params: SolverParams, photo: dict[str, Tensor] | None = None,
            dg: Tensor | None = None, start: Tensor | None = None) -> dict[str, Tensor]:
    """Per-pixel inputs on the unpadded grid: z, D_G, alpha, beta, u0 (all float, same device/dtype); ``photo``:
    ``photo_inputs`` of these images and parameters, computed earlier; ``dg``: a D_G to use instead of computing
    it from the markers; ``start``: u0 (a warm start) instead of the marker disks."""
    if markers.dim() != 3 or markers.shape != (images.shape[0], *images.shape[-2:]):
        raise ValueError(f"markers must be (B, H, W) matching images {tuple(images.shape)}, got {tuple(markers.shape)}")
    if not bool(markers.flatten(1).any(1).all()):
        raise ValueError("every image needs at least one marker pixel")
    b, _, h, w = images.shape
    photo = photo_inputs(images, params) if photo is None else photo
    z = photo["z"]
    theta = per_sample(params.theta, b, z)
    if dg is not None:
        dg = dg.to(z.dtype)
    elif bool((theta > 0).any()):
        dg = geodesic_distance(z, markers, params.geodesic, params.eps_d, params.beta_g, params.sigma_g,
                               params.geodesic_sweeps)
    else:
        dg = torch.zeros(b, h, w, dtype=z.dtype, device=z.device)
    u0 = (disks(markers, init_radius(h, w, params.init_radius)) if start is None else start).to(z.dtype)
    return {**photo, "dg": dg, "u0": u0}


@torch.inference_mode()
def solve(images: Tensor, markers: Tensor, params: SolverParams | None = None,
          diagnostics: bool = True, fit: Tensor | None = None, init: Tensor | None = None,
          prepared: dict[str, Tensor] | None = None) -> tuple[Tensor, Tensor, dict]:
    """Segment a batch: images (B, C, H, W) float, markers (B, H, W) bool.

    ``fit`` (B, H, W), when given, is the data term F-hat used instead of the two-phase Chan-Vese fit
    (e.g. the colour log-likelihood ratio of ``colour_term``; negative = foreground-like), and the
    c-updates are off; ``init`` (B, H, W) in [0, 1] replaces the marker disks as the starting u (a warm
    start for outer re-estimation rounds; the energy is convex, so only the iteration count changes);
    ``prepared`` is ``prepare``'s output of an earlier call on the same images and markers (D_G and the
    weights are not recomputed).

    Returns ``w`` (B, H, W) in [0, 1] (segmentation ``w > 0.5``), ``iterations`` (B,) long (the
    stopping k of spec 5.7) and a log dict of per-sample tensors (c1/c2, the undecided-pixel fraction,
    D_G and the weights; with ``diagnostics`` also the initial and final energies and the primal and
    dual residuals, which the segmentation pipeline skips).
    """
    params = params or SolverParams()
    inputs = dict(prepared) if prepared is not None else prepare(images, markers, params)
    b, _, h, w_ = images.shape
    pads = padding(h, w_, params.pad)
    if init is not None:
        inputs["u0"] = init.to(inputs["z"].dtype)
    z, dg, alpha, beta, u = (_pad(inputs[k], pads) for k in ("z", "dg", "alpha", "beta", "u0"))
    fixed_fit = None if fit is None else _pad(fit.to(z.dtype), pads)
    lam = per_sample(params.lam, b, z).view(-1, 1, 1)
    theta = per_sample(params.theta, b, z).view(-1, 1, 1)
    use_q = bool((beta > 0).any())
    rho, a = params.rho, params.relax
    # A^T A u = A^T (z - m) - r / rho: the u-update divided through by rho (fewer kernels).
    inv_den = 1.0 / op.solve_symbol(*u.shape[-2:], 1.0, 1.0, 1.0 if use_q else 0.0, z.dtype, z.device)

    c1, c2 = region_means(z, u)
    data = fit_term(z, c1, c2, params.normalize_fit) if fixed_fit is None else fixed_fit
    r = lam * data + theta * dg
    e0 = energy(u, alpha, beta, r) if diagnostics else None
    r_rho = r / rho
    prox = op.StackedProx(alpha / rho, beta / rho, use_q)
    split = op.split_forward(u, use_q)  # z = (p, q, w) = A u0
    relaxed_plus_m = split.clone()      # v = z + m, zero multipliers to start
    z_minus_m = split.clone()           # what the u-update sees: z - m = 2 z - v
    split_prev, au = torch.empty_like(split), torch.empty_like(split)  # buffers reused every iteration
    stop = Convergence(u, params)
    k = 0
    for k in range(1, params.max_iter + 1):
        live = stop.live  # None on the CPU while every sample still iterates
        u_new = op.fft_apply_inverse(op.split_adjoint(z_minus_m, use_q).sub_(r_rho), inv_den)
        ascent_(relaxed_plus_m, op.split_forward(u_new, use_q, out=au), split, a, live)
        split, split_prev = prox.apply(relaxed_plus_m, out=split_prev), split
        torch.lerp(relaxed_plus_m, split, 2.0, out=z_minus_m)
        all_stopped = stop.update(k, u_new, u)
        u = keep(live, u_new, u)
        if params.update_c and fixed_fit is None and k % params.c_every == 0:
            n1, n2 = region_means(z, split[:, -1])
            c1, c2 = keep(live, n1, c1), keep(live, n2, c2)
            r = keep(live, lam * fit_term(z, c1, c2, params.normalize_fit) + theta * dg, r)
            r_rho = r / rho
        if all_stopped:
            break

    w = split[:, -1]
    crop = (slice(None), slice(pads[2], pads[2] + h), slice(pads[0], pads[0] + w_))
    out = w[crop].contiguous()
    log = {"c1": c1, "c2": c2, "loop_iterations": torch.tensor(k),
           "undecided_fraction": ((out > 0.1) & (out < 0.9)).float().flatten(1).mean(1),
           "dg": inputs["dg"], "alpha": inputs["alpha"], "beta": inputs["beta"]}
    if diagnostics:
        primal, dual = residuals(u, split, split_prev, rho, use_q)
        log.update(energy_init=e0, energy_final=energy(w, alpha, beta, r), primal_residual=primal,
                   dual_residual=dual)
    return out, stop.iterations(), log
