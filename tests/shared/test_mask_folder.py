"""shared/datasets/mask_folder.py: a user's folder of photos + index masks, split, label fractions, errors."""

import csv
import shutil

import numpy as np
import pytest
from PIL import Image

from shared.datasets.mask_folder import MaskFolder, read_classes
from shared.datasets.registry import create_dataset
from shared.errors import ConfigError, DataError
from tests.shared.mask_folder_data import CLASSES, make_mask_folder


def test_reads_jpg_png_webp_with_their_masks_and_colours(tmp_path):
    root = make_mask_folder(tmp_path / "f", n=9)
    everything = MaskFolder("test", root, eval_all=True)
    assert {p[1].rsplit(".", 1)[1] for p in everything.items} == {"jpg", "png", "webp"}
    sample = everything[0]
    assert sample["image"].shape == (24, 32, 3) and sample["mask"].shape == (24, 32)
    assert set(np.unique(sample["mask"])) <= {0, 1, 2}
    assert everything.classes == CLASSES and everything.colours == [None, (220, 40, 40), (40, 60, 220)]


def test_seeded_split_is_written_to_the_run_folder_and_is_reproducible(tmp_path):
    root = make_mask_folder(tmp_path / "f", n=20)
    a = {s: MaskFolder(s, root, split_dir=tmp_path / "run").items for s in ("train", "val", "test")}
    b = {s: MaskFolder(s, root, seed=0).items for s in ("train", "val", "test")}
    assert a == b and [len(a[s]) for s in ("train", "val", "test")] == [14, 2, 4]
    rows = list(csv.DictReader((tmp_path / "run" / "split.csv").open()))
    assert len(rows) == 20 and {r["split"] for r in rows} == {"train", "val", "test"}
    assert MaskFolder("test", root, seed=1).items != a["test"]


def test_label_fractions_are_nested_and_one_takes_every_label(tmp_path):
    root = make_mask_folder(tmp_path / "f", n=20, unlabelled=3)
    sets = [set(MaskFolder("train", root, part="labeled", ratio=r).items) for r in ("1/8", 0.25, "1_2", 1.0)]
    assert all(a < b for a, b in zip(sets, sets[1:])) and sets[-1] == set(MaskFolder("train", root).items)
    unlabelled = MaskFolder("train", root, part="unlabeled", ratio=0.25)
    assert len(unlabelled) == 14 - len(sets[1]) + 3 and "mask" not in unlabelled[0]
    assert len(MaskFolder("train", root, part="unlabeled", ratio=1)) == 3   # only unlabelled/
    with pytest.raises(ConfigError, match=r"in \(0, 1\]"):
        MaskFolder("train", root, part="labeled", ratio=1.5)


def test_user_split_from_split_csv(tmp_path):
    root = make_mask_folder(tmp_path / "f", n=6)
    names = sorted(p.name for p in (root / "images").iterdir())
    rows = ["image,split", *(f"{n},{'test' if i < 2 else 'val' if i == 2 else 'train'}" for i, n in enumerate(names))]
    (root / "split.csv").write_text("\n".join(rows) + "\n")
    assert sorted(i for _, i in MaskFolder("test", root).items) == names[:2]
    assert len(MaskFolder("train", root).items) == 3
    (root / "split.csv").write_text("image,split\n" + f"{names[0]},holdout\n")
    with pytest.raises(DataError, match="split.csv:2: split 'holdout'"):
        MaskFolder("test", root)


def test_user_split_from_sub_folders(tmp_path):
    root = make_mask_folder(tmp_path / "flat", n=6)
    nested = tmp_path / "nested"
    for split in ("train", "val", "test"):
        for kind in ("images", "masks"):
            (nested / kind / split).mkdir(parents=True)
    photos = sorted((root / "images").iterdir())
    for i, photo in enumerate(photos):
        split = "train" if i < 4 else "val" if i == 4 else "test"
        shutil.copy(photo, nested / "images" / split / photo.name)
        shutil.copy(root / "masks" / f"{photo.stem}.png", nested / "masks" / split / f"{photo.stem}.png")
    shutil.copy(root / "classes.txt", nested / "classes.txt")
    test = create_dataset("mask_folder", "test", root=nested)
    assert [i for _, i in test.items] == [f"test/{photos[5].name}"] and len(MaskFolder("train", nested)) == 4


def test_binary_masks_for_the_click_tool(tmp_path):
    root = make_mask_folder(tmp_path / "f", n=4)
    (root / "classes.txt").unlink()
    mask = np.asarray(Image.open(root / "masks" / "p00.png")).copy()
    mask[0, 0] = 255
    Image.fromarray(mask, mode="L").save(root / "masks" / "p00.png")
    sample = next(s for s in MaskFolder("test", root, binary=True, eval_all=True) if s["id"] == "p00.jpg")
    assert set(np.unique(sample["mask"])) == {0, 1, 255} and sample["mask"][0, 0] == 255


@pytest.mark.parametrize("damage, message", [
    (lambda r: (r / "masks" / "p01.png").unlink(), r"mask missing for .*p01.png: expected .*masks/p01.png"),
    (lambda r: Image.new("L", (10, 10)).save(r / "masks" / "p01.png"), "is 10x10 but its photo .* is 32x24"),
    (lambda r: Image.fromarray(np.full((24, 32), 5, np.uint8), "L").save(r / "masks" / "p01.png"),
     r"holds label\(s\) \[5\] but .*classes.txt lists 3 classes"),
    (lambda r: (r / "classes.txt").unlink(), "class list not found"),
    (lambda r: shutil.rmtree(r / "images"), "photo folder not found"),
])
def test_bad_folders_are_one_line_errors(tmp_path, damage, message):
    root = make_mask_folder(tmp_path / "f", n=6)
    damage(root)
    with pytest.raises(DataError, match=message) as info:
        MaskFolder("test", root, eval_all=True)
    assert "\n" not in str(info.value)


def test_class_list_with_colours_and_comments(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("# my classes\nbackground\nrunning shoe 10 200 30\n\nbag\n")
    assert read_classes(path) == (["background", "running shoe", "bag"], [None, (10, 200, 30), None])
    path.write_text("background\nbackground\n")
    with pytest.raises(DataError, match="listed twice"):
        read_classes(path)
