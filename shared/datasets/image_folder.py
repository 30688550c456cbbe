"""A user's own labelled photos in the torchvision ImageFolder layout: dataset ``image_folder``.

Two layouts under ``root``:

* ``train/<class>/``, ``val/<class>/`` and optionally ``test/<class>/``: the user's split, kept as is
  (without ``test/``, the val photos are also the test set);
* ``<class>/`` alone: split per class with ``seed`` into train / val / test (``val`` and ``test`` are
  fractions, 70 / 15 / 15 by default; every class gets at least one photo in each split).

Classes are the folder names, sorted, unless ``classes`` is given (at eval: the checkpoint's names, in
its output order); a folder class that is not in ``classes`` is an error. Images may sit in nested
folders below their class folder (.jpg .jpeg .png .webp .bmp .tif); hidden files are skipped, and
every listed image's header is read once, so an unreadable file stops the run before training with
its name. The split actually used is written to ``split_file`` (a CSV ``path,label,split``; configs
point it into the run folder, never the repo's ``splits/``).

``test_only`` (what ``make eval`` uses, see :class:`FolderDataModule`): the ``test`` split is the
``test/`` folder when the layout has split folders (``val/`` without one), else every image of the tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf, open_dict
from torch.utils.data import Dataset

from shared.datasets.datamodule import ImageDataModule
from shared.datasets.io import IMAGE_SUFFIXES, image_size, read_image, require_dir
from shared.datasets.prepare import write_split_file
from shared.datasets.registry import DATASETS, SPLITS
from shared.errors import ConfigError, DataError

SPLIT_FOLDERS = ("train", "val", "test")
HINT = "lay out <root>/<class>/*.jpg, or <root>/train/<class>/ and <root>/val/<class>/ (see the project README)"


@dataclass(frozen=True)
class Photo:
    path: Path
    label: int
    split: str


def visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def images_under(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursively, hidden files and folders skipped), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def has_split_folders(root: Path) -> bool:
    return (root / "train").is_dir() or (root / "test").is_dir()


def class_photos(folder: Path) -> dict[str, list[Path]]:
    """class name -> its images, for one ``<class>/`` tree; an image outside any class folder or a
    class folder without images is an error."""
    require_dir(folder, "photos", HINT)
    loose = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise DataError(f"{loose[0]} is not in a class folder; {HINT}")
    classes = {d.name: images_under(d) for d in visible_dirs(folder)}
    if not classes:
        raise DataError(f"{folder} has no class folders; {HINT}")
    for name, files in classes.items():
        if not files:
            raise DataError(f"class folder {folder / name} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return classes


def seeded_split(counts: dict[str, int], seed: int, val: float, test: float) -> dict[str, list[str]]:
    """Per class, the split of each of its ``counts[class]`` images (in file order), drawn with ``seed``:
    ``round(n * test)`` and ``round(n * val)`` images (at least one each) to test and val, the rest to train."""
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ConfigError(f"data.options.val and data.options.test must be fractions with val + test < 1, "
                          f"got val={val}, test={test}")
    out = {}
    for k, (name, n) in enumerate(sorted(counts.items())):
        n_test, n_val = max(1, round(n * test)), max(1, round(n * val))
        if n - n_test - n_val < 1:
            raise DataError(f"class {name!r} has {n} image(s); a seeded train/val/test split needs at least "
                            f"{n_test + n_val + 1}: add photos, or lay out train/ and val/ folders yourself")
        order = np.random.default_rng([seed, k]).permutation(n)
        split = np.array(["train"] * n, dtype=object)
        split[order[:n_test]] = "test"
        split[order[n_test:n_test + n_val]] = "val"
        out[name] = split.tolist()
    return out


def label_of(name: str, classes: list[str], where: Path) -> int:
    if name not in classes:
        raise DataError(f"class folder {where} is not one of the model's classes ({', '.join(classes)}); "
                        f"remove it or evaluate a model trained on it")
    return classes.index(name)


def index_folder(root: Path, classes: Sequence[str] | None = None, seed: int = 0, val: float = 0.15,
                 test: float = 0.15, test_only: bool = False) -> tuple[list[Photo], list[str]]:
    """Every photo of the layout with its label and split, and the class list (see the module docstring)."""
    if has_split_folders(root):
        parts = {s: class_photos(root / s) for s in SPLIT_FOLDERS if (root / s).is_dir()}
        if test_only:
            parts = {"test": parts.get("test") or parts.get("val") or parts["train"]}
        elif "train" not in parts or "val" not in parts:
            raise DataError(f"{root} has split folders but not both train/ and val/; {HINT}")
        elif "test" not in parts:
            parts["test"] = parts["val"]
        found = sorted({name for tree in parts.values() for name in tree})
        names = list(classes) if classes else found
        photos = [Photo(path, label_of(name, names, root / split / name), split)
                  for split, tree in parts.items() for name, files in sorted(tree.items()) for path in files]
        return photos, names
    tree = class_photos(root)
    names = list(classes) if classes else sorted(tree)
    labels = {name: label_of(name, names, root / name) for name in tree}
    if test_only:
        return [Photo(p, labels[name], "test") for name, files in tree.items() for p in files], names
    splits = seeded_split({name: len(files) for name, files in tree.items()}, seed, val, test)
    photos = [Photo(p, labels[name], s) for name, files in sorted(tree.items()) for p, s in zip(files, splits[name])]
    return photos, names


def check_readable(paths: Sequence[Path]) -> None:
    """Read each image's header (nothing decoded): a non-image or damaged file is one line naming it."""
    for path in paths:
        image_size(path)


