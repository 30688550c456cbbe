"""The constructed product-image quality benchmark: real (or synthetic) pristine photos plus known
degradations with severities. Datasets ``quality_bench`` (real photos) and ``quality_synthetic``
(the shared synthetic generator, the default for ``make train PROJECT=quality``); preparer
``quality_bench`` (``make data DATASET=quality_bench``).

No human-scored (MOS) set is available offline, so labels are constructed. Recipe (seed ``s``):

1. **Sources.** ``make data DATASET=quality_bench`` draws, with seed ``s``, 420 photos of
   ``fashion_products`` (studio catalogue shots) and 140 of ``ccp`` (street-fashion photos) and splits
   the *photos* 60 / 15 / 25 % into train / val / test, stratified by source dataset. Every image
   derived from a photo (its pristine copy, its degraded copies) stays in that photo's split, and a
   test photo is never used as anything (not even as a clutter background) in train or val.
   Written to ``splits/quality_bench.csv`` (+ ``.counts.json``, ``.samples.csv``).
2. **Pristine image.** The photo decoded as RGB and resized (area interpolation, no crop) to
   128x96 (HxW; the catalogue photos are 3:4). Pristine copies are the "accept" class.
3. **Variants.** Each photo gives ``variants`` = 4 images: variant 0 is the pristine copy; variants
   1-3 each draw, from ``numpy.random.default_rng([s, photo index, variant])``, one defect (70 %) or
   two different defects (30 %; never under- and over-exposure together) uniformly among the
   applicable ones, each with a severity uniform in 1..5, and apply them in camera-pipeline order
   (clutter, framing, exposure, colour cast, blur, low resolution, noise, JPEG last) with
   :mod:`projects.quality.degradations`. ``clutter`` applies only to studio shots where a subject mask is
   found (:func:`~projects.quality.degradations.subject_mask`); its busy background is a CCP photo of the
   same split (synthetic: a cluttered synthetic scene).
4. **Labels.** ``label`` = 1 (reject) for any degraded variant, 0 (accept) for the pristine copy;
   ``defects`` = multi-hot over :data:`~projects.quality.degradations.DEFECTS`; ``severity`` = the
   severity per defect (0 = absent).
5. **Continuous quality target.** ``score`` = SSIM(degraded, pristine) from
   ``torchmetrics.functional.image.structural_similarity_index_measure`` with its defaults (Gaussian
   window 11, sigma 1.5, k1 0.01, k2 0.03), ``data_range=1.0``, on the RGB images in [0, 1] at 128x96,
   mean over channels and pixels. Pristine copies score exactly 1. MS-SSIM is not used: its five
   scales need images larger than 160 px. Caveat: SSIM measures pixel-aligned fidelity, so for
   ``framing`` (a shifted/zoomed view) it drops to about 0.2-0.6 at every severity.

Built images are cached once under ``data_cache/quality_bench/<key>/`` (ignored by git); the key
hashes the split file, the size and the recipe version, so a change rebuilds the cache.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from projects.quality.degradations import DEFECTS, degrade, subject_mask
from shared.datasets.io import read_image, require_dir
from shared.datasets.prepare import PREPARERS, stratified_split, write_split_file
from shared.datasets.registry import DATASETS, SPLITS
from shared.datasets.synthetic import SyntheticSpec, make_sample
from shared.errors import ConfigError, DataError
from shared.files import write_atomic
from shared.paths import REPO_ROOT, SPLITS_ROOT

RECIPE_VERSION = "1"
SIZE = (128, 96)  # (height, width) of the real benchmark
ORDER = ("clutter", "framing", "underexposed", "overexposed", "colour_cast", "blur", "low_resolution", "noise",
         "jpeg")
CONFLICTS = {frozenset({"underexposed", "overexposed"})}
CACHE_ROOT = REPO_ROOT / "data_cache" / "quality_bench"
SPLIT_FILE = SPLITS_ROOT / "quality_bench.csv"
HINT = "Put fashion_products and ccp under the data root (see README, Data) or set ECOMVISION_DATA."


@dataclass(frozen=True)
class Recipe:
    variants: int = 4
    two_defect_prob: float = 0.3
    seed: int = 0


def plan_defects(seed: int, source: int, variant: int, clutter_ok: bool,
                 two_defect_prob: float = 0.3) -> tuple[list[tuple[str, int]], np.random.Generator]:
    """The (defect, severity) list of one variant, in application order, and the generator that the
    degradations then consume. Variant 0 is the pristine copy (empty plan)."""
    rng = np.random.default_rng([seed, source, variant])
    if variant == 0:
        return [], rng
    applicable = [d for d in DEFECTS if d != "clutter" or clutter_ok]
    count = 2 if rng.random() < two_defect_prob else 1
    chosen: list[str] = []
    while len(chosen) < count:
        candidates = [d for d in applicable if d not in chosen
                      and not any(frozenset({d, c}) in CONFLICTS for c in chosen)]
        chosen.append(candidates[int(rng.integers(len(candidates)))])
    severities = [int(rng.integers(1, 6)) for _ in chosen]
    plan = sorted(zip(chosen, severities), key=lambda ds: ORDER.index(ds[0]))
    return plan, rng


def ssim_scores(images: np.ndarray, pristine: np.ndarray) -> np.ndarray:
    """SSIM of each image (N,H,W,3 uint8) against one pristine image (H,W,3 uint8), torchmetrics defaults."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    preds = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    target = torch.from_numpy(pristine)[None].permute(0, 3, 1, 2).float().expand_as(preds) / 255.0
    scores = structural_similarity_index_measure(preds, target, data_range=1.0, reduction="none")
    return scores.numpy().astype(np.float32)


