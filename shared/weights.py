"""One place that finds and loads pretrained weights, offline.

A ``source`` is either a local file (``.pth``, ``.pt``, ``.bin``, ``.safetensors``, or a Lightning
``.ckpt``) or ``hf-hub:<repo id>[/<file>]`` looked up in the local Hugging Face cache only. When the
weights are absent we fail at once, naming the file and where to put it, instead of letting a
library retry the hub for a minute.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from shared.errors import WeightsNotFoundError

HF_PREFIX = "hf-hub:"


def resolve_weights(source: str | os.PathLike, what: str = "model") -> Path:
    """The local file behind ``source``, or WeightsNotFoundError saying what is missing and where."""
    source = str(source)
    if source.startswith(HF_PREFIX):
        return _from_hf_cache(source[len(HF_PREFIX):], what)
    path = Path(source).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"pretrained weights for {what} not found: {path} does not exist. Download the file on a "
            f"connected machine and copy it to that path (or point the config key at it, e.g. "
            f"model.pretrained=/path/to/weights.pth)."
        )
    return path


def _from_hf_cache(spec: str, what: str) -> Path:
    from huggingface_hub import constants, try_to_load_from_cache

    parts = spec.split("/")
    repo_id = "/".join(parts[:2])
    filenames = ["/".join(parts[2:])] if len(parts) > 2 else ["model.safetensors", "pytorch_model.bin"]
    for filename in filenames:
        hit = try_to_load_from_cache(repo_id, filename)
        if isinstance(hit, str) and Path(hit).is_file():
            return Path(hit)
    raise WeightsNotFoundError(
        f"pretrained weights for {what} not found in the local Hugging Face cache: {repo_id} "
        f"({' or '.join(filenames)}) under {constants.HF_HUB_CACHE}. This machine is offline: run "
        f"`huggingface-cli download {repo_id}` on a connected machine and copy the cache folder there, "
        f"or pass a local file path instead."
    )


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from any supported file; Lightning checkpoints give their ``state_dict``."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "module"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise WeightsNotFoundError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return obj


def load_pretrained(model: nn.Module, source: str | os.PathLike, what: str = "model",
                    strip_prefixes: tuple[str, ...] = ("model.", "module.", "net."),
                    skip_mismatched: bool = True) -> dict[str, list[str]]:
    """Load weights into ``model``; returns the missing / unexpected / shape-skipped keys.

    Prefixes added by wrappers (Lightning ``model.``, DDP ``module.``) are stripped; tensors whose
    shape differs (typically a classifier with another class count) are skipped when allowed.
    """
    state = load_state_dict(resolve_weights(source, what))
    own = model.state_dict()
    cleaned: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        k = key
        for prefix in strip_prefixes:
            if k.startswith(prefix) and k not in own:
                k = k[len(prefix):]
        cleaned[k] = value
    skipped = [k for k, v in cleaned.items() if k in own and own[k].shape != v.shape]
    if skipped and not skip_mismatched:
        raise WeightsNotFoundError(f"{source}: shapes differ for {skipped[:5]}")
    for k in skipped:
        cleaned.pop(k)
    result = model.load_state_dict(cleaned, strict=False)
    matched = len(cleaned) - len(result.unexpected_keys)
    if matched == 0:
        raise WeightsNotFoundError(f"{source}: none of its {len(state)} tensors match {what}'s parameters")
    return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys), "skipped": skipped}
