"""What a checkpoint carries so that ``eval``, ``predict``, export and the Python API need nothing else.

Every project's LightningModule writes an :class:`InferenceSpec` into ``checkpoint["inference"]`` when it
saves (:func:`save_spec`, from ``on_save_checkpoint``): the class (tag, defect) names, the input size and
how a photo is resized to it, the input normalisation as numbers (the model's own input adapter, if any,
is part of its state dict), the data it was trained on and the model config. Readers use
:func:`read_spec` / :func:`spec_of`; a checkpoint without a spec, or with another format version, is one
line naming the file. The project config says which config keys a checkpoint fixes
(``checkpoint_keys: {data.image_size: size, ...}``): :func:`apply_spec` sets them from the checkpoint and
refuses, in one line, a value given on the command line that contradicts it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from shared.errors import CheckpointError, ConfigError

FORMAT_VERSION = 1
KEY = "inference"
# "stretch": resize to size x size (albumentations Resize: every project but semiseg);
# "long_side_pad": long side to ``size``, aspect kept, zero padding at the bottom/right (semiseg).
RESIZES = ("stretch", "long_side_pad")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InferenceSpec:
    """A model's contract with its inputs and outputs (see the module docstring)."""

    project: str
    names: tuple[str, ...]                  # class / tag / defect names, in output order
    size: int                               # the side (stretch) or long side (long_side_pad) in pixels
    resize: str = "stretch"
    mean: tuple[float, ...] = IMAGENET_MEAN  # applied to RGB in [0, 1]: (x - mean) / std
    std: tuple[float, ...] = IMAGENET_STD
    data: str = ""                          # the data the model was trained on (a folder's name for own data)
    model: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)   # project-specific: thresholds, output meaning ...
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.resize not in RESIZES:
            raise ConfigError(f"inference.resize must be one of {', '.join(RESIZES)}, got {self.resize!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ConfigError(f"inference.mean / std must be three numbers (std > 0), got {self.mean} / {self.std}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (lists, not tuples), as torch's weights-only reader and JSON accept them."""
        out = asdict(self)
        out.update(names=list(self.names), mean=list(self.mean), std=list(self.std))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "checkpoint") -> InferenceSpec:
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise CheckpointError(f"{source}: inference format version {version}, this code reads version "
                                  f"{FORMAT_VERSION}; re-train the model with this code (make train)")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        try:
            spec = cls(**known)
        except TypeError as exc:
            raise CheckpointError(f"{source}: damaged inference spec ({exc})") from None
        return cls(**{**asdict(spec), "names": tuple(spec.names), "mean": tuple(spec.mean), "std": tuple(spec.std)})


def spec_from_hparams(project: str, names: list[str], inference: dict[str, Any] | None,
                      model: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> InferenceSpec:
    """The spec a module writes: ``inference`` is its saved ``inference`` hyper-parameter (the project
    config's ``inference`` node: size, resize, mean, std, data)."""
    if not inference:
        raise ConfigError("module.inference is not set (the project config's `inference` node: size, resize, "
                          "mean, std, data); it is what eval, predict and export read from a checkpoint")
    return InferenceSpec(project=project, names=tuple(str(n) for n in names), size=int(inference["size"]),
                         resize=str(inference.get("resize", "stretch")),
                         mean=tuple(float(v) for v in inference.get("mean", IMAGENET_MEAN)),
                         std=tuple(float(v) for v in inference.get("std", IMAGENET_STD)),
                         data=str(inference.get("data", "")), model=dict(model or {}), extra=dict(extra or {}))


def save_spec(checkpoint: dict[str, Any], spec: InferenceSpec) -> None:
    checkpoint[KEY] = spec.to_dict()


def spec_of(checkpoint: dict[str, Any], source: str | os.PathLike = "checkpoint") -> InferenceSpec:
    data = checkpoint.get(KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(data, dict):
        raise CheckpointError(f"{source} carries no inference spec (class names, input size, normalisation): it "
                              "was written before checkpoint format 1; re-train it with this code (make train)")
    return InferenceSpec.from_dict(data, str(source))


def read_spec(path: str | os.PathLike) -> InferenceSpec:
    """The spec of the checkpoint at ``path`` (read weights-only, memory-mapped)."""
    from shared.checkpoints import read_checkpoint

    return spec_of(read_checkpoint(path), path)


def spec_value(spec: InferenceSpec, name: str) -> Any:
    """``size`` / ``names`` / ``num_classes`` / ``resize`` / ``data`` or ``extra.<key>`` of a spec."""
    if name == "num_classes":
        return len(spec.names)
    if name == "names":
        return list(spec.names)
    if name.startswith("extra."):
        return spec.extra.get(name.split(".", 1)[1])
    return getattr(spec, name)


def command_line_overrides() -> list[str]:
    """The overrides of this Hydra run's command line ([] outside a Hydra run)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)


def given_on_command_line(key: str, overrides: list[str]) -> str | None:
    """The override that sets ``key`` itself (``data.image_size=128``, ``+data.image_size=...``), or None."""
    for item in overrides:
        name = item.split("=", 1)[0].lstrip("+~")
        if name == key:
            return item
    return None


def apply_spec(cfg: DictConfig, spec: InferenceSpec, ckpt: str | os.PathLike,
               overrides: list[str] | None = None) -> None:
    """Set the config keys the checkpoint fixes (``cfg.checkpoint_keys``) to the checkpoint's values, so
    that eval and predict see exactly the preprocessing and classes it was trained with. A key given on
    the command line with another value is refused in one line; keys absent from this config are skipped
    (a built-in data set has no ``data.classes``)."""
    overrides = command_line_overrides() if overrides is None else overrides
    for key, name in (cfg.get("checkpoint_keys") or {}).items():
        if OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
            continue
        wanted = spec_value(spec, name)
        given = given_on_command_line(key, overrides)
        current = OmegaConf.select(cfg, key)
        current = OmegaConf.to_container(current) if isinstance(current, (DictConfig,)) or OmegaConf.is_list(
            current) else current
        if given is not None and current is not None and _differs(current, wanted):
            raise ConfigError(f"{given} contradicts the checkpoint {Path(ckpt)}, which was trained with {key}="
                              f"{_short(wanted)}; drop the override (eval and predict take it from the checkpoint)")
        with open_dict(cfg):
            OmegaConf.update(cfg, key, wanted, force_add=True)


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return [str(x) for x in a] != [str(x) for x in b]
    try:
        return float(a) != float(b)
    except (TypeError, ValueError):
        return str(a) != str(b)


def _short(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"[{', '.join(map(str, value[:8]))}, ... ({len(value)} in all)]"
    return str(list(value) if isinstance(value, tuple) else value)


def settle_class_count(cfg: DictConfig, names: list[str], key: str = "data.num_classes") -> None:
    """The class count comes from the data: a null ``key`` is filled with ``len(names)``, a configured value
    that disagrees is one line naming both (a 3-class folder must not train a 10-way head)."""
    configured = OmegaConf.select(cfg, key, default=None)
    if configured is None:
        with open_dict(cfg):
            OmegaConf.update(cfg, key, len(names), force_add=True)
        return
    if int(configured) != len(names):
        data = OmegaConf.select(cfg, "data.name", default="the data")
        raise ConfigError(f"{key}={configured} but {data} has {len(names)} classes ({_short(names)}); drop "
                          f"{key} (it is taken from the data) or fix the data")