class SourcePool:
    """Pristine images by index, their subject masks and busy backgrounds for clutter."""

    def __len__(self) -> int:
        raise NotImplementedError

    def pristine(self, index: int) -> tuple[np.ndarray, np.ndarray | None, str]:
        """(image, subject mask or None, source id)."""
        raise NotImplementedError

    def background(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


def build_arrays(pool: SourcePool, recipe: Recipe, progress: Callable[[int], None] | None = None) -> dict:
    """Every variant of every pristine image: the arrays a :class:`QualityArrays` serves."""
    images, labels, defects, severity, scores, ids, plans = [], [], [], [], [], [], []
    for i in range(len(pool)):
        base, mask, source_id = pool.pristine(i)
        group = []
        for v in range(recipe.variants):
            plan, rng = plan_defects(recipe.seed, i, v, mask is not None, recipe.two_defect_prob)
            img = base
            for name, sev in plan:
                context = {"mask": mask, "background": pool.background(rng)} if name == "clutter" else {}
                img = degrade(img, name, sev, rng, **context)
            group.append(img)
            sev_vec = np.zeros(len(DEFECTS), np.int8)
            for name, sev in plan:
                sev_vec[DEFECTS.index(name)] = sev
            labels.append(int(bool(plan)))
            defects.append((sev_vec > 0).astype(np.float32))
            severity.append(sev_vec)
            ids.append(f"{source_id}#v{v}")
            plans.append(";".join(f"{n}:{s}" for n, s in plan))
        stack = np.stack(group)
        scores.append(ssim_scores(stack, base))
        images.append(stack)
        if progress:
            progress(i)
    return {"images": np.concatenate(images), "label": np.array(labels, np.int64), "defects": np.stack(defects),
            "severity": np.stack(severity), "score": np.concatenate(scores), "id": np.array(ids),
            "plan": np.array(plans)}


class QualityArrays(Dataset):
    """Samples: ``image`` uint8 HxWx3, ``label`` 1 = reject / 0 = accept, ``defects`` float multi-hot,
    ``severity`` int per defect, ``score`` float32 SSIM target, ``id``."""

    classes = ["accept", "reject"]
    defect_names = list(DEFECTS)

    def __init__(self, arrays: dict) -> None:
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays["label"])

    def __getitem__(self, index: int) -> dict[str, Any]:
        a = self.arrays
        return {"image": a["images"][index], "label": int(a["label"][index]), "defects": a["defects"][index],
                "severity": a["severity"][index].astype(np.int64), "score": np.float32(a["score"][index]),
                "id": str(a["id"][index])}


# ----------------------------------------------------------------------------------------- synthetic
class SyntheticPool(SourcePool):
    """Clean-background synthetic products (clutter_prob 0) as pristine images; cluttered synthetic
    scenes (another seed stream) as busy backgrounds."""

    def __init__(self, split: str, count: int, seed: int, size: int) -> None:
        self.count, self.seed, self.size = count, seed, size
        self.offset = SPLITS.index(split) * 1_000_000
        self.clean = SyntheticSpec(image_size=size, clutter_prob=0.0)
        self.busy = SyntheticSpec(image_size=size, clutter_prob=1.0)

    def __len__(self) -> int:
        return self.count

    def pristine(self, index: int) -> tuple[np.ndarray, np.ndarray | None, str]:
        s = make_sample(self.seed, self.offset + index, self.clean)
        return s.image, s.mask > 0, f"synthetic-{self.seed}-{self.offset + index}"

    def background(self, rng: np.random.Generator) -> np.ndarray:
        return make_sample(self.seed + 7919, self.offset + int(rng.integers(1_000_000)), self.busy).image


