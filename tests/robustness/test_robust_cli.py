"""The predict / audit / select command lines (issue 17): paths with spaces through ``make``, a file
where a folder is expected and the reverse, ``predict`` on variational_seg, tiny images, badly typed
points, output names that cannot collide, no empty run folders, outputs never beside the user's
photo, output files readable by others, and folder predict streamed (one full-size photo alive)."""

from __future__ import annotations

import csv
import hashlib
import os
import shlex
import subprocess
import weakref
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import shared.predict
from shared.config import compose
from shared.datasets.io import read_image
from shared.errors import ConfigError, DataError
from shared.tasks import dispatch

REPO = Path(__file__).resolve().parents[2]
CLASSIFICATION = ["debug=smoke", "data.options.image_size=32", "data.image_size=32", "data.batch_size=4",
                  "data.num_workers=0", "model=msff_base"]
SEMISEG = ["debug=smoke", "data.options.sizes={train:16,val:4,test:4}", "data.options.image_size=32",
           "data.crop_size=32", "data.base_size=32", "data.eval_size=32", "data.batch_size=2",
           "data.eval_batch_size=4", "data.num_workers=0", "data.labeled_ratio=1/4", "data.epoch_samples=4",
           "model.features=16", "model.out_channels=[8,8,16,16]", "logger=csv", "method=supervised",
           "test_after_fit=false"]


