"""cut_out(image, fg_points, bg_points): the select path in Python, no config; the CLI's mask."""

import numpy as np
import pytest
from PIL import Image

from projects.variational_seg.api import SHIPPED_MODEL, cut_out
from shared.errors import ConfigError
from tests.variational_seg.helpers import scene


def _photo(tmp_path):
    image, _, _ = scene(48, seed=9)
    path = tmp_path / "photo.png"
    Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).convert("RGB").save(path)
    return path


def test_cut_out_gives_the_mask_make_select_writes(run_project, tmp_path):
    photo, out = _photo(tmp_path), tmp_path / "mask.png"
    run_project("variational_seg", [f"model={SHIPPED_MODEL}", "data=grabcut", f"image={photo}", "points='17,20;20,18'",
                                    "bg_points='2,2'", f"output={out}"], task="select")
    result = cut_out(str(photo), [(17, 20), (20, 18)], bg_points=[(2, 2)])
    assert np.array_equal(result["mask"], np.asarray(Image.open(out)) == 255)
    assert result["mask"][20, 17] and not result["mask"][2, 2]
    assert result["cutout"].shape == (48, 48, 4) and result["fraction"] == pytest.approx(result["mask"].mean())
    from_array = cut_out(np.asarray(Image.open(photo)), [(17, 20), (20, 18)], [(2, 2)])
    assert np.array_equal(from_array["mask"], result["mask"])


def test_cut_out_needs_a_click_inside_the_photo(tmp_path):
    photo = _photo(tmp_path)
    with pytest.raises(ConfigError, match="at least one foreground click"):
        cut_out(photo, [])
    with pytest.raises(ConfigError, match="off the photo"):
        cut_out(photo, [(60, 3)])
    with pytest.raises(ConfigError, match="cannot read fg_points point"):
        cut_out(photo, [(1, 2, 3)])
