"""The constructed benchmark on the real photos (skipped when ../shared/data is absent)."""

import csv
import json

import numpy as np
import pytest

from projects.quality.degradations import DEFECTS
from shared.datasets.registry import create_dataset
from shared.paths import SPLITS_ROOT


def _split_rows():
    with (SPLITS_ROOT / "quality_bench.csv").open() as f:
        return list(csv.DictReader(f))


def test_committed_split_keeps_photos_in_one_split_and_counts_add_up():
    rows = _split_rows()
    counts = json.loads((SPLITS_ROOT / "quality_bench.counts.json").read_text())
    photos = {s: {(r["dataset"], r["path"]) for r in rows if r["split"] == s} for s in ("train", "val", "test")}
    assert not (photos["train"] & photos["test"]) and not (photos["val"] & photos["test"])
    assert not (photos["train"] & photos["val"])
    for split, ids in photos.items():
        assert counts[split]["images"] == 4 * len(ids) == counts[split]["accept"] + counts[split]["reject"]
        assert counts[split]["accept"] == len(ids) and set(counts[split]["per_defect"]) == set(DEFECTS)
    assert counts["total"] == sum(counts[s]["images"] for s in ("train", "val", "test")) == 2240
    with (SPLITS_ROOT / "quality_bench.samples.csv").open() as f:
        samples = list(csv.DictReader(f))
    test_sources = {s["id"].split("#")[0] for s in samples if s["split"] == "test"}
    assert not test_sources & {s["id"].split("#")[0] for s in samples if s["split"] != "test"}


@pytest.mark.realdata
def test_test_split_builds_and_matches_the_committed_samples(shared_data):
    ds = create_dataset("quality_bench", "test", root=shared_data)
    counts = json.loads((SPLITS_ROOT / "quality_bench.counts.json").read_text())
    assert len(ds) == counts["test"]["images"]
    with (SPLITS_ROOT / "quality_bench.samples.csv").open() as f:
        committed = {r["id"]: r for r in csv.DictReader(f) if r["split"] == "test"}
    for i in (0, 1, 2, 3, len(ds) - 1):
        s = ds[i]
        assert s["image"].shape == (128, 96, 3) and s["id"] in committed
        assert s["label"] == int(committed[s["id"]]["reject"])
        assert float(committed[s["id"]]["ssim"]) == pytest.approx(float(s["score"]), abs=1e-3)
    assert np.isclose(ds[0]["score"], 1.0) and ds[0]["label"] == 0  # variant 0: the pristine photo
