"""No code runs from a checkpoint or weights file (issue 17), and a file that cannot be used says why in
one line: refused (it would run code), truncated, missing, of another project, of another model.

Each malicious file's payload writes a marker file; every test asserts the marker never appears, and
one test shows that the same payload does write it when the file is unpickled the unsafe way."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from shared.checkpoints import STAMP_KEY, check_checkpoint, read_checkpoint
from shared.config import compose
from shared.errors import CheckpointError
from shared.tasks import dispatch

REPO = Path(__file__).resolve().parents[2]
CLASSIFICATION = ["debug=smoke", "data.options.image_size=32", "data.image_size=32", "data.batch_size=4",
                  "data.num_workers=0", "model=msff_base", "logger=csv"]
UNET = ["model=unet", "data.options.sizes={train:2,val:2,test:2}"]
SEMISEG = ["debug=smoke", "data.options.sizes={train:16,val:4,test:4}", "data.options.image_size=32",
           "data.crop_size=32", "data.base_size=32", "data.eval_size=32", "data.batch_size=2",
           "data.eval_batch_size=4", "data.num_workers=0", "data.labeled_ratio=1/4", "data.epoch_samples=4",
           "model.features=16", "model.out_channels=[8,8,16,16]", "logger=csv", "method=supervised",
           "test_after_fit=false"]


class Payload:
    """Unpickling this writes ``marker``: what a malicious checkpoint would do with os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('payload ran')",)


def _malicious(folder: Path, name: str, fmt: str = "zip") -> tuple[Path, Path]:
    """A checkpoint-looking file (state_dict and hyper_parameters) carrying the payload."""
    marker = folder / f"{name}.marker"
    obj = {"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": {}, "extra": Payload(marker)}
    path = folder / name
    if fmt == "plain":
        path.write_bytes(pickle.dumps(obj))
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=fmt == "zip")
    return path, marker


