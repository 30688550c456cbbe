"""A user's own segmentation photos, one folder (dataset ``mask_folder``; semiseg and variational_seg read it
with ``data=folder data.root=/path``).

Layout::

    <root>/images/       photos (.jpg .jpeg .png .webp), sub-folders allowed
    <root>/masks/        one single-channel index PNG per photo: same relative path, ``.png`` (images/a/b.jpg ->
                         masks/a/b.png); value = the class's line in classes.txt (0 = the first), 255 = ignore
    <root>/classes.txt   one class per line, in index order; optionally ``name r g b`` (its colour in overlays)
    <root>/unlabelled/   optional: photos without masks (semi-supervised training reads them)

The split is the user's when given, either ``<root>/split.csv`` (columns ``image`` = path under images/, and
``split`` = train / val / test) or ``images/train/``, ``images/val/``, ``images/test/`` sub-folders (masks
alike); otherwise a seeded 70 / 10 / 20 split of the labelled photos. The labelled part of train at a label
fraction ``ratio`` in (0, 1] is the first ``max(1, round(ratio * n))`` photos of one seeded permutation of
train, so smaller fractions are nested in larger ones, as the committed CCP ratios are
(:mod:`shared.datasets.ccp`); unlabelled = the rest of train (masks never read) + ``unlabelled/``. With
``split_dir`` (the run folder) the split is written there as ``split.csv`` (image, split, labelled), never
into the repo.

``binary=True`` (variational_seg: a click tool cuts one object out): foreground is any label other than 0
and 255, classes.txt is optional. ``eval_all=True`` makes every labelled photo the test set (score a
checkpoint on a folder of new photos).
"""

from __future__ import annotations

import csv
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from shared.datasets.io import check_same_size, image_size, read_image, read_mask
from shared.datasets.label_ratio import parse_label_ratio
from shared.datasets.registry import DATASETS, SPLITS
from shared.errors import ConfigError, DataError
from shared.files import write_csv_atomic

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
CLASSES_FILE, SPLIT_FILE = "classes.txt", "split.csv"
UNLABELLED = ("unlabelled", "unlabeled")
FRACTIONS = {"train": 70, "val": 10, "test": 20}
IGNORE = 255
LAYOUT = "expected <root>/images/, <root>/masks/ and <root>/classes.txt (projects/semiseg/README.md, Your own data)"


def read_classes(path: Path) -> tuple[list[str], list[tuple[int, int, int] | None]]:
    """Names and optional colours of ``classes.txt`` (``name`` or ``name r g b`` per line; ``#`` comments)."""
    if not path.is_file():
        raise DataError(f"class list not found: {path}; write one class name per line (index 0 first)")
    names: list[str] = []
    colours: list[tuple[int, int, int] | None] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        colour = None
        if len(parts) >= 4 and all(p.isdigit() for p in parts[-3:]):
            rgb = tuple(int(p) for p in parts[-3:])
            if max(rgb) > 255:
                raise DataError(f"{path}:{number}: colour {rgb} is not three numbers 0..255")
            colour, parts = rgb, parts[:-3]  # type: ignore[assignment]
        name = " ".join(parts)
        if name in names:
            raise DataError(f"{path}:{number}: class {name!r} is listed twice")
        names.append(name)
        colours.append(colour)  # type: ignore[arg-type]
    if len(names) < 2:
        raise DataError(f"{path} lists {len(names)} class(es); list at least two (e.g. background and one object)")
    return names, colours