def write_split(path: str | Path, root: Path, photos: list[Photo], names: list[str]) -> None:
    """The split actually used, as ``path,label,split`` rows (paths relative to ``root``); not rewritten
    when unchanged (every split's dataset computes the same rows)."""
    rows = [[p.path.relative_to(root).as_posix(), names[p.label], p.split] for p in photos]
    path = Path(path)
    text = "path,label,split\n" + "".join(",".join(r) + "\n" for r in rows)
    if path.is_file() and path.read_text() == text:
        return
    write_split_file(path, rows, header=["path", "label", "split"])


class ImageFolder(Dataset):
    """Samples ``image`` (uint8 HxWx3), ``label`` (class index), ``id`` (the path under the root)."""

    def __init__(self, root: Path, photos: list[Photo], classes: list[str]) -> None:
        self.root, self.photos, self.classes = root, photos, classes

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        photo = self.photos[index]
        return {"image": read_image(photo.path), "label": photo.label,
                "id": photo.path.relative_to(self.root).as_posix()}


def split_photos(split: str, root: Path, classes: Sequence[str] | None = None, seed: int = 0, val: float = 0.15,
                 test: float = 0.15, split_file: str | None = None,
                 test_only: bool = False) -> tuple[list[Photo], list[str]]:
    """The checked photos of ``split`` (and the class list), the whole split written to ``split_file``."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {SPLITS}")
    root = require_dir(root, "photos", HINT)
    photos, names = index_folder(root, classes, seed, val, test, test_only)
    if split_file and not test_only:
        write_split(split_file, root, photos, names)
    chosen = [p for p in photos if p.split == split]
    if not chosen:
        raise DataError(f"{root}: the {split} split holds no images; {HINT}")
    check_readable([p.path for p in chosen])
    return chosen, names


@DATASETS.register("image_folder")
def _image_folder(split: str, root: Path, classes: Sequence[str] | None = None, seed: int = 0, val: float = 0.15,
                  test: float = 0.15, split_file: str | None = None, test_only: bool = False) -> ImageFolder:
    photos, names = split_photos(split, root, classes, seed, val, test, split_file, test_only)
    return ImageFolder(Path(root), photos, names)


class FolderDataModule(ImageDataModule):
    """:class:`ImageDataModule` for a folder dataset: ``data.root`` is required (it is the user's folder, not
    the data root of the built-in sets), and at eval (``test_only``) the test split is the folder's ``test/``
    (or, without split folders, every image), set through the ``test_only`` option."""

    def __init__(self, data: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        if not self.cfg.get("root"):
            raise ConfigError("data=folder needs the folder of your photos: add data.root=/path/to/photos "
                              "(see the project README, Your own data)")

    def test_only(self) -> None:
        super().test_only()
        with open_dict(self.cfg):
            OmegaConf.update(self.cfg, "options.test_only", True, force_add=True)