def _run(project: str, out: Path, overrides: list[str], task: str):
    cfg = compose(project, [f"paths.output_dir={out}", f"paths.log_dir={out.parent}", *overrides], task=task)
    return dispatch(cfg)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Tiny trained checkpoints of two projects (trained once for the module), and an unstamped copy of
    the classification one (a checkpoint written before checkpoints named their project)."""
    root = tmp_path_factory.mktemp("ckpts")
    _run("classification", root / "cls", CLASSIFICATION, "train")
    _run("semiseg", root / "seg", SEMISEG, "train")
    cls = root / "cls" / "checkpoints" / "last.ckpt"
    legacy = torch.load(cls, map_location="cpu", weights_only=True)
    legacy.pop(STAMP_KEY)
    for key in ("memory_format", "inference"):   # hyper-parameters that came after the stamp
        legacy["hyper_parameters"].pop(key, None)
    legacy.pop("inference", None)
    torch.save(legacy, root / "legacy_cls.ckpt")
    return {"classification": cls, "semiseg": root / "seg" / "checkpoints" / "last.ckpt",
            "legacy_classification": root / "legacy_cls.ckpt"}


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / "a.png")
    return folder


def test_the_payload_is_live_when_unpickled_unsafely(tmp_path):
    """The marker appears with weights_only=False: the refusals below are what keep it away."""
    path, marker = _malicious(tmp_path, "evil.ckpt")
    torch.load(path, weights_only=False)
    assert marker.read_text() == "payload ran"


@pytest.mark.parametrize("fmt", ["zip", "legacy", "plain"])
def test_reader_refuses_every_pickle_format_naming_the_file(tmp_path, fmt):
    path, marker = _malicious(tmp_path, f"evil-{fmt}.pth", fmt)
    with pytest.raises(CheckpointError, match=f"refused to load checkpoint {path}") as info:
        read_checkpoint(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_pretrained_weights_file_is_refused(tmp_path):
    path, marker = _malicious(tmp_path, "evil.pth")
    with pytest.raises(CheckpointError, match=f"refused to load weights file {path}: reading it would call"):
        _run("classification", tmp_path / "run", [*CLASSIFICATION, f"model.pretrained={path}"], "train")
    assert not marker.exists()


def test_eval_and_resume_refuse_the_checkpoint_before_any_work(tmp_path):
    path, marker = _malicious(tmp_path, "evil.ckpt", "legacy")
    for task in ("eval", "train"):
        with pytest.raises(CheckpointError, match=f"refused to load checkpoint {path}"):
            _run("classification", tmp_path / task, [*CLASSIFICATION, f"ckpt_path={path}"], task)
        assert not (tmp_path / task / "checkpoints").exists(), "nothing was trained or built"
    assert not marker.exists()


def test_semiseg_predict_refuses_the_checkpoint(tmp_path, photos):
    path, marker = _malicious(tmp_path, "evil.ckpt")
    with pytest.raises(CheckpointError, match=f"refused to load checkpoint {path}"):
        _run("semiseg", tmp_path / "run", [f"ckpt_path={path}", f"input={photos}"], "predict")
    assert not marker.exists()


def test_quality_audit_refuses_the_checkpoint(tmp_path, photos):
    path, marker = _malicious(tmp_path, "evil.ckpt")
    with pytest.raises(CheckpointError, match=f"refused to load checkpoint {path}"):
        _run("quality", tmp_path / "run", [f"ckpt_path={path}", f"input={photos}"], "audit")
    assert not marker.exists()


def test_variational_unet_refuses_the_checkpoint(tmp_path):
    path, marker = _malicious(tmp_path, "evil.ckpt")
    with pytest.raises(CheckpointError, match=f"refused to load checkpoint {path}"):
        _run("variational_seg", tmp_path / "run", [*UNET, f"ckpt_path={path}"], "eval")
    assert not marker.exists()


@pytest.mark.slow   # a `python -m shared` child process
def test_cli_prints_one_line_and_the_payload_never_runs(tmp_path):
    path, marker = _malicious(tmp_path, "evil.pth")
    proc = subprocess.run([sys.executable, "-m", "shared", "train", "classification", *CLASSIFICATION,
                           f"model.pretrained={path}", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and f"refused to load weights file {path}" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def test_truncated_and_empty_checkpoints_name_the_file(tmp_path, checkpoints):
    data = checkpoints["classification"].read_bytes()
    cut, empty = tmp_path / "cut.ckpt", tmp_path / "empty.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    empty.write_bytes(b"")
    for path in (cut, empty):
        with pytest.raises(CheckpointError, match=f"cannot read checkpoint {path}: the file is truncated") as info:
            _run("classification", tmp_path / "run", [*CLASSIFICATION, f"ckpt_path={path}"], "eval")
        assert "\n" not in str(info.value)


def test_missing_resume_checkpoint_fails_before_data_and_model(tmp_path, monkeypatch):
    import shared.tasks

    def built(cfg):
        raise AssertionError("data and model were built before the checkpoint was checked")

    monkeypatch.setattr(shared.tasks, "build_components", built)
    with pytest.raises(CheckpointError, match=f"checkpoint not found: {tmp_path / 'gone.ckpt'}$"):
        _run("classification", tmp_path / "run", [*CLASSIFICATION, f"ckpt_path={tmp_path / 'gone.ckpt'}"], "train")


def test_checkpoints_name_their_project(checkpoints):
    stamp = torch.load(checkpoints["semiseg"], map_location="cpu", weights_only=True)[STAMP_KEY]
    assert stamp == {"project": "semiseg", "module": "projects.semiseg.module.SemiSegModule"}


@pytest.mark.parametrize("kind", ["classification", "legacy_classification"])
def test_checkpoint_of_another_project_says_whose_it_is(tmp_path, checkpoints, photos, kind):
    """A stamped checkpoint names its project; one from before checkpoint format 1 (no stamp, no inference
    spec) is refused as such in every project, never guessed from its hyper-parameters."""
    ckpt = checkpoints[kind]
    if kind.startswith("legacy"):
        why = re.escape(f"{ckpt} carries no") + " (project stamp|inference spec).* re-train it"
        whose = {"semiseg": why, "quality": why, "variational_seg": why}
    else:
        owner = re.escape(f"{ckpt} is a checkpoint of the classification project (ClassificationModule), not of")
        whose = {"semiseg": f"{owner} semiseg: use it with PROJECT=classification", "quality": f"{owner} quality",
                 "variational_seg": f"{owner} variational_seg"}
    with pytest.raises(CheckpointError, match=whose["semiseg"]):
        _run("semiseg", tmp_path / "p", [f"ckpt_path={ckpt}", f"input={photos}"], "predict")
    with pytest.raises(CheckpointError, match=whose["quality"]):
        _run("quality", tmp_path / "a", [f"ckpt_path={ckpt}", f"input={photos}"], "audit")
    with pytest.raises(CheckpointError, match=whose["variational_seg"]):
        _run("variational_seg", tmp_path / "u", [*UNET, f"ckpt_path={ckpt}"], "eval")


def test_eval_with_another_projects_checkpoint_and_another_model(tmp_path, checkpoints):
    seg = checkpoints["semiseg"]
    with pytest.raises(CheckpointError, match=f"{seg} is a checkpoint of the semiseg project .* not of classification"):
        _run("classification", tmp_path / "e", [*CLASSIFICATION, f"ckpt_path={seg}"], "eval")
    cls = checkpoints["classification"]
    other_model = "was trained with model=msff_base, not model=msff_msp: pass model=msff_base"
    with pytest.raises(CheckpointError, match=other_model):
        _run("classification", tmp_path / "m", [*CLASSIFICATION, "model=msff_msp", f"ckpt_path={cls}"], "eval")


def test_own_checkpoints_still_load_weights_only(tmp_path, checkpoints, photos):
    """The good path through the same checks: eval and predict read our checkpoints (weights-only)."""
    from projects.semiseg.module import SemiSegModule

    assert check_checkpoint(checkpoints["semiseg"], SemiSegModule)["state_dict"]
    results = _run("classification", tmp_path / "e", [*CLASSIFICATION, f"ckpt_path={checkpoints['classification']}"],
                   "eval")
    assert 0.0 <= results["test/acc"] <= 1.0
    out = _run("semiseg", tmp_path / "p", [f"ckpt_path={checkpoints['semiseg']}", f"input={photos}"], "predict")
    assert (Path(out) / "predictions.csv").is_file()


@pytest.mark.parametrize("name", ["w.pth", "w.safetensors"])
def test_truncated_weights_file_names_the_file(tmp_path, name):
    from safetensors.torch import save_file

    from shared.weights import load_state_dict

    whole = tmp_path / f"whole-{name}"
    state = {"w": torch.zeros(1000)}
    save_file(state, whole) if name.endswith(".safetensors") else torch.save(state, whole)
    cut = tmp_path / name
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=f"cannot read weights file {cut}: the file is truncated or damaged"):
        load_state_dict(cut)


def test_the_refusal_imports_nothing_the_file_names(tmp_path, monkeypatch):
    """Naming the refused object must not import its module: importing would run that module's code."""
    (tmp_path / "sidefx_h1.py").write_text(f"open({str(tmp_path / 'imported.marker')!r}, 'w').write('ran')\n"
                                           "def f():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "names_a_module.pth"
    path.write_bytes(b"\x80\x02csidefx_h1\nf\nq\x00)R.")       # GLOBAL sidefx_h1.f, called with ()
    with pytest.raises(CheckpointError, match="asks for the Python object sidefx_h1.f"):
        read_checkpoint(path)
    assert not (tmp_path / "imported.marker").exists()
