"""CCP masks are checked before training starts (size, label range), and a bad one is ONE line."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from shared.config import compose
from shared.datasets import ccp
from shared.datasets.registry import create_dataset
from shared.errors import DataError
from shared.tasks import one_line, run_task

CLASSES = ["null", "skin", "hair", "shirt"]  # 4 full labels, all with a coarse class
SPLITS = {"train": [f"{i:04d}" for i in range(1, 9)], "val": ["0009", "0010"], "test": ["0011", "0012"]}
W, H = 40, 30


def _mask(value_max: int = 3, size: tuple[int, int] = (W, H)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, value_max + 1, (size[1], size[0]), dtype=np.uint8), mode="L")


@pytest.fixture
def tiny_ccp(tmp_path, monkeypatch) -> Path:
    """<tmp>/data/ccp with 12 photo/mask pairs and its split files (SPLIT_DIR pointed at them)."""
    folder = tmp_path / "data" / "ccp"
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    with (folder / "classes.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "name"])
        writer.writerows(enumerate(CLASSES))
    rng = np.random.default_rng(1)
    for ids in SPLITS.values():
        for image_id in ids:
            Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(folder / "images" / f"{image_id}.jpg")
            _mask().save(folder / "masks" / f"{image_id}.png")
    splits = tmp_path / "splits"
    (splits / "1_4").mkdir(parents=True)
    with (splits / "split.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "split"])
        writer.writerows((i, s) for s, ids in SPLITS.items() for i in ids)
    (splits / "1_4" / "labeled.txt").write_text("0001\n0002\n")
    (splits / "1_4" / "unlabeled.txt").write_text("\n".join(SPLITS["train"][2:]) + "\n")
    monkeypatch.setattr(ccp, "SPLIT_DIR", splits)
    return tmp_path / "data"


def test_a_good_copy_passes(tiny_ccp):
    for split in ("val", "test"):
        assert len(create_dataset("ccp", split, root=tiny_ccp)) == 2
    sample = create_dataset("ccp", "train", root=tiny_ccp, part="labeled", ratio="1_4")[0]
    assert sample["mask"].shape == (H, W) and sample["mask"].max() <= 3


@pytest.mark.parametrize("bad,expected", [
    (lambda p: _mask(size=(W - 1, H)).save(p), "is 39x30 but its image"),
    (lambda p: _mask(value_max=77).save(p), "label value(s)"),
    (lambda p: p.unlink(), "mask file not found"),
    (lambda p: p.write_bytes(b"not a png"), "cannot read"),
])
def test_a_bad_test_mask_is_refused_when_the_split_is_built(tiny_ccp, bad, expected):
    path = tiny_ccp / "ccp" / "masks" / "0012.png"
    bad(path)
    with pytest.raises(DataError) as exc:
        create_dataset("ccp", "test", root=tiny_ccp)
    assert expected in str(exc.value) and "0012" in str(exc.value) and "\n" not in str(exc.value)


def test_several_bad_masks_are_counted(tiny_ccp):
    for image_id in ("0009", "0010"):
        _mask(value_max=99).save(tiny_ccp / "ccp" / "masks" / f"{image_id}.png")
    with pytest.raises(DataError, match=r"0009\.png.*\(1 more bad pair\(s\) in ccp val/all\)"):
        create_dataset("ccp", "val", root=tiny_ccp)


def test_a_mask_broken_after_the_check_is_seen_again(tiny_ccp):
    """The in-process cache of checked pairs is keyed on the files' modification times."""
    create_dataset("ccp", "test", root=tiny_ccp)
    _mask(value_max=60).save(tiny_ccp / "ccp" / "masks" / "0011.png")
    with pytest.raises(DataError, match="0011"):
        create_dataset("ccp", "test", root=tiny_ccp)


def test_a_bad_mask_read_in_a_dataloader_worker_is_one_line(tiny_ccp):
    dataset = create_dataset("ccp", "test", root=tiny_ccp)
    _mask(value_max=77).save(tiny_ccp / "ccp" / "masks" / "0011.png")  # after the check: read by the worker
    with pytest.raises(DataError) as exc:
        next(iter(DataLoader(dataset, num_workers=1, collate_fn=lambda batch: batch)))
    line = one_line(exc.value)
    assert "Traceback" in str(exc.value) and "Traceback" not in line
    assert line.startswith(f"{tiny_ccp / 'ccp' / 'masks' / '0011.png'}: label value(s) [4, 5")


def test_one_bad_test_mask_stops_training_before_it_starts(tiny_ccp, tmp_path, capsys):
    """Before: the whole fit ran, then the test crashed and no metrics.json was written."""
    _mask(value_max=77).save(tiny_ccp / "ccp" / "masks" / "0011.png")
    run = tmp_path / "runs" / "semiseg" / "run"
    cfg = compose("semiseg", [
        "debug=smoke", "data=ccp", f"data.root={tiny_ccp}", "data.options.ratio='1_4'", "method=supervised",
        "data.crop_size=32", "data.base_size=32", "data.eval_size=32", "data.batch_size=2",
        "data.eval_batch_size=2", "data.num_workers=0", "model.features=16", "model.out_channels=[8,8,16,16]",
        f"paths.output_dir={run}", f"paths.log_dir={tmp_path / 'runs'}"])
    with pytest.raises(SystemExit) as exc:
        run_task(cfg)
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: mask ") and "0011.png" in err[0], err
    assert not run.exists(), "no training ran, no run folder left"


@pytest.mark.realdata
def test_every_real_ccp_mask_passes_the_check(shared_data):
    if not (shared_data / "ccp").is_dir():
        pytest.skip("CCP not available")
    sizes = {split: len(create_dataset("ccp", split, root=shared_data)) for split in ("train", "val", "test")}
    assert sum(sizes.values()) == 903


def test_unlabelled_photos_carry_their_masks_only_as_diagnostics(tiny_ccp):
    """``diagnostic_masks``: the unlabelled photos that have a mask return it (coarse), one without a mask
    returns all 255; without the option no unlabelled sample has a mask."""
    labelled = create_dataset("ccp", "train", root=tiny_ccp, part="all")
    (tiny_ccp / "ccp" / "masks" / "0008.png").unlink()                 # an image-level-only photo
    plain = create_dataset("ccp", "train", root=tiny_ccp, part="unlabeled", ratio="1_4")
    diag = create_dataset("ccp", "train", root=tiny_ccp, part="unlabeled", ratio="1_4", diagnostic_masks=True)
    assert all("mask" not in plain[i] for i in range(len(plain)))
    first = diag[0]
    assert first["id"] == "0003"
    assert np.array_equal(first["mask"], labelled[2]["mask"])          # 0003 is the third train photo
    last = diag[len(diag) - 1]
    assert last["id"] == "0008" and last["mask"].shape == (H, W) and (last["mask"] == 255).all()
