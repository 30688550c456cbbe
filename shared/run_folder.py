"""Run folders: one new folder per run (never an existing one), writable before any work starts, and
removed again when a failed run left nothing in it but Hydra's bookkeeping.

``configs/common/hydra/default.yaml`` names the run folder ``${unique_dir:<base>}``: the resolver creates
``<base>`` with ``mkdir(exist_ok=False)`` (atomic: of two processes asking for the same folder in the
same second only one gets it) and, when it exists already, ``<base>-1``, ``<base>-2`` ... Sweep jobs
keep their deterministic ``hydra.sweep`` folders (they resume by design) and do not use it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from shared.errors import ConfigError
from shared.files import write_atomic

MAX_SUFFIX = 10_000
# What a failed run may leave that is no result: Hydra's saved config and job log, the W&B offline
# run, the CSV logger's hyperparameters and progress log lines.
BOOKKEEPING_DIRS = (".hydra", ".hydra_launch", "wandb")
# Sweeps (configs/common/sweep/base.yaml) have Hydra save each launch's config here, not in .hydra/:
# it becomes the run's .hydra/ only when the job runs (settle_launch_config).
LAUNCH_CONFIG_DIR = ".hydra_launch"
BOOKKEEPING_FILES = ("hparams.yaml", "progress.log", ".train.lock")
BOOKKEEPING_SUFFIXES = (".log",)


def unique_run_dir(base: str) -> str:
    """Create and return a run folder that did not exist before: ``base``, else ``base-1``, ``base-2`` ...

    Called by OmegaConf while Hydra resolves ``hydra.run.dir`` (once per run). A folder that cannot be
    created ends the process with one line (an exception here would reach the user as Hydra's
    interpolation traceback)."""
    base_path = Path(base)
    try:
        base_path.parent.mkdir(parents=True, exist_ok=True)
        for n in range(MAX_SUFFIX):
            candidate = base_path if n == 0 else base_path.with_name(f"{base_path.name}-{n}")
            try:
                candidate.mkdir(exist_ok=False)
            except FileExistsError:
                continue
            return str(candidate)
    except OSError as exc:
        raise SystemExit(f"error: cannot create the run folder {base_path}: {exc.strerror or exc} "
                         f"(set paths.log_dir=... to a writable folder)") from None
    raise SystemExit(f"error: {MAX_SUFFIX} run folders named {base_path}-N exist already")


if not OmegaConf.has_resolver("unique_dir"):
    OmegaConf.register_new_resolver("unique_dir", unique_run_dir, use_cache=True)  # once per config


def check_run_dir_override(overrides: Iterable[str]) -> None:
    """A ``hydra.run.dir=<folder>`` given on the command line replaces ``${unique_dir:...}``, and Hydra
    creates it itself, with a traceback when it cannot: checked here first, one ConfigError line."""
    for override in overrides:
        key, sep, value = override.partition("=")
        value = value.strip().strip("'\"")
        if sep and key.lstrip("+~") == "hydra.run.dir" and value and "${" not in value:
            check_writable([("hydra.run.dir", Path(value))])


def output_folders(cfg: DictConfig) -> list[tuple[str, Path]]:
    """(config key, folder) of every folder this run will write: the run folder, each checkpoint
    callback's ``dirpath`` and the task's ``output``."""
    folders = [("paths.output_dir", Path(cfg.paths.output_dir))]
    for name, spec in (cfg.get("callbacks") or {}).items():
        if spec is not None and spec.get("dirpath"):
            folders.append((f"callbacks.{name}.dirpath", Path(spec.dirpath)))
    if cfg.get("output"):
        out = Path(cfg.output)  # a file (predict CSV, select mask) that exists already is overwritten in its folder
        folders.append(("output", out.parent if out.is_file() else out))
    return folders


def check_writable(folders: Iterable[tuple[str, Path]]) -> None:
    """A folder that cannot be written is a ConfigError naming it, raised before any work: Lightning
    2.6's atomic checkpoint save swallows PermissionError, so a read-only checkpoint folder would
    otherwise only show after the whole fit. A folder that does not exist yet is checked where it
    would be created (its nearest existing parent)."""
    for key, folder in folders:
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise ConfigError(f"{key}: cannot write to {folder}: {existing} is a file, not a folder")
        try:
            with tempfile.TemporaryFile(dir=existing, prefix=".write-check-"):
                pass
        except OSError as exc:
            raise ConfigError(f"{key}: cannot write to {folder} ({existing}: {exc.strerror or exc})") from None


def holds_results(run_dir: Path) -> bool:
    """Anything in the run folder besides Hydra's config, logs, W&B's offline run and hparams.yaml."""
    for path in run_dir.rglob("*"):
        if not path.is_file():
            continue
        parts = path.relative_to(run_dir).parts
        if parts[0] in BOOKKEEPING_DIRS or path.name in BOOKKEEPING_FILES or path.suffix in BOOKKEEPING_SUFFIXES:
            continue
        return True
    return False


def drop_empty_run(run_dir: Path, log_dir: Path | None = None) -> bool:
    """Nothing half-written: a run that failed before writing any result is removed (True if it was),
    and so are the folders above it that it leaves empty, up to ``log_dir`` (kept)."""
    if not run_dir.is_dir() or holds_results(run_dir):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    if log_dir is not None and run_dir.resolve().is_relative_to(log_dir.resolve()):
        parent, stop = run_dir.resolve().parent, log_dir.resolve()
        while parent != stop and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return not run_dir.exists()


def settle_launch_config(run_dir: Path, runs: bool) -> None:
    """A sweep job's launch config (``.hydra_launch/``) becomes its ``.hydra/`` when the job ``runs``
    (trains, resumes or evaluates); a skipped job discards it, so re-running a sweep whose configs
    changed since never rewrites what a finished run was made with (``make report`` reads .hydra/)."""
    launch = Path(run_dir) / LAUNCH_CONFIG_DIR
    if not launch.is_dir():
        return
    if runs:
        for source in sorted(launch.glob("*.yaml")):
            try:
                text = source.read_text(encoding="utf-8")
            except FileNotFoundError:   # another rank of the same job (torchrun) settled it first
                continue
            write_atomic(Path(run_dir) / ".hydra" / source.name, lambda f, text=text: f.write(text))
    shutil.rmtree(launch, ignore_errors=True)
