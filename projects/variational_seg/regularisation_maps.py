"""The regularisation maps alpha(z), beta(z) of the energy (spec section 2.4): spatially varying
weights of the first- (|grad|) and second-order (Hessian) terms, small on edges, from the image (plus the blur and
derivative helpers they are built from). Not to be confused with shared/weights.py (pretrained models).

YZD's own formulas could not be retrieved; these are the spec's edge-stopping functions
``g = 1 / (1 + (s / k)^2)`` with the contrast ``k`` set per image at the 90 % point of the feature
histogram (Perona-Malik's rule), floored at ``k_min`` so a flat background does not make noise edges.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_blur(z: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, C, H, W) with reflect padding; sigma <= 0 returns z.

    Each pass is a weighted sum of the 2r + 1 shifted slices of the padded image (one multiply-add per
    tap), which on the CPU beats a depthwise ``conv2d``; the output is the same (test).
    """
    if sigma <= 0:
        return z
    radius = max(1, int(math.ceil(3 * sigma)))
    radius = min(radius, z.shape[-1] - 1, z.shape[-2] - 1)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    taps = (taps / taps.sum()).tolist()
    return _taps_along(_taps_along(z, taps, -1), taps, -2)


def _taps_along(z: Tensor, taps: list[float], dim: int) -> Tensor:
    """sum_i taps[i] * z shifted by i - r along ``dim`` (-1 or -2), reflect-padded by r = len(taps) // 2."""
    r, n = len(taps) // 2, z.shape[dim]
    padded = F.pad(z, (r, r, 0, 0) if dim == -1 else (0, 0, r, r), mode="reflect")
    out = padded.narrow(dim, 0, n) * taps[0]
    for i in range(1, len(taps)):
        out.add_(padded.narrow(dim, i, n), alpha=taps[i])
    return out


def central_grad(z: Tensor) -> tuple[Tensor, Tensor]:
    """Central differences (one-sided at the border), like numpy.gradient: returns (d/dy, d/dx)."""
    gy, gx = torch.gradient(z, dim=(-2, -1))
    return gy, gx


def gradient_magnitude(z: Tensor, grads: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """|grad z| for (B, C, H, W), colour: sqrt of the sum over channels -> (B, H, W)."""
    gy, gx = grads or central_grad(z)
    return torch.sqrt((gx ** 2 + gy ** 2).sum(1))


def hessian_magnitude(z: Tensor, grads: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Frobenius norm of the central-difference Hessian, summed over channels -> (B, H, W)."""
    gy, gx = grads or central_grad(z)
    gyy, gyx = central_grad(gy)
    gxy, gxx = central_grad(gx)
    return torch.sqrt((gxx ** 2 + gxy ** 2 + gyx ** 2 + gyy ** 2).sum(1))


def row_quantile(s: Tensor, q: float) -> Tensor:
    """The q-quantile of each row of (B, N), linear interpolation (= ``torch.quantile``'s default), from
    two ``kthvalue`` selections instead of ``torch.quantile``'s full sort."""
    n = s.shape[1]
    pos = q * (n - 1)
    lo = math.floor(pos)
    below = torch.kthvalue(s, lo + 1, dim=1).values
    if lo + 1 >= n or pos == lo:
        return below
    return torch.lerp(below, torch.kthvalue(s, lo + 2, dim=1).values, pos - lo)


def edge_stop(s: Tensor, q: float, k_min: float) -> Tensor:
    """g = 1 / (1 + (s/k)^2), k = max(quantile of s per sample, k_min)."""
    k = row_quantile(s.flatten(1).float(), q).to(s.dtype).clamp(min=k_min)
    return 1.0 / (1.0 + (s / k.view(-1, 1, 1)) ** 2)


def rci_edge(z: Tensor, sigma: float = 1.0) -> Tensor:
    """The RCI code's fixed edge function 1 / (1 + 10 |grad(G_sigma * z)|^2)."""
    return 1.0 / (1.0 + 10.0 * gradient_magnitude(gaussian_blur(z, sigma)) ** 2)


def weight_maps(z: Tensor, alpha0: Tensor, beta0: Tensor, kind: str = "edge", alpha_source: str = "auto",
                beta_source: str = "hessian", sigma: float = 1.0, quantile: float = 0.9,
                k_min: float = 0.01) -> tuple[Tensor, Tensor]:
    """alpha, beta maps (B, H, W) for z (B, C, H, W) in [0, 1]; alpha0, beta0 are (B,) tensors."""
    b, _, h, w = z.shape
    a0, b0 = alpha0.view(-1, 1, 1), beta0.view(-1, 1, 1)
    if kind == "constant":
        ones = z.new_ones(b, h, w)
        return a0 * ones, b0 * ones
    if kind != "edge":
        raise ValueError(f"weights must be 'edge' or 'constant', got {kind!r}")
    zs = gaussian_blur(z, sigma)
    grads = central_grad(zs)
    g1 = edge_stop(gradient_magnitude(zs, grads), quantile, k_min)
    if alpha_source == "rci":
        alpha_g = rci_edge(z, max(sigma, 1.0))
    elif alpha_source == "auto":
        alpha_g = g1
    else:
        raise ValueError(f"alpha_source must be 'auto' or 'rci', got {alpha_source!r}")
    if beta_source == "hessian":
        g2 = edge_stop(hessian_magnitude(zs, grads), quantile, k_min)
    elif beta_source == "gradient":
        g2 = g1
    else:
        raise ValueError(f"beta_source must be 'hessian' or 'gradient', got {beta_source!r}")
    return a0 * alpha_g, b0 * g2
