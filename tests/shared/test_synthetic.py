"""The synthetic generator: deterministic, consistent labels/masks/titles/tags, disjoint splits."""

import numpy as np

from shared.datasets.registry import create_dataset
from shared.datasets.synthetic import CATEGORIES, TAGS, SyntheticSpec, make_sample


def test_same_seed_same_sample_different_seed_differs():
    a, b = make_sample(3, 17, SyntheticSpec(image_size=48)), make_sample(3, 17, SyntheticSpec(image_size=48))
    c = make_sample(4, 17, SyntheticSpec(image_size=48))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.title == b.title
    assert not np.array_equal(a.image, c.image)


def test_sample_fields_are_consistent():
    for i in range(40):
        s = make_sample(0, i, SyntheticSpec(image_size=48))
        assert s.image.shape == (48, 48, 3) and s.image.dtype == np.uint8
        assert s.mask.shape == (48, 48)
        assert set(np.unique(s.mask)) <= {0, s.label + 1}
        assert (s.mask > 0).mean() > 0.03, "the product must be visible"
        assert CATEGORIES[s.label] in s.title and s.colour in s.title
        assert s.tags.shape == (len(TAGS),) and s.tags[TAGS.index(f"colour:{s.colour}")] == 1
        assert s.tags[TAGS.index("has_logo")] == float(s.has_logo) and (" with logo" in s.title) == s.has_logo


def test_categories_and_backgrounds_are_all_drawn():
    samples = [make_sample(1, i, SyntheticSpec(image_size=32)) for i in range(200)]
    assert {s.label for s in samples} == set(range(len(CATEGORIES)))
    assert {s.cluttered for s in samples} == {True, False}


def test_splits_do_not_overlap():
    sizes = {"train": 3, "val": 3, "test": 3}
    ids = [create_dataset("synthetic", split, sizes=sizes, image_size=32)[0]["id"] for split in sizes]
    assert len(set(ids)) == 3
