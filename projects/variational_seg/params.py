"""Solver parameters (spec section 7) and how a model config resolves them.

The dataclass defaults are the spec's values. Everything a model changes lives in its config,
``configs/variational_seg/model/<m>.yaml``: ``params`` (what the model switches off or sets, spec
section 8) and ``tuned.<data name>`` (values chosen on that data's val split, e.g. ``tuned.grabcut``);
a data config's ``solver`` holds settings of that data for every model (GrabCut: frozen c1, c2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from shared.errors import ConfigError

Scalar = float | Sequence[float]

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


def solver_params(values: Mapping[str, Any]) -> SolverParams:
    """SolverParams from ``values``; a ConfigError naming any key that is no solver parameter."""
    known = {f.name for f in fields(SolverParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown solver parameter(s) {unknown}; known: {sorted(known)}")
    return SolverParams(**dict(values))


def tuned_for(model: Mapping[str, Any], data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model config's ``tuned.<data.name>`` (values chosen on that data's val split), else {}."""
    if not data:
        return {}
    return dict((model.get("tuned") or {}).get(str(data.get("name")), None) or {})


def resolve_params(model: Mapping[str, Any], data: Mapping[str, Any] | None = None,
                   tuned: bool = True) -> SolverParams:
    """The solver parameters of ``model`` on ``data`` (later wins): spec defaults, the model config's
    ``params``, the data config's ``solver``, the model config's ``tuned.<data.name>`` (``tuned=False``:
    left out, as ``tune`` does while it searches for them)."""
    solver = dict((data or {}).get("solver") or {})
    return solver_params({**dict(model.get("params") or {}), **solver,
                          **(tuned_for(model, data) if tuned else {})})


def marker_radius(model: Mapping[str, Any], markers_radius: int) -> int:
    """The marker disk radius (working px) for ``model``: its config's ``marker_radius`` when it has one
    (the anchors and the shipped model were chosen with radius 5), else ``markers.radius``."""
    value = model.get("marker_radius")
    return int(markers_radius if value is None else value)
