"""Task runners. ``train`` and ``eval`` are generic (config -> datamodule -> module -> callbacks ->
logger -> Trainer); any other task is a function named in the project's ``tasks`` config."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.errors import InstantiationException
from hydra.utils import get_class, get_method, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from shared.checkpoints import check_checkpoint, check_fits
from shared.errors import ConfigError, EcomvisionError
from shared.files import write_atomic
from shared.inference import InferenceSpec, apply_spec, command_line_overrides, read_spec, settle_class_count
from shared.job_lock import job_lock
from shared.loggers import build_loggers, finish_loggers, log_config, log_summary
from shared.results_table import EVAL_COLUMNS, print_results_table
from shared.run_folder import (  # also registers ${unique_dir:...}
    check_writable,
    drop_empty_run,
    output_folders,
    settle_launch_config,
)

# Integer settings checked before any work (a missing or null key is left to its user).
POSITIVE_INTS = ("data.batch_size", "data.eval_batch_size", "audit.batch_size")
NON_NEGATIVE_INTS = ("seed", "data.num_workers")
MAX_SEED = 2**32 - 1


def run_task(cfg: DictConfig) -> Any:
    """Hydra's job function: run ``cfg.task``; user errors become one line on stderr and exit 1.

    A run that fails (for any reason) and wrote no result leaves no run folder behind."""
    run_dir, log_dir = Path(cfg.paths.output_dir), Path(cfg.paths.log_dir)
    try:
        check_settings(cfg)
        check_writable(output_folders(cfg))
        return dispatch(cfg)
    except EcomvisionError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        drop_empty_run(run_dir, log_dir)
        sys.exit(1)
    except BaseException:
        drop_empty_run(run_dir, log_dir)
        raise


def one_line(exc: BaseException) -> str:
    """The message of a user error, without the worker traceback that PyTorch's DataLoader puts into
    the message of an error it re-raises from a worker process ("Caught DataError in DataLoader worker
    process 0. Original Traceback ... shared.errors.DataError: <message>")."""
    text = str(exc)
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        prefix = f"{type(exc).__module__}.{type(exc).__name__}: "
        text = last[len(prefix):] if last.startswith(prefix) else last
    return " ".join(text.split("\n"))


def check_settings(cfg: DictConfig) -> None:
    """Batch sizes, epochs, seed and workers: an integer in range, or one line naming the key."""
    for key in POSITIVE_INTS:
        _check_int(cfg, key, minimum=1)
    for key in NON_NEGATIVE_INTS:
        _check_int(cfg, key, minimum=0)
    seed = OmegaConf.select(cfg, "seed", default=None)
    if isinstance(seed, int) and seed > MAX_SEED:
        raise ConfigError(f"seed must be at most {MAX_SEED} (numpy's limit), got {seed}")
    epochs = OmegaConf.select(cfg, "trainer.max_epochs", default=None)
    if epochs is not None and epochs != -1:
        _check_int(cfg, "trainer.max_epochs", minimum=1, note=" (or -1 for no limit)")


def _check_int(cfg: DictConfig, key: str, minimum: int, note: str = "") -> None:
    value = OmegaConf.select(cfg, key, default=None)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ConfigError(f"{key} must be {kind}{note}, got {value!r}")


def dispatch(cfg: DictConfig) -> Any:
    builtin = {"train": train, "eval": evaluate}
    custom = cfg.get("tasks") or {}
    if cfg.task in custom:
        return get_method(custom[cfg.task])(cfg)
    if cfg.task in builtin:
        return builtin[cfg.task](cfg)
    known = sorted({*builtin, *custom})
    raise ConfigError(f"project {cfg.project!r} has no task {cfg.task!r}; its tasks: {', '.join(known)}")


def build_trainer(cfg: DictConfig, run_dir: Path) -> pl.Trainer:
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    loggers = build_loggers(cfg, run_dir)
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, default_root_dir=str(run_dir))


def build_components(cfg: DictConfig, test_only: bool = False) -> tuple[pl.LightningDataModule, pl.LightningModule]:
    """The datamodule (checked: folders, split files, labels) and then the module. The class names the data
    declares (``datamodule.classes`` after ``prepare_data``) settle ``data.num_classes`` before the module is
    built (:func:`shared.inference.settle_class_count`). ``test_only``: the datamodule builds and checks its
    test split alone (``eval`` needs no training data)."""
    datamodule = _instantiate(cfg.datamodule)
    if test_only:
        if not hasattr(datamodule, "test_only"):
            raise ConfigError(f"{type(datamodule).__name__} cannot build its test split alone (no test_only())")
        datamodule.test_only()
    datamodule.prepare_data()  # validates folders and split files before any run output is written
    names = list(getattr(datamodule, "classes", None) or [])
    if names and OmegaConf.select(cfg, "data.num_classes", default="<absent>") != "<absent>":
        settle_class_count(cfg, names)
    module = _instantiate(cfg.module)
    return datamodule, module


