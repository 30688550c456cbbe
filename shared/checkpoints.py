"""Every checkpoint and weights file is read here: with torch's weights-only unpickler, so that no code
in a file ever runs, and with one clear line when a file is refused, damaged, or of another project.

* :func:`read_checkpoint` reads any ``.ckpt`` / ``.pth`` / ``.pt`` / ``.bin`` (``weights_only=True``).
* :func:`load_module` is ``LightningModule.load_from_checkpoint`` after those checks;
  :func:`check_checkpoint` is the same check for a ``ckpt_path`` that Lightning's Trainer reads
  (resume, eval), run before any data or model is built. Both hand ``weights_only=True`` to Lightning.
* :func:`check_fits` compares a checkpoint's tensors with the module built for it (resume, eval)
  before Lightning loads them (torch's own error is dozens of lines): another class count, a missing
  or extra tensor, in one line. A checkpoint without the optimizer state that a resume needs, with an
  edited Lightning version field, or with fewer class names than classes, is refused before any work.
* :data:`SAFE_GLOBALS` is the one allow-list of the non-tensor Python types a checkpoint may hold,
  registered with torch when this module is imported. Our checkpoints hold tensors, numbers, strings,
  lists and dicts only, so it is empty; a type added to a checkpoint goes here, nowhere else.

Whose checkpoint: each project's LightningModule stamps what it saves (:func:`stamp`, called from its
``on_save_checkpoint``), together with its inference spec (shared/inference.py, checkpoint format 1); a
checkpoint without the stamp is refused in one line (re-train it), never guessed from its hyper-parameters.
"""

from __future__ import annotations

import contextvars
import os
import pickle
import re
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any, TypeVar

import torch
from packaging.version import InvalidVersion, Version

from shared.errors import CheckpointError

SAFE_GLOBALS: list[Any] = []
torch.serialization.add_safe_globals(SAFE_GLOBALS)

STAMP_KEY = "ecomvision"
VERSION_KEY = "pytorch-lightning_version"  # Lightning reads it first (its checkpoint migrations)
RESUME_KEYS = ("optimizer_states", "lr_schedulers")  # what Lightning's resume restores besides the weights
SHOWN = 3  # tensors or files named in a message; the rest are counted

M = TypeVar("M")
_REBUILDING = contextvars.ContextVar("rebuilding_from_checkpoint", default=False)


