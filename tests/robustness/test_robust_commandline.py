"""The command line, round 2 (issue 28): ``ARGS`` never reaches the shell, ``make select``'s OUT (a
symbolic link, no extension, a lossy format), tiny photos, ``hydra.run.dir`` that cannot be created,
and a predict folder holding files that are not photos."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.__main__ import main as cli_main
from shared.config import compose
from shared.errors import ConfigError, DataError
from shared.predict import require_input_folder
from shared.tasks import dispatch

REPO = Path(__file__).resolve().parents[2]


# ---- make: ARGS as words ---------------------------------------------------------------------------------

def _fake_python(tmp_path: Path) -> Path:
    """A stand-in for .venv/bin/python: runs the real one for the ARGS wrapper (shared.make_args) and
    writes the final command's arguments, one per line, instead of running it."""
    script = tmp_path / "python"
    script.write_text(f'#!/bin/bash\nif [ "$2" = shared.make_args ]; then exec {sys.executable} "$@"; fi\n'
                      f'printf "%s\\n" "$@" > {tmp_path / "argv.txt"}\n')
    script.chmod(0o755)
    return script


def _make(tmp_path: Path, target: str, *assignments: str) -> list[str]:
    """The arguments ``make <target> ...`` gives the command (never installs: ``-o`` the venv stamp)."""
    stamp = hashlib.sha256((REPO / "requirements.txt").read_bytes()).hexdigest()[:16]
    python = _fake_python(tmp_path)
    result = subprocess.run(["make", "-s", "-o", f".venv/.installed-{stamp}", target, f"PY={python}",
                             *assignments], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return (tmp_path / "argv.txt").read_text().splitlines()


@pytest.mark.parametrize("args", ["seed=`touch {f}`0", "seed=$$(touch {f})0", "seed=0; touch {f}",
                                  "seed=0 && touch {f}", "seed=0 | touch {f}"])
def test_args_never_run_a_command(tmp_path, args):
    """Each of these ran ``touch`` before (ARGS was pasted into the recipe's shell line)."""
    marker = tmp_path / "f"
    value = args.format(f=marker)
    argv = _make(tmp_path, "train", "PROJECT=classification", f"ARGS={value}")
    assert not marker.exists()
    assert argv[:4] == ["-m", "shared", "train", "classification"]
    assert " ".join(argv[4:]) == value.replace("$$", "$")   # the words, unexpanded, for Hydra to refuse


def test_args_are_split_into_words_like_a_shell_does(tmp_path):
    argv = _make(tmp_path, "train", "PROJECT=classification", "ARGS=a=1 b=2")
    assert argv[4:] == ["a=1", "b=2"]
    argv = _make(tmp_path, "eval", "PROJECT=semiseg", "CKPT=/x y.ckpt", "ARGS=data.root='my photos' seed=1")
    assert argv[4:] == ['ckpt_path="/x y.ckpt"', "data.root=my photos", "seed=1"]
    assert _make(tmp_path, "train", "PROJECT=classification")[4:] == []


def test_args_of_the_other_targets_never_run_a_command(tmp_path):
    marker = tmp_path / "f"
    argv = _make(tmp_path, "bench-gpu", f"GPU_PY={_fake_python(tmp_path)}", f"ARGS=--smoke `touch {marker}`")
    assert argv == ["-m", "benchmarks.gpu", "--smoke", "`touch", f"{marker}`"] and not marker.exists()
    argv = _make(tmp_path, "data", "DATASET=ccp", f"ARGS=--seed 1; touch {marker}")
    assert argv == ["-m", "shared.datasets.prepare", "ccp", "--seed", "1;", "touch", str(marker)]
    assert not marker.exists()


def test_an_unclosed_quote_in_args_is_one_line(tmp_path):
    stamp = hashlib.sha256((REPO / "requirements.txt").read_bytes()).hexdigest()[:16]
    result = subprocess.run(["make", "-s", "-o", f".venv/.installed-{stamp}", "train", "PROJECT=classification",
                             f"PY={_fake_python(tmp_path)}", "ARGS=seed='1"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "error: cannot split ARGS=\"seed='1\" into words" in result.stderr
    assert not (tmp_path / "argv.txt").exists()


# ---- make select: OUT --------------------------------------------------------------------------------------

def _photo(path: Path, h: int = 48, w: int = 48) -> Path:
    image = np.full((h, w, 3), 200, np.uint8)
    yy, xx = np.mgrid[:h, :w]
    image[(yy - h // 2) ** 2 + (xx - w // 2) ** 2 <= (min(h, w) // 3) ** 2] = (40, 60, 160)
    Image.fromarray(image).save(path)
    return path


def _select(tmp_path: Path, image: Path, out: Path | str, points: str = "'24,24'"):
    cfg = compose("variational_seg", [f"paths.output_dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path}",
                                      f"image={image}", f"points={points}", f"output='{out}'"], task="select")
    return dispatch(cfg)


def test_select_out_through_a_symlink_replaces_the_link_not_its_target(tmp_path):
    """Before, the mask was written through the link, overwriting the file it points to (predict
    replaces the link: select now does the same)."""
    target = tmp_path / "precious.png"
    target.write_bytes(b"the user's own file")
    link = tmp_path / "mask.png"
    link.symlink_to(target)
    _select(tmp_path, _photo(tmp_path / "p.png"), link)
    assert target.read_bytes() == b"the user's own file"
    assert not link.is_symlink() and np.asarray(Image.open(link))[24, 24] == 255
    assert oct(link.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_select_out_without_extension_is_one_line(tmp_path):
    """Before, a 25-line traceback (Pillow: unknown file extension); nothing is solved or written now."""
    with pytest.raises(ConfigError, match=r"OUT=.*/passwd has no file extension: name the mask file ending in .png"):
        _select(tmp_path, _photo(tmp_path / "p.png"), tmp_path / "passwd")
    assert not (tmp_path / "passwd").exists()


@pytest.mark.parametrize("name", ["mask.jpg", "mask.JPEG", "mask.webp"])
def test_select_out_in_a_lossy_format_is_refused(tmp_path, name):
    """Before, OUT=mask.jpg saved the 0/255 mask as JPEG with 39 grey levels, silently."""
    with pytest.raises(ConfigError, match=rf"OUT=.*{name}: \.\w+ is not a lossless format, the 0/255 mask would "
                                          r"be saved with grey levels; end OUT in \.png"):
        _select(tmp_path, _photo(tmp_path / "p.png"), tmp_path / name)


def test_select_out_tiff_is_lossless(tmp_path):
    _select(tmp_path, _photo(tmp_path / "p.png"), tmp_path / "mask.tif")
    assert set(np.unique(np.asarray(Image.open(tmp_path / "mask.tif")))) == {0, 255}


@pytest.mark.parametrize("side", [8, 10])
def test_select_on_a_tiny_photo_is_one_line(tmp_path, side):
    """Before, a 57-line LinAlgError from the colour model."""
    with pytest.raises(DataError, match=rf"the image is {side}x{side} pixels \(width x height\); select needs at "
                                        "least 16x16"):
        _select(tmp_path, _photo(tmp_path / "p.png", side, side), tmp_path / "m.png", "'4,4'")


def test_select_with_every_pixel_clicked_is_one_line(tmp_path):
    points = ";".join(f"{x},{y}" for y in range(20) for x in range(20))
    with pytest.raises(DataError, match="foreground clicks cover 100% of the photo"):
        _select(tmp_path, _photo(tmp_path / "p.png", 20, 20), tmp_path / "m.png", f"'{points}'")


# ---- hydra.run.dir -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("folder", ["/proc/x", "/proc/x/y"])
def test_a_run_dir_that_cannot_be_created_is_one_line(capsys, folder):
    """Before, Hydra's FileNotFoundError traceback (``paths.log_dir=/sys/x`` already gave one line)."""
    assert cli_main(["train", "variational_seg", f"hydra.run.dir={folder}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: hydra.run.dir: cannot write to {folder} (/proc: ")


# ---- predict: every file of INPUT is read or named --------------------------------------------------------

def test_predict_names_every_file_it_does_not_read(tmp_path, capsys):
    """Before, anim.gif, fake.heic and fake.avif were skipped without a word ("10 predicted, 3
    unreadable" for 16 files)."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    _photo(folder / "a.png")
    _photo(folder / "sub" / "b.jpg")
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    (folder / "fake.heic").write_bytes(b"not really")
    (folder / "fake.avif").write_bytes(b"not really")
    (folder / "README").write_text("notes")
    os.mkfifo(folder / "pipe.png")
    cfg = compose("classification", [f"input={folder}"], task="predict")
    assert require_input_folder(cfg) == [folder / "a.png", folder / "sub" / "b.jpg"]
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "5 file(s) in INPUT are not read:"
    for name, reason in [("anim.gif", ".gif is not a photo format read here"),
                         ("fake.heic", ".heic is not a photo format read here"),
                         ("fake.avif", ".avif is not a photo format read here"),
                         ("README", "a file without extension is not a photo format"),
                         ("pipe.png", "not a regular file")]:
        assert f"  not read: {folder / name}: {reason}" in out, name


def test_a_folder_without_any_photo_names_what_it_found(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "fake.heic").write_bytes(b"x")
    cfg = compose("classification", [f"input={folder}"], task="predict")
    with pytest.raises(DataError, match=r"no image files .* under .*in \(found 1 other files, e.g. fake.heic\)"):
        require_input_folder(cfg)
