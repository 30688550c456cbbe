"""The ImageFolder layout as a dataset: classes from folder names, seeded per-class split written to the
run folder, the user's own split folders, eval on a whole tree, one-line errors."""

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.datasets.image_folder import FolderDataModule
from shared.datasets.registry import create_dataset
from shared.errors import ConfigError, DataError


def photos(folder: Path, count: int, suffix: str = ".png", value: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((8, 10, 3), value + i, np.uint8)).save(folder / f"p{i}{suffix}")


def tree(root: Path, counts: dict[str, int]) -> Path:
    for k, (name, n) in enumerate(counts.items()):
        photos(root / name, n, suffix=(".png", ".jpg", ".webp")[k % 3], value=40 * k)
    return root


def test_seeded_split_is_per_class_deterministic_and_written_to_the_split_file(tmp_path):
    root = tree(tmp_path / "shoes", {"sandal": 20, "boot": 10, "sneaker": 7})
    split_file = tmp_path / "run" / "split.csv"
    sets = {s: create_dataset("image_folder", s, root=root, seed=3, split_file=str(split_file))
            for s in ("train", "val", "test")}
    assert sets["train"].classes == ["boot", "sandal", "sneaker"]
    assert sum(len(d) for d in sets.values()) == 37
    for name, n in (("sandal", 20), ("boot", 10), ("sneaker", 7)):
        label = sets["train"].classes.index(name)
        per = {s: sum(p.label == label for p in d.photos) for s, d in sets.items()}
        assert per["test"] == max(1, round(n * 0.15)) and per["val"] == max(1, round(n * 0.15))
    rows = list(csv.DictReader(split_file.open()))
    assert len(rows) == 37 and {r["split"] for r in rows} == {"train", "val", "test"}
    assert [r["path"] for r in rows if r["split"] == "test"] == [p.path.relative_to(root).as_posix()
                                                               for p in sets["test"].photos]
    again = create_dataset("image_folder", "test", root=root, seed=3)
    other = create_dataset("image_folder", "test", root=root, seed=4)
    assert [p.path for p in again.photos] == [p.path for p in sets["test"].photos]
    assert [p.path for p in other.photos] != [p.path for p in sets["test"].photos]
    sample = sets["train"][0]
    assert sample["image"].shape == (8, 10, 3) and sample["image"].dtype == np.uint8


def test_user_split_folders_and_eval_on_test_or_whole_tree(tmp_path):
    root = tmp_path / "mine"
    for split, n in (("train", 4), ("val", 2), ("test", 3)):
        tree(root / split, {"a": n, "b": n})
    assert len(create_dataset("image_folder", "train", root=root)) == 8
    assert len(create_dataset("image_folder", "test", root=root)) == 6
    assert len(create_dataset("image_folder", "test", root=root, test_only=True)) == 6
    no_test = tmp_path / "no_test"
    for split in ("train", "val"):
        tree(no_test / split, {"a": 3, "b": 3})
    test_set = create_dataset("image_folder", "test", root=no_test)
    assert [p.path.parent.parent.name for p in test_set.photos] == ["val"] * 6
    whole = tree(tmp_path / "whole", {"a": 2, "b": 1})
    assert len(create_dataset("image_folder", "test", root=whole, test_only=True)) == 3


def test_given_classes_set_the_labels_and_an_unknown_class_folder_is_refused(tmp_path):
    root = tree(tmp_path / "eval", {"boot": 2, "sandal": 2})
    data = create_dataset("image_folder", "test", root=root, classes=["sandal", "sneaker", "boot"], test_only=True)
    assert data.classes == ["sandal", "sneaker", "boot"] and sorted({p.label for p in data.photos}) == [0, 2]
    with pytest.raises(DataError, match=r"class folder .*boot is not one of the model's classes \(a, b\)"):
        create_dataset("image_folder", "test", root=root, classes=["a", "b"], test_only=True)


def test_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        create_dataset("image_folder", "train", root=tmp_path / "empty")
    few = tree(tmp_path / "few", {"a": 6, "b": 2})
    with pytest.raises(DataError, match="class 'b' has 2 image"):
        create_dataset("image_folder", "train", root=few)
    broken = tree(tmp_path / "broken", {"a": 3, "b": 3})
    (broken / "b" / "zz.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"zz\.jpg"):
        for split in ("train", "val", "test"):
            create_dataset("image_folder", split, root=broken, val=0.3, test=0.3)
    loose = tree(tmp_path / "loose", {"a": 3})
    photos(loose, 1)
    with pytest.raises(DataError, match="not in a class folder"):
        create_dataset("image_folder", "train", root=loose)
    with pytest.raises(ConfigError, match="val \\+ test < 1"):
        create_dataset("image_folder", "train", root=few, val=0.5, test=0.5)


def test_folder_datamodule_builds_only_the_whole_tree_at_eval(tmp_path):
    root = tree(tmp_path / "tree", {"a": 3, "b": 4})
    dm = FolderDataModule({"dataset": "image_folder", "root": str(root), "image_size": 16, "batch_size": 4,
                           "options": {"seed": 0}})
    dm.test_only()
    dm.prepare_data()
    dm.setup("test")
    assert list(dm.datasets) == ["test"] and len(dm.datasets["test"]) == 7 and dm.classes == ["a", "b"]


def test_folder_datamodule_without_a_root_names_the_key():
    with pytest.raises(ConfigError, match=r"data=folder needs the folder of your photos: add data.root="):
        FolderDataModule({"dataset": "image_folder", "root": None, "image_size": 16, "batch_size": 4})