@functools.lru_cache(maxsize=8)
def _synthetic_arrays(split: str, count: int, seed: int, size: int, variants: int) -> dict:
    return build_arrays(SyntheticPool(split, count, seed, size), Recipe(variants=variants, seed=seed))


@DATASETS.register("quality_synthetic")
def _quality_synthetic(split: str, root: Path, sources: dict[str, int] | None = None, seed: int = 0,
                       image_size: int = 64, variants: int = 4) -> QualityArrays:
    """``sources`` pristine products per split, each giving ``variants`` images (built in memory)."""
    sources = dict(sources or {"train": 300, "val": 60, "test": 100})
    if sources.get(split, 0) <= 0:
        raise ConfigError(f"quality_synthetic: sources for split {split!r} must be positive, got {sources}")
    return QualityArrays(_synthetic_arrays(split, int(sources[split]), seed, image_size, variants))


# ---------------------------------------------------------------------------------------- real photos
def resize_area(image: np.ndarray, size: tuple[int, int] | list[int] | int) -> np.ndarray:
    """Resize to (height, width) with area interpolation, no crop: how every benchmark image was made,
    so the audit must shrink large photos the same way (plain bilinear would alias them into "noise")."""
    h, w = (size, size) if isinstance(size, int) else size
    if image.shape[:2] == (h, w):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def load_pristine(path: Path, size: tuple[int, int] = SIZE) -> np.ndarray:
    """Decode and resize (area interpolation, no crop) to (height, width)."""
    return resize_area(read_image(path), size)


class PhotoPool(SourcePool):
    """The split's photos (``rows``: dataset, path) under the data root; CCP photos of the same split
    are the busy backgrounds."""

    def __init__(self, root: Path, rows: list[dict], size: tuple[int, int] = SIZE) -> None:
        self.root, self.rows, self.size = root, rows, size
        self.busy = [r for r in rows if r["dataset"] == "ccp"]
        if not self.busy:
            raise DataError("quality_bench: a split has no ccp photo to use as a clutter background")

    def __len__(self) -> int:
        return len(self.rows)

    def pristine(self, index: int) -> tuple[np.ndarray, np.ndarray | None, str]:
        r = self.rows[index]
        image = load_pristine(self.root / r["dataset"] / r["path"], self.size)
        mask = subject_mask(image) if r["dataset"] == "fashion_products" else None
        return image, mask, f"{r['dataset']}/{r['path']}"

    def background(self, rng: np.random.Generator) -> np.ndarray:
        r = self.busy[int(rng.integers(len(self.busy)))]
        return load_pristine(self.root / r["dataset"] / r["path"], self.size)


def read_split_rows(split_file: Path = SPLIT_FILE) -> list[dict]:
    if not split_file.is_file():
        raise DataError(f"split file not found: {split_file}; run `make data DATASET=quality_bench`")
    with split_file.open(newline="") as f:
        return list(csv.DictReader(f))


def _cache_key(rows: list[dict], recipe: Recipe, size: tuple[int, int]) -> str:
    text = json.dumps([RECIPE_VERSION, recipe.__dict__, list(size), rows], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=6)
def real_arrays(root: Path, split: str, seed: int = 0, variants: int = 4, verbose: bool = True) -> dict:
    rows = read_split_rows()
    recipe = Recipe(variants=variants, seed=seed)
    split_rows = [r for r in rows if r["split"] == split]
    if not split_rows:
        raise DataError(f"split {split!r} of {SPLIT_FILE} lists no photos")
    path = CACHE_ROOT / _cache_key(rows, recipe, SIZE) / f"{split}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    for name in ("fashion_products", "ccp"):
        require_dir(root / name, name, HINT)
    if verbose:
        print(f"quality_bench: building the {split} split ({len(split_rows)} photos x {variants}) -> {path}")
    arrays = build_arrays(PhotoPool(root, split_rows), recipe)
    # several runs may build the same cache at once: last writer wins, same bytes
    write_atomic(path, lambda f: np.savez(f, **arrays), binary=True)
    return arrays


@DATASETS.register("quality_bench")
def _quality_bench(split: str, root: Path, seed: int = 0, variants: int = 4) -> QualityArrays:
    return QualityArrays(real_arrays(root, split, seed, variants))