def _run(project: str, out: Path, overrides: list[str], task: str):
    cfg = compose(project, [f"paths.output_dir={out}", f"paths.log_dir={out.parent}", *overrides], task=task)
    return cfg, dispatch(cfg)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """One tiny trained checkpoint per project whose predict the tests run (trained once per module)."""
    root = tmp_path_factory.mktemp("ckpts")
    cls_cfg, _ = _run("classification", root / "cls", CLASSIFICATION, "train")
    seg_cfg, _ = _run("semiseg", root / "seg", SEMISEG, "train")
    return {"classification": Path(cls_cfg.paths.output_dir) / "checkpoints" / "last.ckpt",
            "semiseg": Path(seg_cfg.paths.output_dir) / "checkpoints" / "last.ckpt"}


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    image = np.full((h, w, 3), 200, np.uint8)
    image[(yy - h // 2) ** 2 + (xx - w // 2) ** 2 <= (min(h, w) // 3) ** 2] = rng.integers(20, 90, 3)
    return image


def _same_stem_folder(folder: Path) -> Path:
    """``a.jpg``, ``a.png`` and ``sub/a.jpg``, each of a different size (an overwrite would show)."""
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(_photo(30, 40)).save(folder / "a.jpg")
    Image.fromarray(_photo(36, 44)).save(folder / "a.png")
    Image.fromarray(_photo(24, 52)).save(folder / "sub" / "a.jpg")
    return folder


# ---- output names ----------------------------------------------------------------------------------------

def test_semiseg_predict_writes_one_mask_per_file_even_with_the_same_stem(checkpoints, tmp_path):
    folder = _same_stem_folder(tmp_path / "in")
    out = tmp_path / "pred"
    _run("semiseg", tmp_path / "run", [*SEMISEG, f"ckpt_path={checkpoints['semiseg']}", f"input={folder}",
                                       f"output={out}"], "predict")
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert sorted(r["mask"] for r in rows) == ["masks/a.jpg.png", "masks/a.png.png", "masks/sub/a.jpg.png"]
    for row in rows:  # each mask has its own photo's size: none was overwritten by another
        assert Image.open(out / row["mask"]).size == Image.open(row["file"]).size
    overlays = sorted(p.relative_to(out).as_posix() for p in (out / "overlays").rglob("*.jpg"))
    assert overlays == ["overlays/a.jpg.jpg", "overlays/a.png.jpg", "overlays/sub/a.jpg.jpg"]


def test_classification_and_audit_rows_are_one_per_file(checkpoints, tmp_path):
    folder = _same_stem_folder(tmp_path / "in")
    out = tmp_path / "pred.csv"
    _run("classification", tmp_path / "run", [*CLASSIFICATION, f"ckpt_path={checkpoints['classification']}",
                                              f"input={folder}", f"output={out}"], "predict")
    files = [r["file"] for r in csv.DictReader(out.open())]
    assert sorted(Path(f).relative_to(folder).as_posix() for f in files) == ["a.jpg", "a.png", "sub/a.jpg"]
    _run("quality", tmp_path / "audit-run", ["model=classical", f"input={folder}", f"output={tmp_path / 'audit'}"],
         "audit")
    audited = [r["file"] for r in csv.DictReader((tmp_path / "audit" / "audit.csv").open())]
    assert sorted(audited) == ["a.jpg", "a.png", "sub/a.jpg"]


def test_output_files_are_readable_by_others(checkpoints, tmp_path):
    """mkstemp's 0600 no longer reaches the user: CSV and report get the mode of any new file."""
    folder = _same_stem_folder(tmp_path / "in")
    old = os.umask(0o022)
    try:
        _run("classification", tmp_path / "run", [*CLASSIFICATION, f"ckpt_path={checkpoints['classification']}",
                                                  f"input={folder}", f"output={tmp_path}/out/"], "predict")
        _run("quality", tmp_path / "audit-run", ["model=classical", f"input={folder}",
                                                 f"output={tmp_path / 'audit'}"], "audit")
    finally:
        os.umask(old)
    for path in (tmp_path / "out" / "predictions.csv", tmp_path / "audit" / "audit.csv",
                 tmp_path / "audit" / "report.html"):
        assert path.stat().st_mode & 0o777 == 0o644, path


# ---- streaming -------------------------------------------------------------------------------------------

class LiveDecodes:
    """Counts the decoded full-size images still referenced when the next file is decoded."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref] = []
        self.max_alive = 0

    def __call__(self, path) -> np.ndarray:
        self.max_alive = max(self.max_alive, 1 + sum(r() is not None for r in self.refs))
        image = read_image(path)
        self.refs.append(weakref.ref(image))
        return image


@pytest.mark.parametrize("project", ["classification", "semiseg"])
def test_predict_streams_the_folder(checkpoints, tmp_path, monkeypatch, project):
    """Before: every photo of the folder decoded before the first prediction (all alive at once)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(7):
        Image.fromarray(_photo(40, 50, seed=i)).save(folder / f"p{i}.jpg")
    reader = LiveDecodes()
    monkeypatch.setattr(shared.predict, "read_image", reader)
    overrides = CLASSIFICATION if project == "classification" else SEMISEG
    _run(project, tmp_path / "run", [*overrides, f"ckpt_path={checkpoints[project]}", f"input={folder}",
                                     f"output={tmp_path}/out/"], "predict")
    assert len(reader.refs) == 7 and reader.max_alive == 1


# ---- wrong kind of path, variational_seg predict -------------------------------------------------------

def test_input_that_is_a_file_says_a_folder_was_expected(checkpoints, tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.fromarray(_photo(30, 40)).save(photo)
    with pytest.raises(DataError, match=r"expected a folder, but .*photo.jpg is a file"):
        _run("classification", tmp_path / "run", [*CLASSIFICATION, f"ckpt_path={checkpoints['classification']}",
                                                  f"input={photo}"], "predict")
    with pytest.raises(DataError, match=r"expected a folder, but .*photo.jpg is a file"):
        _run("quality", tmp_path / "audit", ["model=classical", f"input={photo}"], "audit")


def test_image_that_is_a_folder_says_an_image_file_was_expected(tmp_path):
    with pytest.raises(DataError, match="is a folder; expected one image file"):
        _run("variational_seg", tmp_path / "run", [f"image={tmp_path}", "points='1,1'"], "select")


def test_predict_on_variational_seg_points_to_select(tmp_path):
    with pytest.raises(ConfigError, match='make select IMAGE=photo.jpg POINTS="x,y;x,y"'):
        _run("variational_seg", tmp_path / "run", [f"input={tmp_path}"], "predict")


# ---- select ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("h,w", [(1, 1), (1, 50), (5, 30)])
def test_select_on_a_tiny_image_names_the_minimum_size(tmp_path, h, w):
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(DataError, match=rf"the image is {w}x{h} pixels .*at least 16x16"):
        _run("variational_seg", tmp_path / "run", [f"image={tmp_path / 'tiny.png'}", "points='0,0'"], "select")


def test_select_on_a_too_elongated_image_names_the_working_size(tmp_path):
    Image.fromarray(np.zeros((20, 1000, 3), np.uint8)).save(tmp_path / "strip.png")
    with pytest.raises(DataError, match=r"1000x20 pixels: at the solver's working size .* 320x6"):
        _run("variational_seg", tmp_path / "run", [f"image={tmp_path / 'strip.png'}", "points='5,5'",
                                                   "data.max_side=320"], "select")


@pytest.mark.parametrize("points", ["10 20", "10;20", "10,20,30", "a,b", "10,20;;30,40"])
def test_select_quotes_the_points_it_could_not_read(tmp_path, points):
    Image.fromarray(_photo(48, 48)).save(tmp_path / "p.png")
    with pytest.raises(ConfigError, match=rf"of POINTS='{points}': expected x,y pairs"):
        _run("variational_seg", tmp_path / "run", [f"image={tmp_path / 'p.png'}", f"points='{points}'"], "select")


def test_select_without_out_writes_into_a_fresh_run_folder_not_beside_the_photo(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(_photo(48, 48)).save(photos / "p.png")
    (photos / "p_mask.png").write_bytes(b"the user's own file")
    run_dir = tmp_path / "run"
    _run("variational_seg", run_dir, [f"image={photos / 'p.png'}", "points=' 24 , 24 ; 22,25 '"], "select")
    assert sorted(p.name for p in photos.iterdir()) == ["p.png", "p_mask.png"]
    assert (photos / "p_mask.png").read_bytes() == b"the user's own file"
    mask = np.asarray(Image.open(run_dir / "p_mask.png"))
    assert mask.shape == (48, 48) and mask[24, 24] == 255 and (run_dir / "p_mask_cutout.png").is_file()


def test_select_with_out_leaves_no_run_folder(tmp_path):
    """Hydra made the run folder (config + log) before the task ran: with OUT elsewhere it is removed."""
    Image.fromarray(_photo(48, 48)).save(tmp_path / "p.png")
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("{}")
    (run_dir / "tasks.log").write_text("")
    _run("variational_seg", run_dir, [f"image={tmp_path / 'p.png'}", "points='24,24'",
                                      f"output={tmp_path}/masks/"], "select")
    assert (tmp_path / "masks" / "p_mask.png").is_file() and not run_dir.exists()


# ---- make: paths with spaces and quotes --------------------------------------------------------------------

def _make(*args: str) -> list[str]:
    """``make`` told that the venv is up to date (``-o`` its stamp): a test never installs anything."""
    stamp = hashlib.sha256((REPO / "requirements.txt").read_bytes()).hexdigest()[:16]
    return ["make", "-s", "-o", f".venv/.installed-{stamp}", *args]


def _make_args(*assignments: str, target: str = "select") -> list[str]:
    """The Hydra overrides ``make -n <target> ...`` would pass to ``python -m shared``."""
    cmd = subprocess.run(_make("-n", target, *assignments), cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    words = shlex.split(cmd)
    return words[words.index("shared") + 3:]


@pytest.mark.parametrize("var,key", [("INPUT", "input"), ("OUT", "output"), ("IMAGE", "image"),
                                     ("CKPT", "ckpt_path"), ("POINTS", "points")])
def test_make_passes_values_with_spaces_and_quotes_intact(var, key):
    value = "/tmp/my photos/it's a \"photo\", (1) [x] = y.jpg"
    cfg = compose("variational_seg", _make_args(f"{var}={value}"), task="select")
    assert cfg[key] == value


@pytest.mark.slow
def test_make_select_with_spaces_in_image_and_out(tmp_path):
    """The real target, end to end: before, the paths were split at the spaces (Hydra parse error)."""
    photos = tmp_path / "my photos"
    photos.mkdir()
    Image.fromarray(_photo(48, 48)).save(photos / "red shoe.png")
    out = tmp_path / "out dir" / "shoe mask.png"
    logs = tmp_path / "runs"
    result = subprocess.run(_make("select", f"IMAGE={photos / 'red shoe.png'}", "POINTS=24,24; 22,25", f"OUT={out}",
                                  f"ARGS=paths.log_dir={logs}"), cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert str(out) in result.stdout
    mask = np.asarray(Image.open(out))
    assert mask.shape == (48, 48) and mask[24, 24] == 255
    assert (out.parent / "shoe mask_cutout.png").is_file()
    assert not [p for p in logs.rglob(".hydra")], "a run folder was left behind"


def test_an_existing_output_file_may_be_overwritten(tmp_path):
    """Re-running select / predict with the same OUT file: its folder is checked for writing, not the file
    itself refused as "not a folder" (the run-folder check before any work)."""
    from shared.run_folder import check_writable, output_folders

    previous = tmp_path / "mask.png"
    previous.write_bytes(b"the previous run's mask")
    cfg = compose("variational_seg", [f"paths.output_dir={tmp_path / 'run'}", f"output={previous}"], task="select")
    assert ("output", tmp_path) in output_folders(cfg)
    check_writable(output_folders(cfg))  # raised ConfigError "... is a file, not a folder" before
