"""The committed splits match the real datasets (skipped when ../shared/data is absent)."""

import json

import pytest

from shared.datasets.registry import create_dataset
from shared.paths import SPLITS_ROOT


@pytest.mark.realdata
@pytest.mark.parametrize("name,num_classes", [("fashion_top15", 15), ("clothing_small", 10)])
def test_split_counts_and_first_image(shared_data, name, num_classes):
    counts = json.loads((SPLITS_ROOT / f"{name}.counts.json").read_text())
    for split in ("train", "val", "test"):
        ds = create_dataset(name, split, root=shared_data)
        assert len(ds) == counts[split]["images"] and len(ds.classes) == num_classes
        sample = ds[0]
        assert sample["image"].ndim == 3 and 0 <= sample["label"] < num_classes
    assert counts["total"] == sum(counts[s]["images"] for s in ("train", "val", "test"))


@pytest.mark.realdata
def test_fashion_split_is_stratified_and_disjoint(shared_data):
    ids = {s: {it[0].name for it in create_dataset("fashion_top15", s, root=shared_data).items}
           for s in ("train", "val", "test")}
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["val"]) and not (ids["val"] & ids["test"])
    counts = json.loads((SPLITS_ROOT / "fashion_top15.counts.json").read_text())
    for cls, n_test in counts["test"]["per_class"].items():
        assert n_test >= 6, f"{cls} has too few test images"