def list_photos(folder: Path) -> list[str]:
    """Photos under ``folder`` as sorted posix paths relative to it."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith("."))


def mask_name(image: str) -> str:
    return str(Path(image).with_suffix(".png").as_posix())


def seeded_split(images: list[str], seed: int) -> dict[str, list[str]]:
    """70 / 10 / 20 of one seeded permutation (test first, then val: CCP's order), at least one photo in
    val and test; train keeps the permutation's order (its prefixes are the nested labelled subsets)."""
    if len(images) < 3:
        raise DataError(f"{len(images)} labelled photo(s): a seeded train / val / test split needs at least 3 "
                        f"(or give your own split in {SPLIT_FILE})")
    order = images[:]
    random.Random(seed).shuffle(order)
    n_test = max(1, round(len(order) * FRACTIONS["test"] / 100))
    n_val = max(1, round(len(order) * FRACTIONS["val"] / 100))
    return {"test": sorted(order[:n_test]), "val": sorted(order[n_test:n_test + n_val]),
            "train": order[n_test + n_val:]}


def user_split(root: Path, images: list[str], seed: int) -> dict[str, list[str]] | None:
    """The split the user gave (split.csv or images/train|val|test/), train in a seeded order; else None."""
    path = root / SPLIT_FILE
    if path.is_file():
        split: dict[str, list[str]] = {s: [] for s in SPLITS}
        known = set(images)
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if rows and not {"image", "split"} <= set(rows[0]):
            raise DataError(f"{path} needs the columns image,split (found {', '.join(rows[0])})")
        for number, row in enumerate(rows, 2):
            image, name = str(row["image"]).strip(), str(row["split"]).strip()
            if name not in SPLITS:
                raise DataError(f"{path}:{number}: split {name!r} is not one of {', '.join(SPLITS)}")
            if image not in known:
                raise DataError(f"{path}:{number}: {image} is not a photo under {root / 'images'} (with its mask)")
            split[name].append(image)
        listed = {i for v in split.values() for i in v}
        if len(listed) != len(images):
            missing = sorted(known - listed)
            raise DataError(f"{path} does not list {len(missing)} photo(s) of images/ (first: {missing[0]}); "
                            f"give every photo a split, or move it to unlabelled/")
    elif any((root / "images" / s).is_dir() for s in SPLITS):
        split = {s: [i for i in images if i.split("/", 1)[0] == s] for s in SPLITS}
        others = [i for i in images if i.split("/", 1)[0] not in SPLITS]
        if others:
            raise DataError(f"{root / 'images' / others[0]} is outside images/train, images/val and images/test; "
                            f"with split sub-folders every photo goes in one of them")
    else:
        return None
    train = sorted(split["train"])
    random.Random(seed).shuffle(train)
    return {"train": train, "val": sorted(split["val"]), "test": sorted(split["test"])}


def labelled_count(ratio: Fraction, n_train: int) -> int:
    return min(n_train, max(1, round(n_train * ratio))) if n_train else 0


# (mask path, mask mtime, image mtime, classes) already checked in this process
_CHECKED: set[tuple[str, int, int, int]] = set()


def check_pair(image_path: Path, mask_path: Path, num_classes: int | None, classes_file: Path) -> None:
    """A photo and its mask: the mask exists, is the photo's size and holds only class indices or 255."""
    if not mask_path.is_file():
        raise DataError(f"mask missing for {image_path}: expected {mask_path} (an index PNG of the same size), "
                        f"or move the photo to unlabelled/")
    try:
        key = (str(mask_path), mask_path.stat().st_mtime_ns, image_path.stat().st_mtime_ns, num_classes or 0)
    except OSError:
        key = None
    if key in _CHECKED:
        return
    width, height = image_size(image_path)
    mask = read_mask(mask_path)   # the one reader: the mask upright, as its photo is
    size = (mask.shape[1], mask.shape[0])
    if size != (width, height):
        raise DataError(f"mask {mask_path} is {size[0]}x{size[1]} but its photo {image_path} is {width}x{height} "
                        f"(width x height); they must match")
    values = np.unique(mask)
    if num_classes is not None:
        bad = [int(v) for v in values if v >= num_classes and v != IGNORE]
        if bad:
            raise DataError(f"mask {mask_path} holds label(s) {bad[:10]} but {classes_file} lists {num_classes} "
                            f"classes (0..{num_classes - 1}; 255 = ignore): add the class(es) or fix the mask")
    if key is not None:
        _CHECKED.add(key)


class MaskFolder(Dataset):
    """Samples ``{"image", "mask", "id"}`` (``id`` = path under images/), or ``{"image", "id"}`` for
    ``part="unlabeled"`` (with ``diagnostic_masks``: the mask where the photo has one, else all 255)."""

    def __init__(self, split: str, root: Path, part: str = "all", ratio: Any = 1, seed: int = 0,
                 split_dir: str | Path | None = None, binary: bool = False, eval_all: bool = False,
                 diagnostic_masks: bool = False, classes: list[str] | None = None) -> None:
        if part not in ("all", "labeled", "unlabeled"):
            raise ConfigError(f"mask_folder part must be all, labeled or unlabeled, got {part!r}")
        if part != "all" and split != "train":
            raise ConfigError(f"mask_folder part={part!r} exists only for the train split, not {split!r}")
        self.root = Path(root)
        self.images_dir, self.masks_dir = self.root / "images", self.root / "masks"
        if not self.images_dir.is_dir():
            raise DataError(f"photo folder not found: {self.images_dir}; {LAYOUT}")
        self.classes_file = self.root / CLASSES_FILE
        self.binary = bool(binary)
        if self.binary and not self.classes_file.is_file():
            self.classes, self.colours = ["background", "foreground"], [None, None]
        else:
            self.classes, self.colours = read_classes(self.classes_file)
        if classes is not None and [str(c) for c in classes] != self.classes:
            raise ConfigError(f"{self.classes_file} lists {self.classes} but the checkpoint (or data.classes) has "
                              f"{list(classes)}: the class list must be the one the model was trained with")
        self.ratio = parse_label_ratio(ratio, "data.options.ratio")
        self.diagnostic_masks = bool(diagnostic_masks) and part == "unlabeled"
        self.part = part
        images = list_photos(self.images_dir)
        if not images:
            raise DataError(f"no photos ({', '.join(SUFFIXES)}) under {self.images_dir}; {LAYOUT}")
        if eval_all:
            splits = {"train": [], "val": [], "test": images}
        else:
            splits = user_split(self.root, images, seed) or seeded_split(images, seed)
        n_labelled = labelled_count(self.ratio, len(splits["train"]))
        labelled, rest = splits["train"][:n_labelled], splits["train"][n_labelled:]
        if split_dir is not None:
            write_split(Path(split_dir) / SPLIT_FILE, splits, set(labelled))
        self.unlabelled_dir = next((self.root / n for n in UNLABELLED if (self.root / n).is_dir()), None)
        if part == "unlabeled":
            self.items = [("images", i) for i in sorted(rest)]
            self.items += [("unlabelled", i) for i in list_photos(self.unlabelled_dir)] if self.unlabelled_dir else []
        else:
            ids = labelled if part == "labeled" else splits[split]
            self.items = [("images", i) for i in sorted(ids)]
        if not self.items and part != "unlabeled":
            raise DataError(f"{self.root}: the {split} split has no labelled photos ({len(images)} photos in all); "
                            f"add photos, or give the split in {SPLIT_FILE} or images/{split}/")
        if part != "unlabeled":
            num_classes = None if self.binary else len(self.classes)
            for _, image in self.items:
                check_pair(self.images_dir / image, self.masks_dir / mask_name(image), num_classes, self.classes_file)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        folder, image_id = self.items[index]
        image_path = self.root / folder / image_id
        image = read_image(image_path)
        mask_path = self.masks_dir / mask_name(image_id)
        if self.part == "unlabeled":
            if not self.diagnostic_masks:
                return {"image": image, "id": image_id}
            if folder != "images" or not mask_path.is_file():
                return {"image": image, "mask": np.full(image.shape[:2], IGNORE, dtype=np.uint8), "id": image_id}
        mask = read_mask(mask_path)
        check_same_size(image, mask, image_path, mask_path)
        if self.binary:
            mask = np.where(mask == IGNORE, IGNORE, (mask > 0).astype(np.uint8)).astype(np.uint8)
        return {"image": image, "mask": mask, "id": image_id}


def write_split(path: Path, splits: dict[str, list[str]], labelled: set[str]) -> None:
    """``split.csv`` in the run folder: every labelled photo, its split, and whether training reads its mask."""
    rows = [[image, name, int(image in labelled) if name == "train" else 1]
            for name in SPLITS for image in sorted(splits[name])]
    write_csv_atomic(path, ["image", "split", "labelled"], rows, lineterminator="\n")


FOLDER_SUBSETS = {"all": True, "test": False}   # the ``subset`` option -> eval_all


@DATASETS.register("mask_folder")
def _mask_folder(split: str, root: Path, subset: str | None = None, **options: Any) -> MaskFolder:
    """``subset``: the GrabCut-style option the click protocol sets (variational_seg experiment=noc, its
    ``noc.subsets``): ``all`` scores every labelled photo (``eval_all``), ``test`` the test part of the split."""
    if subset is not None:
        if subset not in FOLDER_SUBSETS:
            raise ConfigError(f"data.options.subset: {subset!r} is not a subset of a photo folder; use "
                              f"{' or '.join(FOLDER_SUBSETS)} (every labelled photo, or the test part of the split)")
        options["eval_all"] = FOLDER_SUBSETS[subset]
    return MaskFolder(split, root, **options)
