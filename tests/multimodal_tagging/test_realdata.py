"""The committed fashion_tags split matches the real data (skipped when ../shared/data is absent)."""

import json

import numpy as np
import pytest

from projects.multimodal_tagging.datasets import TAGS
from shared.datasets.registry import create_dataset
from shared.paths import SPLITS_ROOT


@pytest.mark.realdata
def test_split_counts_tags_and_first_image(shared_data):
    counts = json.loads((SPLITS_ROOT / "fashion_tags.counts.json").read_text())
    ids = {}
    for split in ("train", "val", "test"):
        ds = create_dataset("fashion_tags", split, root=shared_data)
        assert len(ds) == counts[split]["images"]
        tags = np.stack([r["tags"] for r in ds.records])
        assert tags.sum(0).tolist() == [counts[split]["per_tag"][t] for t in TAGS]
        ids[split] = {r["id"] for r in ds.records}
        sample = ds[0]
        assert sample["image"].ndim == 3 and isinstance(sample["title"], str) and sample["tags"].shape == (len(TAGS),)
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["val"]) and not (ids["val"] & ids["test"])
    assert counts["total"] == 2946


@pytest.mark.realdata
def test_title_weak_labels_are_mostly_right_on_real_titles(shared_data):
    from projects.multimodal_tagging.weak.title import TitleParser
    from shared.config import compose

    cfg = compose("multimodal_tagging", ["data=fashion_tags"])
    ds = create_dataset("fashion_tags", "train", root=shared_data)
    parser = TitleParser(TAGS, dict(cfg.data.title.keywords), list(cfg.data.title.exclusive))
    targets, mask = parser.parse([r["title"] for r in ds.records])
    truth = np.stack([r["tags"] for r in ds.records])
    accuracy = ((targets == truth) & (mask == 1)).sum() / mask.sum()
    assert mask.mean() > 0.3 and accuracy > 0.9
