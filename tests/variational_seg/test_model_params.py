"""The solver values moved from the Python ``PRESETS`` dict (params.py) and the data configs' ``tuned``
blocks into the model configs: for every model and data, the module resolves the same SolverParams
as the four-layer lookup did (preset < model params < data solver < data tuned.<model>)."""

from dataclasses import asdict

import pytest
from hydra.utils import instantiate

from projects.variational_seg.params import SolverParams
from shared.config import compose

# As params.py PRESETS and data/{grabcut,grabcut320}.yaml `tuned` / `solver` held them before the move.
OLD_PRESETS = {
    "wbh": {},
    "tv": {"weights": "constant", "beta0": 0.0, "theta": 0.0},
    "rci": {"alpha_source": "rci", "beta0": 0.0},
    "tv_tv2": {"weights": "constant"},
    "wbh_nogeo": {"theta": 0.0},
    "wbh_colour": {"lam": 2.0, "theta": 0.5, "tol": 5e-3, "max_iter": 12, "update_c": False},
}
OLD_SOLVER = {"synthetic": {}, "grabcut": {"update_c": False}, "grabcut320": {"update_c": False}}
OLD_TUNED = {
    "synthetic": {},
    "grabcut": {"wbh": {"lam": 5.0, "theta": 2.0}, "rci": {"lam": 5.0, "theta": 2.0}, "tv": {"lam": 2.0, "alpha0": 1.0},
                "tv_tv2": {"lam": 10.0, "theta": 2.0}, "wbh_nogeo": {"lam": 2.0}},
    "grabcut320": {"wbh": {"lam": 20.0, "theta": 1.0}, "rci": {"lam": 5.0, "theta": 1.0},
                   "tv": {"lam": 10.0, "alpha0": 2.0}, "tv_tv2": None, "wbh_nogeo": None},
}


def old_params(model: str, data: str) -> SolverParams:
    return SolverParams(**{**OLD_PRESETS[model], **OLD_SOLVER[data], **(OLD_TUNED[data].get(model) or {})})


@pytest.mark.parametrize("data", list(OLD_SOLVER))
@pytest.mark.parametrize("model", list(OLD_PRESETS))
def test_each_model_config_resolves_the_previously_hard_coded_solver_params(model, data):
    cfg = compose("variational_seg", [f"model={model}", f"data={data}", "paths.output_dir=/tmp/unused"])
    module = instantiate(cfg.module, _recursive_=False)
    assert asdict(module.params) == asdict(old_params(model, data))


def test_key_values_of_the_model_configs():
    """The spot checks a reader looks for: what each model switches off and the GrabCut choices."""
    def params(model: str, data: str = "grabcut") -> SolverParams:
        cfg = compose("variational_seg", [f"model={model}", f"data={data}", "paths.output_dir=/tmp/unused"])
        return instantiate(cfg.module, _recursive_=False).params

    tv = params("tv")
    assert (tv.weights, tv.beta0, tv.theta, tv.lam, tv.alpha0, tv.update_c) == ("constant", 0.0, 0.0, 2.0, 1.0, False)
    assert (params("rci").alpha_source, params("rci").beta0) == ("rci", 0.0)
    assert (params("wbh").lam, params("wbh").theta) == (5.0, 2.0)
    assert (params("wbh", "grabcut320").lam, params("wbh", "grabcut320").theta) == (20.0, 1.0)
    assert params("tv_tv2", "grabcut320").lam == SolverParams().lam      # not tuned at 320: the spec default
    colour = params("wbh_colour", "synthetic")
    assert (colour.lam, colour.theta, colour.tol, colour.max_iter, colour.update_c) == (2.0, 0.5, 5e-3, 12, False)
    assert params("wbh", "synthetic") == SolverParams()
