"""Checkpoints, round 2 (issue 28): a full disk never leaves a partial file under a checkpoint's name
(earlier checkpoints stay intact), checkpoint names count epochs as the progress lines do, and a
checkpoint that does not fit (another class count, a missing tensor, no optimizer state, an edited
Lightning version, fewer class names than classes, a folder) is one line naming the file."""

from __future__ import annotations

import contextlib
import errno
import io
from pathlib import Path

import lightning_fabric.plugins.io.torch_io as torch_io
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.demos.boring_classes import BoringModel

import shared.tasks as tasks
from shared.callbacks.checked_checkpoint import CheckedCheckpoint, CheckpointSaveError
from shared.callbacks.progress import LineProgress
from shared.checkpoints import check_checkpoint, read_checkpoint
from shared.config import compose
from shared.errors import CheckpointError, ConfigError
from shared.predict import require_checkpoint
from shared.tasks import run_task

TINY = ["debug=smoke", "data.options.image_size=32", "data.image_size=32", "data.batch_size=4",
        "data.num_workers=0", "model=msff_base"]


# ---- a full disk ------------------------------------------------------------------------------------------

def _fit(tmp_path: Path, callback: ModelCheckpoint, epochs: int = 3, progress: LineProgress | None = None):
    trainer = pl.Trainer(max_epochs=epochs, limit_train_batches=2, limit_val_batches=1, logger=False,
                         enable_progress_bar=progress is not None, enable_model_summary=False,
                         callbacks=[callback, *([progress] if progress else [])],
                         default_root_dir=str(tmp_path), accelerator="cpu")
    trainer.fit(BoringModel())
    return trainer


@pytest.fixture
def disk_full_at_second_save(monkeypatch):
    """From the second checkpoint on, the disk fills up halfway through the file (ENOSPC), as
    Lightning's own save does it: serialise into memory, then write the file."""
    calls = []

    def save(checkpoint, path):
        calls.append(path)
        data = io.BytesIO()
        torch.save(checkpoint, data)
        with open(path, "wb") as f:
            if len(calls) < 2:
                f.write(data.getvalue())
                return
            f.write(data.getvalue()[: len(data.getvalue()) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch_io, "_atomic_save", save)
    return calls


def test_lightning_leaves_a_truncated_checkpoint_on_a_full_disk(tmp_path, disk_full_at_second_save):
    """The 'before': plain ModelCheckpoint leaves half a file under the checkpoint's own name."""
    with pytest.raises(OSError):
        _fit(tmp_path, ModelCheckpoint(dirpath=tmp_path / "ckpts", save_top_k=-1))
    half = Path(disk_full_at_second_save[1])
    assert half.suffix == ".ckpt"
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        read_checkpoint(half)


def test_a_full_disk_leaves_no_partial_checkpoint_and_the_earlier_one_intact(tmp_path, disk_full_at_second_save):
    folder = tmp_path / "ckpts"
    with pytest.raises(CheckpointSaveError, match=r"checkpoint not written: .*epoch002.ckpt \(No space left on "
                                                  r"device\); is .*ckpts writable and is there space left"):
        _fit(tmp_path, CheckedCheckpoint(dirpath=folder, filename="epoch{epoch:03d}", save_top_k=-1,
                                     auto_insert_metric_name=False))
    assert sorted(p.name for p in folder.iterdir()) == ["epoch001.ckpt"]   # no partial file of any name
    assert read_checkpoint(folder / "epoch001.ckpt")["epoch"] == 0
    assert disk_full_at_second_save[1].endswith("/.epoch002.ckpt.partial")


def test_checkpoint_names_count_epochs_as_the_progress_lines_do(tmp_path, capsys):
    """``epoch007.ckpt`` was "epoch 8/10" in the progress lines; now both count from 1."""
    folder = tmp_path / "ckpts"
    _fit(tmp_path, CheckedCheckpoint(dirpath=folder, filename="epoch{epoch:03d}", save_top_k=-1,
                                     auto_insert_metric_name=False), epochs=2,
         progress=LineProgress(every_n_steps=0))
    assert sorted(p.name for p in folder.iterdir()) == ["epoch001.ckpt", "epoch002.ckpt"]
    done = [line for line in capsys.readouterr().out.splitlines() if line.endswith("(epoch done)")]
    assert [line.split()[1] for line in done] == ["1/2", "2/2"]


# ---- checkpoints that do not fit -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, str]:
    """One tiny classification checkpoint (8 synthetic classes), trained once for this module, and what
    the training printed (with a mark where the loggers finish: W&B prints its summary there)."""
    root = tmp_path_factory.mktemp("cls")
    cfg = compose("classification", [*TINY, f"paths.output_dir={root / 'run'}", f"paths.log_dir={root}"])
    out = io.StringIO()
    original = tasks.finish_loggers

    def finish(trainer):
        print("<the loggers finish here>")
        original(trainer)
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(tasks, "finish_loggers", finish)
        run_task(cfg)
    return root / "run" / "checkpoints" / "last.ckpt", out.getvalue()


@pytest.fixture
def trained(trained_run) -> Path:
    return trained_run[0]


def test_train_prints_its_results_table_before_the_loggers_summary(trained_run):
    """The end of the log was two unlabelled "test: N batches" lines and W&B's truncated summary."""
    ckpt, printed = trained_run
    lines = printed.splitlines()
    start = lines.index("results on the test split:")
    assert lines[start + 1].split() == ["final", "weights", "val-selected"]
    assert lines[start + 2].split()[0] == "acc" and len(lines[start + 2].split()) == 3
    run = ckpt.parent.parent
    assert f"  val-selected checkpoint: {run / 'checkpoints' / 'epoch001.ckpt'}" in lines
    end = lines.index(f"  every number: {run / 'metrics.json'}")
    assert lines[end + 1] == "<the loggers finish here>"


def _edited(source: Path, target: Path, edit) -> Path:
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, target)
    return target


