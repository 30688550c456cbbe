"""Weak labels: title parsing rules and KNN propagation on hand-made embeddings."""

import numpy as np
import pytest

from projects.multimodal_tagging.weak.knn import propagate
from projects.multimodal_tagging.weak.labels import WeakTable, build_targets
from projects.multimodal_tagging.weak.title import TitleParser
from shared.errors import ConfigError

TAGS = ["gender:Men", "gender:Women", "usage:Sports", "usage:Casual", "colour:Blue", "colour:Navy Blue",
        "colour:Red", "colour:Grey", "season:Summer"]
KEYWORDS = {"gender:Men": ["mens"], "usage:Sports": ["running"], "colour:Navy Blue": ["navy"]}


@pytest.fixture
def parser():
    return TitleParser(TAGS, KEYWORDS, exclusive=["gender", "usage", "colour", "season"])


def _on(parser, title):
    t, m = parser.parse([title])
    return {n for n, a, b in zip(TAGS, t[0], m[0]) if b and a}, {n for n, b in zip(TAGS, m[0]) if b}


def test_title_keywords_and_exclusive_groups(parser):
    on, known = _on(parser, "Nike Men Blue Running Shoes")
    assert on == {"gender:Men", "colour:Blue", "usage:Sports"}
    assert {"gender:Women", "usage:Casual", "colour:Red"} <= known and "season:Summer" not in known


def test_women_is_not_men_and_navy_blue_is_not_blue(parser):
    on, known = _on(parser, "Tantra Women's Navy Blue T-shirt")
    assert on == {"gender:Women", "colour:Navy Blue"} and "colour:Blue" in known  # known negative


def test_ambiguous_colours_stay_unknown(parser):
    on, known = _on(parser, "Basics Men Red & Grey Polo T-shirt")
    assert "colour:Red" not in known and "colour:Grey" not in known and "colour:Blue" in known
    assert on == {"gender:Men"}


def test_empty_title_gives_no_labels(parser):
    targets, mask = parser.parse(["", None])
    assert targets.sum() == 0 and mask.sum() == 0


def test_unknown_keyword_tag_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown tag"):
        TitleParser(TAGS, {"gender:Robot": ["bot"]})


def test_knn_votes_are_similarity_weighted_and_filtered():
    reference = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    queries = np.array([[1.0, 0.05], [0.05, 1.0], [1.0, 1.0]])
    out = propagate(reference, labels, queries, k=2, threshold=0.8)
    np.testing.assert_array_equal(out.targets[:2], [[1, 0], [0, 1]])
    np.testing.assert_array_equal(out.mask[:2], [[1, 1], [1, 1]])
    assert out.mask[2].sum() == 0  # the diagonal point: neighbours disagree -> dropped (noise filter)
    # scores are convex combinations of neighbour labels
    assert np.all((out.scores >= 0) & (out.scores <= 1))
    out = propagate(reference, labels, queries, k=50, threshold=0.8)  # k larger than the reference set
    assert out.scores.shape == (3, 2)


def test_targets_priority_precise_then_title_then_knn():
    tags = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    table = WeakTable(tags=tags, precise=np.array([True, False, False]),
                      title_targets=np.array([[0, 0], [0, 0], [0, 1]], dtype=np.float32),
                      title_mask=np.array([[0, 0], [0, 0], [0, 1]], dtype=np.float32),
                      initial_embedding=np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0]]))
    targets, weights, stats = build_targets(table, table.initial_embedding, 0.3, k=1, threshold=0.8)
    np.testing.assert_array_equal(weights[0], [1, 1])                  # precise
    np.testing.assert_array_equal(targets[1], [1, 0])                  # KNN from the precise neighbour
    np.testing.assert_allclose(weights[1], [0.3, 0.3])
    assert targets[2, 1] == 1 and weights[2, 1] == pytest.approx(0.3)  # title label kept
    targets, weights, _ = build_targets(table, table.initial_embedding, 0.3, k=1, threshold=0.8, use_knn=False)
    assert weights[1].sum() == 0 and stats["weak/accuracy"] == 1.0