def read_checkpoint(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """The object saved in ``path``, read without running any code from it, or one line naming the file."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise CheckpointError(folder_message(path, what))
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    try:
        with warnings.catch_warnings():  # "Detected pickle protocol 4": the refusal below says it all
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            # zip checkpoints (every torch.save since 1.6) are memory-mapped: a check reads no tensor data
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        raise CheckpointError(_refusal(path, what, str(exc))) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as exc:
        raise CheckpointError(f"cannot read {what} {path}: the file is truncated or damaged, or not a "
                              f"PyTorch file ({_first_line(exc)})") from None


def folder_message(path: Path, what: str = "checkpoint") -> str:
    """A folder given where one checkpoint file is expected: name the checkpoints it holds."""
    found = sorted(path.rglob("*.ckpt"), key=lambda p: (p.name != "last.ckpt", str(p)))
    inside = (f"; it holds {', '.join(str(p.relative_to(path)) for p in found[:SHOWN])}"
              f"{f' and {len(found) - SHOWN} more' if len(found) > SHOWN else ''}" if found else
              "; it holds no .ckpt file")
    return f"{what} {path} is a folder, not a checkpoint file: pass one .ckpt file{inside}"


def _refusal(path: Path, what: str, message: str) -> str:
    """The weights-only unpickler stopped at a Python object: one that would run code, or garbage."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    if found and _resolves(found.group(1)):
        reason = f"reading it would call the Python object {found.group(1)}"
    elif found:
        reason = f"it asks for the Python object {found.group(1)} (code to run, or a damaged file)"
    else:
        reason = "it is not a tensors-only file (" + (_first_line_of(message.split("error:")[-1]) or "pickle") + ")"
    return (f"refused to load {what} {path}: {reason}; only tensors and plain values are read from "
            "checkpoints and weights, so no code in a file can run. Save the weights with "
            "torch.save(model.state_dict(), path) or as .safetensors")


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` names an object of an already imported module (nothing is imported for it:
    importing a module a file names would itself run code)."""
    module, _, name = dotted.rpartition(".")
    return hasattr(sys.modules.get(module or "builtins"), name)


def _first_line(exc: BaseException) -> str:
    return _first_line_of(str(exc)) or type(exc).__name__


def _first_line_of(text: str) -> str:
    """The first sentence of the first non-empty line (torch's messages run on for a paragraph)."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line.split(". ", 1)[0].rstrip(".")[:160]


def stamp(module: Any, checkpoint: dict[str, Any]) -> None:
    """Record in ``checkpoint`` which project and LightningModule class wrote it (``on_save_checkpoint``)."""
    path = class_path(type(module))
    checkpoint[STAMP_KEY] = {"project": project_of(path), "module": path}


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def project_of(path: str) -> str:
    """``projects.<name>.…`` -> ``<name>``; anything else (a test's module) is its own top-level module."""
    parts = path.split(".")
    return parts[1] if parts[0] == "projects" and len(parts) > 2 else parts[0]


def owner(checkpoint: dict[str, Any]) -> tuple[str, str] | None:
    """(project, module class path) of a Lightning checkpoint, or None when it cannot be told."""
    mark = checkpoint.get(STAMP_KEY)
    if isinstance(mark, dict) and mark.get("module"):
        return str(mark.get("project") or project_of(mark["module"])), str(mark["module"])
    return None


def check_checkpoint(path: str | os.PathLike, module_cls: type, model_name: str | None = None,
                     resume: bool = False) -> dict[str, Any]:
    """The Lightning checkpoint at ``path``, read safely, after checking that ``module_cls`` wrote it (and,
    given ``model_name``, that it was trained with that ``model`` config: its state dict fits no other),
    that its Lightning version field and class names are intact and, to ``resume`` a fit, that it holds
    the optimizer state."""
    checkpoint = read_checkpoint(path)
    path = Path(path)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        kind = type(checkpoint).__name__
        raise CheckpointError(f"{path} is not a Lightning checkpoint of {_describe(module_cls)} (it holds a {kind}"
                              f"{' without a state_dict' if isinstance(checkpoint, dict) else ''}); pass a "
                              f"<run>/checkpoints/*.ckpt written by `make train PROJECT={_project(module_cls)}`")
    _check_version(path, checkpoint)
    found = owner(checkpoint)
    expected = class_path(module_cls)
    if found is not None and found[1] != expected:
        project, module = found
        if project != _project(module_cls):
            raise CheckpointError(f"{path} is a checkpoint of the {project} project ({module.rsplit('.', 1)[-1]}), "
                                  f"not of {_project(module_cls)}: use it with PROJECT={project}")
        raise CheckpointError(f"{path} was written by {module.rsplit('.', 1)[-1]}, not by {module_cls.__name__} "
                              f"(both in {project}): it does not fit here")
    if found is None:
        raise CheckpointError(f"{path} carries no project stamp: it was written before checkpoint format 1 (or not "
                              "by ecomvision); re-train it with this code (make train)")
    saved = (checkpoint.get("hyper_parameters") or {}).get("model")
    saved_name = saved.get("name") if isinstance(saved, dict) else None
    if model_name is not None and saved_name is not None and saved_name != model_name:
        raise CheckpointError(f"{path} was trained with model={saved_name}, not model={model_name}: "
                              f"pass model={saved_name}")
    _check_names(path, checkpoint)
    if resume:
        missing = [key for key in RESUME_KEYS if key not in checkpoint]
        if missing:
            raise CheckpointError(f"{path} holds the weights only (no {' or '.join(missing)}), so training cannot "
                                  "resume from it: evaluate it with make eval, or resume from the run's "
                                  "checkpoints/last.ckpt")
    return checkpoint


def _check_version(path: Path, checkpoint: dict[str, Any]) -> None:
    """Lightning reads the version field first; a missing or edited one was a KeyError traceback."""
    version = checkpoint.get(VERSION_KEY)
    try:
        Version(str(version))
    except InvalidVersion:
        state = "has no" if version is None else f"has {_short(version)!r} as its"
        raise CheckpointError(f"{path} {state} Lightning version field ({VERSION_KEY}), which every checkpoint "
                              "that Lightning writes holds: the file was edited or damaged; use an unedited "
                              "checkpoint or re-train") from None


def _check_names(path: Path, checkpoint: dict[str, Any]) -> None:
    """The class names saved with the weights must be as many as the classes the model predicts."""
    hparams = checkpoint.get("hyper_parameters") or {}
    classes = hparams.get("num_classes") if isinstance(hparams, dict) else None
    if not isinstance(classes, int) or isinstance(classes, bool):
        return
    spec = checkpoint.get("inference")
    for key, names in (("class_names", checkpoint.get("class_names")),
                       ("inference.names", spec.get("names") if isinstance(spec, dict) else None)):
        if isinstance(names, list | tuple) and names and len(names) != classes:
            raise CheckpointError(f"{path}: its {key} lists {len(names)} names but its model predicts {classes} "
                                  "classes (num_classes): the file was edited or damaged; re-train or restore it")


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_fits(module: Any, path: str | os.PathLike) -> None:
    """One CheckpointError line when the tensors saved in ``path`` do not fit ``module`` (built from
    today's config: another class count, a tensor missing or extra), before Lightning loads them."""
    saved = read_checkpoint(path).get("state_dict")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path} holds no state_dict of tensors")
    problem = mismatch(module.state_dict(), saved, strict=getattr(module, "strict_loading", True))
    if problem:
        raise CheckpointError(f"{path} does not fit the model built for it: {problem}")


def mismatch(expected: dict[str, Any], saved: dict[str, Any], strict: bool = True) -> str:
    """What keeps ``saved`` from loading into a module whose state dict is ``expected`` ('' if nothing):
    tensors of another shape first (the class count), then missing and extra ones."""
    shapes = [f"{key} is {_shape(saved[key])} in the checkpoint and {_shape(value)} in the model"
              for key, value in expected.items()
              if key in saved and hasattr(value, "shape") and _shape(saved[key]) != _shape(value)]
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} tensor(s) of another shape ({'; '.join(shapes[:SHOWN])}"
                     f"{'; ...' if len(shapes) > SHOWN else ''}): trained with another class count or model size?")
    if strict:
        for what, keys in (("missing from the checkpoint", [k for k in expected if k not in saved]),
                           ("in the checkpoint but not in the model", [k for k in saved if k not in expected])):
            if keys:
                parts.append(f"{len(keys)} tensor(s) {what} ({', '.join(keys[:SHOWN])}"
                             f"{', ...' if len(keys) > SHOWN else ''})")
    return "; ".join(parts)


def _shape(value: Any) -> str:
    return "x".join(str(n) for n in value.shape) if hasattr(value, "shape") else type(value).__name__


def _project(module_cls: type) -> str:
    return project_of(class_path(module_cls))


def _describe(module_cls: type) -> str:
    return f"the {_project(module_cls)} project ({module_cls.__name__})"


def load_module(module_cls: type[M], path: str | os.PathLike, **kwargs: Any) -> M:
    """``module_cls.load_from_checkpoint(path)`` on CPU, weights-only, after :func:`check_checkpoint`.

    The module's ``pretrained`` source is not read again (nor needed: the checkpoint holds every tensor)."""
    check_checkpoint(path, module_cls)
    token = _REBUILDING.set(True)
    try:
        return module_cls.load_from_checkpoint(path, map_location="cpu", weights_only=True,  # type: ignore[attr-defined]
                                               **kwargs)
    except RuntimeError as exc:
        if "Error(s) in loading state_dict" not in str(exc):
            raise
        raise CheckpointError(f"{path} does not fit the model {module_cls.__name__} builds from its own config "
                              f"({_state_dict_difference(str(exc))}); it was written by other code: re-train it "
                              f"(make train)") from None
    finally:
        _REBUILDING.reset(token)


def _state_dict_difference(message: str) -> str:
    """The first missing / unexpected / mis-shaped tensor of torch's strict-load error."""
    found = re.search(r'(Missing key\(s\)|Unexpected key\(s\)) in state_dict: "([^"]+)"', message)
    if found:
        return f"{found.group(1).lower().replace('(s)', '')}: {found.group(2)}"
    shape = re.search(r"size mismatch for ([\w.]+)", message)
    return f"another shape: {shape.group(1)}" if shape else _first_line_of(message)


def rebuilding_from_checkpoint() -> bool:
    """True while :func:`load_module` rebuilds a module whose tensors all come from the checkpoint."""
    return _REBUILDING.get()
