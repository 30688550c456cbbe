"""Solver parameters (spec section 7) and the model presets that switch terms off (section 8)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from shared.errors import ConfigError

Scalar = float | Sequence[float]

# name -> what each baseline changes from the defaults (spec section 8). "RCI energy, solved by our ADMM".
PRESETS: dict[str, dict[str, Any]] = {
    "wbh": {},                                                         # proposed: edge alpha, beta + geodesic
    "tv": {"weights": "constant", "beta0": 0.0, "theta": 0.0},         # convex Chan-Vese
    "rci": {"alpha_source": "rci", "beta0": 0.0},                      # convex geodesic selective
    "tv_tv2": {"weights": "constant"},                                 # ablation: unweighted TV-TV^2
    "wbh_nogeo": {"theta": 0.0},                                       # ablation: no geodesic term
    # shipped: wbh's regulariser + the colour term (model config data_term: colour); chosen on GrabCut val
    # (README "The shipped model"): lam 1, theta 0 (the geodesic term lowered val DSC); the last colour
    # round (warm-started from the coarse rounds' u) stops at tol 5e-3 or 12 iterations.
    "wbh_colour": {"lam": 1.0, "theta": 0.0, "tol": 5e-3, "max_iter": 12, "update_c": False},
}


@dataclass(frozen=True)
class SolverParams:
    """Everything the ADMM needs. ``alpha0, beta0, lam, theta`` may be per-sample sequences."""

    alpha0: Scalar = 1.0
    beta0: Scalar = 2.0
    lam: Scalar = 5.0
    theta: Scalar = 5.0
    weights: str = "edge"            # edge | constant
    alpha_source: str = "auto"       # auto (g1) | rci (1 / (1 + 10 |grad G*z|^2))
    beta_source: str = "hessian"     # hessian (g2) | gradient (g1)
    weight_sigma: float = 1.0
    quantile: float = 0.9
    k_min: float = 0.01
    normalize_fit: bool = True
    eps_d: float = 1e-3
    beta_g: float = 1000.0
    sigma_g: float = 0.0
    geodesic: str = "auto"           # auto | mcp | raster
    geodesic_sweeps: int = 4
    rho: float = 2.0                 # rho_p = rho_q = rho_w
    relax: float = 1.5               # over-relaxation a in [1, 2) (Boyd 3.4.3; spec: off = 1.0); README "Speed"
    tol: float = 2e-3                # spec: 1e-4 (RCI code, on flat pixels only); README "Speed"
    max_iter: int = 500
    min_iter: int = 5
    c_every: int = 10
    update_c: bool = True
    pad: int = 16
    init_radius: int | None = None   # None: max(3, round(0.03 min(H, W)))
    check_every: int = 10            # host sync for "all converged" every this many iterations

    def __post_init__(self) -> None:
        if not 0.0 < self.relax < 2.0:
            raise ConfigError(f"solver relax must be in (0, 2) (over-relaxation; 1 = plain ADMM), got {self.relax}")
        if self.tol <= 0 or self.rho <= 0:
            raise ConfigError(f"solver tol and rho must be > 0, got tol={self.tol}, rho={self.rho}")

    def with_(self, **changes: Any) -> SolverParams:
        return replace(self, **changes)


def params_for(model: str, overrides: Mapping[str, Any] | None = None) -> SolverParams:
    """The preset ``model`` with ``overrides`` (e.g. tuned lam/theta) applied on top."""
    if model not in PRESETS:
        raise ValueError(f"unknown variational model {model!r}; choose one of {', '.join(PRESETS)}")
    known = {f.name for f in fields(SolverParams)}
    merged = {**PRESETS[model], **dict(overrides or {})}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ValueError(f"unknown solver parameter(s) {unknown}; known: {sorted(known)}")
    return SolverParams(**merged)


def resolve_params(model: Mapping[str, Any], solver: Mapping[str, Any] | None = None,
                   tuned: Mapping[str, Any] | None = None) -> SolverParams:
    """Preset of ``model.name`` + the model config's params + the data's solver overrides + the
    per-model tuned values recorded in the data config (later wins)."""
    name = str(model["name"])
    tuned_for = dict((tuned or {}).get(name) or {})
    return params_for(name, {**dict(model.get("params") or {}), **dict(solver or {}), **tuned_for})


def marker_radius(model: Mapping[str, Any], markers_radius: int) -> int:
    """The marker disk radius (working px) for ``model``: its config's ``marker_radius`` when it has one
    (the anchors and the shipped model were chosen with radius 5), else ``markers.radius``."""
    value = model.get("marker_radius")
    return int(markers_radius if value is None else value)