def _instantiate(spec: DictConfig) -> Any:
    """Hydra wraps whatever a constructor raises; a user-facing error (e.g. a missing weights file)
    is re-raised as itself so that the CLI prints its one-line message."""
    try:
        return instantiate(spec, _recursive_=False)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, EcomvisionError):
            raise exc.__cause__ from None
        raise


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, then test the best checkpoint (val-selected) and the last weights; write metrics.json.

    Sweeps set ``skip_finished`` (a folder that already holds metrics.json is not trained again) and
    ``resume_from_last`` (an interrupted run restarts from its checkpoints/last.ckpt)."""
    run_dir = Path(cfg.paths.output_dir)
    if not cfg.get("skip_finished", False):
        return _train(cfg, run_dir)
    with job_lock(run_dir) as mine:  # a sweep job: one process at a time trains it
        if not mine:
            settle_launch_config(run_dir, runs=False)
            print(f"skip {run_dir} (another process is training it)")
            return {}
        done = finished_results(cfg, run_dir)
        if done is not None:
            print(f"skip {run_dir} (done)")
            return done
        return _train(cfg, run_dir)


def _train(cfg: DictConfig, run_dir: Path) -> dict[str, float]:
    ckpt_path = resume_checkpoint(cfg, run_dir)  # checked before any data or model is built
    pl.seed_everything(cfg.seed, workers=True)
    datamodule, module = build_components(cfg)
    if ckpt_path:
        check_fits(module, ckpt_path)  # one line, not torch's size-mismatch paragraph
    trainer = build_trainer(cfg, run_dir)
    log_config(trainer, cfg)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    results: dict[str, float] = {f"fit/{k}": _item(v) for k, v in trainer.callback_metrics.items()}
    if cfg.get("test_after_fit", True) and trainer.state.status.value == "finished":
        best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
        final = trainer.test(module, datamodule=datamodule, verbose=False)
        results.update({f"final/{k}": v for k, v in final[0].items()})
        if best:
            selected = trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)
            results.update({f"best/{k}": v for k, v in selected[0].items()})
            results["best_checkpoint"] = best  # type: ignore[assignment]
    if trainer.state.status.value != "finished":   # interrupted: no metrics.json, so a sweep resumes it
        finish_loggers(trainer)
        raise EcomvisionError(f"training of {run_dir} was interrupted ({trainer.state.status.value}); run the same "
                              f"command again to resume from {run_dir / 'checkpoints' / 'last.ckpt'}")
    log_summary(trainer, results)
    print_results_table(results, run_dir / "metrics.json")  # before W&B's summary (finish_loggers)
    finish_loggers(trainer)
    write_metrics(run_dir, results)
    return results


def finished_results(cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
    """With ``skip_finished``: the results of a run folder that already holds a readable metrics.json
    (written last, so its presence means the run finished), else None. Either way this launch's
    config is settled: kept as the run's .hydra/ when the job runs, discarded when it is skipped."""
    if not cfg.get("skip_finished", False):
        return None
    done = _read_results(run_dir / "metrics.json")
    settle_launch_config(run_dir, runs=done is None)
    return done


def _read_results(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # half-written: train again


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """``ckpt_path`` when given; else, with ``resume_from_last``, the run folder's checkpoints/last.ckpt."""
    if cfg.get("ckpt_path"):
        return checked_checkpoint(cfg, cfg.ckpt_path, resume=True)
    last = run_dir / "checkpoints" / "last.ckpt"
    if cfg.get("resume_from_last", False) and last.is_file():
        print(f"resume {run_dir} from {last}")
        return checked_checkpoint(cfg, last, resume=True)
    return None


def checked_checkpoint(cfg: DictConfig, path: str | Path, resume: bool = False) -> str:
    """``path``, once read (weights-only) and found to be a checkpoint of this project's module (with
    the optimizer state to ``resume`` a fit)."""
    check_checkpoint(path, get_class(cfg.module._target_), OmegaConf.select(cfg, "model.name", default=None),
                     resume=resume)
    return str(path)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint (``ckpt_path=...``) or, for parameter-free modules, the configured model."""
    run_dir = Path(cfg.paths.output_dir)
    ckpt = cfg.get("ckpt_path")
    if ckpt is None and cfg.get("eval_needs_checkpoint", True):
        raise ConfigError("eval needs a checkpoint: pass CKPT=path/to/file.ckpt (or ckpt_path=...)")
    if ckpt is not None:
        check_checkpoint(ckpt, get_class(cfg.module._target_))  # whose it is, before any data or model is built
        spec = read_spec(ckpt)
        take_model_of(cfg, spec)
        checked_checkpoint(cfg, ckpt)
        apply_spec(cfg, spec, ckpt)  # classes, size, normalisation: the checkpoint's, never today's
    datamodule, module = build_components(cfg, test_only=True)
    if ckpt is not None:
        check_fits(module, ckpt)
    trainer = build_trainer(cfg, run_dir)
    out = trainer.test(module, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
    results = {f"test/{k.split('/', 1)[-1]}" if not k.startswith("test/") else k: v for k, v in out[0].items()}
    print_results_table(results, run_dir / "metrics.json", EVAL_COLUMNS)  # before W&B's summary
    finish_loggers(trainer)
    write_metrics(run_dir, results)
    return results


def take_model_of(cfg: DictConfig, spec: InferenceSpec) -> None:
    """``make eval CKPT=...`` evaluates the model the checkpoint was trained with: its saved ``model``
    config, unless the command line names a model (then the name must match: ``checked_checkpoint``).
    Outside a Hydra run (a composed config: tests, notebooks) the config's model stands as composed."""
    from hydra.core.hydra_config import HydraConfig

    if not spec.model or not HydraConfig.initialized() or any(o.split("=", 1)[0].lstrip("+~").split(".")[0] == "model"
                             for o in command_line_overrides()):
        return
    with open_dict(cfg):
        cfg.model = OmegaConf.create(spec.model)


def write_metrics(run_dir: Path, results: dict[str, Any]) -> None:
    text = json.dumps(results, indent=2, sort_keys=True) + "\n"
    write_atomic(run_dir / "metrics.json", lambda f: f.write(text))  # whole or absent: make report reads it
    print(f"results -> {run_dir / 'metrics.json'}")


def _item(v: Any) -> Any:
    return v.item() if hasattr(v, "item") and getattr(v, "numel", lambda: 2)() == 1 else str(v)
