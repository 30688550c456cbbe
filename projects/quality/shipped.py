"""The shipped quality model's files (``projects/quality/default_model/``: fp16 ``model.safetensors`` and
``model.json``, made by ``default_model.py``) and the one reader of network weights: what the Python API,
the export and a fine-tune's ``module.init_from`` load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.errors import CheckpointError
from shared.inference import InferenceSpec
from shared.paths import REPO_ROOT

DEFAULT_MODEL = REPO_ROOT / "projects" / "quality" / "default_model"
WEIGHTS_FILE, SPEC_FILE = "model.safetensors", "model.json"


def load_default_net(folder: Path = DEFAULT_MODEL) -> tuple[Any, InferenceSpec]:
    """The shipped network (fp16 weights widened to fp32) and its spec."""
    from projects.quality.models import create_model

    weights, meta_path = folder / WEIGHTS_FILE, folder / SPEC_FILE
    if not weights.is_file() or not meta_path.is_file():
        raise CheckpointError(f"the default quality model is not in {folder} ({WEIGHTS_FILE} + {SPEC_FILE}); make it "
                              "as projects/quality/README.md says (Default model), or pass CKPT=")
    spec = InferenceSpec.from_dict(json.loads(meta_path.read_text())["spec"], str(meta_path))
    net = create_model(spec.model, spec.extra["size_hw"], spec.extra["defects"])
    load_network_weights(net, str(weights), spec.model.get("name", "timm_iqa_lite0"))
    return net.eval(), spec


def load_network_weights(net: Any, source: str, model_name: str) -> None:
    """``source``'s network weights into ``net`` (``default``: the shipped model; a ``.safetensors`` file
    of network weights; or a quality checkpoint); one line when they do not fit."""
    from safetensors.torch import load_file

    from shared.checkpoints import read_checkpoint

    path = DEFAULT_MODEL / WEIGHTS_FILE if source == "default" else Path(source)
    if not path.is_file():
        raise CheckpointError(f"module.init_from: {path} not found" + (" (the default model is not made yet: "
                              "projects/quality/README.md, Default model)" if source == "default" else ""))
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    else:
        saved = read_checkpoint(path).get("state_dict", {})
        state = {k[len("net."):]: v for k, v in saved.items() if k.startswith("net.")}
    try:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        raise CheckpointError(f"module.init_from: {path} does not fit model={model_name} "
                              f"({str(exc).splitlines()[1].strip()[:120] if len(str(exc).splitlines()) > 1 else exc})"
                              "; use the model it was trained as (the default model is model=timm_iqa_lite0 at "
                              "data.image_size=[128,96])") from None