@PREPARERS.register("quality_bench")
def prepare_quality_bench(root: Path, seed: int = 0, fashion: int = 420, ccp: int = 140) -> dict:
    """Choose and split the source photos, build every split once, write split + counts + sample list."""
    fashion_dir = require_dir(root / "fashion_products" / "images", "fashion_products/images", HINT)
    ccp_dir = require_dir(root / "ccp" / "images", "ccp/images", HINT)
    rng = np.random.default_rng(seed)
    chosen: list[dict] = []
    for name, folder, count in (("fashion_products", fashion_dir, fashion), ("ccp", ccp_dir, ccp)):
        files = sorted(p.name for p in folder.glob("*.jpg"))
        if len(files) < count:
            raise DataError(f"{folder} has {len(files)} photos, {count} requested")
        picked = sorted(rng.choice(len(files), count, replace=False).tolist())
        chosen += [{"dataset": name, "path": f"images/{files[i]}"} for i in picked]
    labels = [0 if r["dataset"] == "fashion_products" else 1 for r in chosen]
    for r, split in zip(chosen, stratified_split(labels, seed, val=0.15, test=0.25)):
        r["split"] = split
    write_split_file(SPLIT_FILE, chosen, header=["dataset", "path", "split"])
    real_arrays.cache_clear()
    counts: dict[str, Any] = {"total": 0, "recipe": {"seed": seed, "variants": 4, "size_hw": list(SIZE),
                                                     "target": "SSIM vs pristine (torchmetrics defaults)"}}
    sample_rows = []
    for split in SPLITS:
        a = real_arrays(root, split, seed)
        n_src = Counter(r["dataset"] for r in chosen if r["split"] == split)
        per_defect = {d: int(a["defects"][:, i].sum()) for i, d in enumerate(DEFECTS)}
        severities = Counter(int(s) for s in a["severity"].ravel() if s > 0)
        counts[split] = {"images": len(a["label"]), "photos": dict(n_src), "accept": int((a["label"] == 0).sum()),
                         "reject": int(a["label"].sum()), "per_defect": per_defect,
                         "per_severity": {str(k): severities[k] for k in sorted(severities)},
                         "score_mean": round(float(a["score"].mean()), 4),
                         "score_mean_reject": round(float(a["score"][a["label"] == 1].mean()), 4)}
        counts["total"] += len(a["label"])
        sample_rows += [[i, split, int(lab), plan, f"{s:.4f}"]
                        for i, lab, plan, s in zip(a["id"], a["label"], a["plan"], a["score"])]
    write_split_file(SPLIT_FILE.with_suffix(".counts.json"), counts)
    write_split_file(SPLIT_FILE.with_suffix(".samples.csv"), sample_rows,
                     header=["id", "split", "reject", "defects", "ssim"])
    return {s: counts[s] for s in SPLITS} | {"total": counts["total"]}


# ------------------------------------------------------------------------------------------ own photos
class QualityFolder(Dataset):
    """A user's photos sorted into ``accept/`` and ``reject/`` (optionally ``reject/<defect>/``), shrunk to
    the working size with area interpolation as the benchmark and the audit do. ``defects`` is multi-hot
    where the folder names the defect, NaN (unknown, left out of the loss and the defect metrics) for a
    photo directly in ``reject/``; ``score`` is NaN: no reference quality exists for a user's photo."""

    classes = ["accept", "reject"]

    def __init__(self, root: Path, photos: list, size: tuple[int, int], defect_names: list[str]) -> None:
        self.root, self.photos, self.size, self.defect_names = root, photos, size, defect_names
        self.defects = [self._defects(p.path, p.label) for p in photos]

    def _defects(self, path: Path, label: int) -> np.ndarray:
        known = np.zeros(len(self.defect_names), np.float32)
        if label == 0:
            return known
        below = path.parent.relative_to(self.root).parts
        below = below[below.index("reject") + 1:] if "reject" in below else ()
        if not below:
            return np.full(len(self.defect_names), np.nan, np.float32)
        if below[0] not in self.defect_names:
            raise DataError(f"{path.parent}: reject/{below[0]}/ is not a defect this model knows "
                            f"({', '.join(self.defect_names)}); rename the folder or put the photos in reject/")
        known[self.defect_names.index(below[0])] = 1.0
        return known

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        photo = self.photos[index]
        return {"image": resize_area(read_image(photo.path), self.size), "label": photo.label,
                "defects": self.defects[index], "score": np.float32("nan"),
                "id": photo.path.relative_to(self.root).as_posix()}


@DATASETS.register("quality_folder")
def _quality_folder(split: str, root: Path, image_size: int | list[int] = SIZE, defects: list[str] | None = None,
                    seed: int = 0, val: float = 0.15, test: float = 0.15, split_file: str | None = None,
                    test_only: bool = False) -> QualityFolder:
    """``root/accept/``, ``root/reject/[<defect>/]`` (or the same under ``train/``, ``val/``, ``test/``); the
    split as in :mod:`shared.datasets.image_folder`."""
    from shared.datasets.image_folder import split_photos

    photos, _ = split_photos(split, root, QualityFolder.classes, seed, val, test, split_file, test_only)
    size = (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
    return QualityFolder(Path(root), photos, size, list(defects or DEFECTS))
