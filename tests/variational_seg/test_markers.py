"""Spec 13.8: the simulated markers are deterministic and sit well inside the object."""

import numpy as np
import pytest

from projects.variational_seg.markers import interior_distance, parse_points, scale_points, simulate_markers
from shared.errors import ConfigError
from tests.variational_seg.helpers import disk


def _object() -> np.ndarray:
    g = disk(60, 80, 30, 22, 14)
    g[10:50, 45:75] = True  # a second part, joined to nothing
    return g


def test_first_marker_is_the_edt_argmax_and_all_are_inside():
    g = _object()
    pts = simulate_markers(g, 5)
    e = interior_distance(g)
    assert tuple(pts[0]) == np.unravel_index(np.argmax(e), e.shape)
    assert len(pts) == 5 and g[pts[:, 0], pts[:, 1]].all()
    assert (e[pts[:, 0], pts[:, 1]] >= 3).all()
    assert np.array_equal(pts, simulate_markers(g, 5))          # deterministic
    assert g[pts[1, 0], pts[1, 1]] and (pts[:, 1] < 40).any() and (pts[:, 1] > 44).any()  # both parts


def test_random_mode_is_reproducible_per_seed():
    g = _object()
    a, b = simulate_markers(g, 4, "random", seed=7, index=2), simulate_markers(g, 4, "random", seed=7, index=2)
    assert np.array_equal(a, b) and g[a[:, 0], a[:, 1]].all()
    assert not np.array_equal(a, simulate_markers(g, 4, "random", seed=8, index=2))


def test_empty_object_gives_no_markers_and_image_border_counts_as_boundary():
    assert simulate_markers(np.zeros((8, 8), bool), 3).shape == (0, 2)
    full = np.ones((9, 9), bool)
    assert tuple(simulate_markers(full, 1)[0]) == (4, 4)


def test_points_parse_and_scale():
    assert parse_points("3,1; 5,2", 10, 8).tolist() == [[1, 3], [2, 5]]
    for bad in ("", None, "3", "a,b"):
        with pytest.raises(ConfigError):
            parse_points(bad, 10, 8)
    with pytest.raises(ConfigError, match="off the photo"):
        parse_points("10,2", 10, 8)
    assert scale_points(np.array([[0, 0], [99, 199]]), (100, 200), (50, 100)).tolist() == [[0, 0], [49, 99]]