def _fails(tmp_path: Path, capsys, task: str, ckpt: Path, *extra: str) -> str:
    cfg = compose("classification", [*TINY, f"paths.output_dir={tmp_path / 'again'}", f"paths.log_dir={tmp_path}",
                                     f"ckpt_path={ckpt}", *extra], task=task)
    with pytest.raises(SystemExit) as exit_:
        run_task(cfg)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def _head(state: dict) -> str:
    return [k for k, v in state.items() if v.ndim == 2][-1]   # the classifier's weight (the last matrix)


def test_resume_with_another_class_count_is_one_line(trained, tmp_path, capsys):
    """Was a 39-line size mismatch from torch's load_state_dict."""
    def five_classes(checkpoint):
        state = checkpoint["state_dict"]
        key = _head(state)
        state[key] = state[key][:5]
        state[key.replace("weight", "bias")] = state[key.replace("weight", "bias")][:5]
    ckpt = _edited(trained, tmp_path / "five.ckpt", five_classes)
    line = _fails(tmp_path, capsys, "train", ckpt)
    assert f"{ckpt} does not fit the model built for it: 2 tensor(s) of another shape (" in line
    assert "is 5x" in line and "in the checkpoint and 8x" in line and "another class count" in line


def test_predict_with_another_class_count_is_one_line(trained, tmp_path):
    """predict rebuilds the model from the checkpoint's own hyper-parameters (8 classes): a head of 5 rows
    is one CheckpointError line, not torch's size-mismatch paragraph."""
    from projects.classification.module import ClassificationModule
    from shared.checkpoints import load_module

    def five_rows(checkpoint):
        state = checkpoint["state_dict"]
        state[_head(state)] = state[_head(state)][:5]
    ckpt = _edited(trained, tmp_path / "five_rows.ckpt", five_rows)
    with pytest.raises(CheckpointError, match=rf"{ckpt} does not fit the model") as exc:
        load_module(ClassificationModule, ckpt)
    assert "\n" not in str(exc.value)


def test_eval_with_a_missing_tensor_is_one_line(trained, tmp_path, capsys):
    def drop_one(checkpoint):
        del checkpoint["state_dict"][_head(checkpoint["state_dict"])]
    ckpt = _edited(trained, tmp_path / "missing.ckpt", drop_one)
    line = _fails(tmp_path, capsys, "eval", ckpt)
    assert f"{ckpt} does not fit the model built for it: 1 tensor(s) missing from the checkpoint (" in line


def test_resume_without_optimizer_states_is_one_line(trained, tmp_path, capsys):
    """Was Lightning's KeyError traceback ("Trying to restore optimizer state ...")."""
    ckpt = _edited(trained, tmp_path / "weights_only.ckpt", lambda c: c.pop("optimizer_states"))
    line = _fails(tmp_path, capsys, "train", ckpt)
    assert line == (f"error: {ckpt} holds the weights only (no optimizer_states), so training cannot resume from "
                    "it: evaluate it with make eval, or resume from the run's checkpoints/last.ckpt")


@pytest.mark.parametrize("version", [None, "not a version", ""])
def test_an_edited_lightning_version_is_one_line(trained, tmp_path, capsys, version):
    """Was a KeyError traceback from Lightning's checkpoint migration."""
    def edit(checkpoint):
        if version is None:
            del checkpoint["pytorch-lightning_version"]
        else:
            checkpoint["pytorch-lightning_version"] = version
    ckpt = _edited(trained, tmp_path / "edited.ckpt", edit)
    line = _fails(tmp_path, capsys, "eval", ckpt)
    assert f"{ckpt} has " in line and "Lightning version field (pytorch-lightning_version)" in line


def test_fewer_class_names_than_classes_is_one_line(trained, tmp_path):
    """Was accepted, then an IndexError in predict."""
    def edit(checkpoint):
        checkpoint["class_names"] = checkpoint["class_names"][:3]
        checkpoint["inference"]["names"] = checkpoint["inference"]["names"][:3]
    ckpt = _edited(trained, tmp_path / "names.ckpt", edit)
    from projects.classification.module import ClassificationModule

    with pytest.raises(CheckpointError, match=rf"{ckpt}: its class_names lists 3 names but its model predicts 8 "
                                              r"classes \(num_classes\)"):
        check_checkpoint(ckpt, ClassificationModule)


def test_a_folder_as_ckpt_path_names_the_checkpoints_in_it(trained, tmp_path, capsys):
    """Was "not found"."""
    run = trained.parent.parent
    line = _fails(tmp_path, capsys, "eval", run)
    assert line.startswith(f"error: checkpoint {run} is a folder, not a checkpoint file: pass one .ckpt file; "
                           "it holds checkpoints/last.ckpt")
    cfg = compose("classification", [f"ckpt_path={run}"], task="predict")
    with pytest.raises(ConfigError, match=r"is a folder, not a checkpoint file: .* it holds checkpoints/last.ckpt"):
        require_checkpoint(cfg)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="it holds no .ckpt file"):
        read_checkpoint(empty)


def test_the_unedited_checkpoint_still_evaluates(trained, tmp_path, capsys):
    cfg = compose("classification", [*TINY, f"paths.output_dir={tmp_path / 'eval'}", f"paths.log_dir={tmp_path}",
                                     f"ckpt_path={trained}"], task="eval")
    results = run_task(cfg)
    assert "test/acc" in results or any(k.startswith("test/") for k in results)
    out = capsys.readouterr().out
    assert "results on the test split:" in out and f"every number: {tmp_path / 'eval' / 'metrics.json'}" in out
