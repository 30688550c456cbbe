"""Photos read as a viewer shows them (issue 17, "Photos read wrong, silently"): high bit depth scaled,
transparency on white, EXIF orientation applied once in the shared reader, which every read goes
through; and the folder predict / audit stream their images (one full-size photo alive at a time)."""

from __future__ import annotations

import re
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import shared.predict
from shared.datasets.io import read_image, read_mask

REPO = Path(__file__).resolve().parents[2]
ORIENTATION = 0x0112


def _photo(h: int = 30, w: int = 40, seed: int = 0) -> np.ndarray:
    """A smooth RGB test photo with strong structure (JPEG keeps it within a few levels)."""
    yy, xx = np.mgrid[:h, :w]
    rng = np.random.default_rng(seed)
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) * 255 / (h + w)], -1)
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


# ---- bit depth and transparency -------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_written_by_opencv_reads_as_its_8_bit_version(tmp_path, suffix):
    grey8 = cv2.cvtColor(_photo(), cv2.COLOR_RGB2GRAY)
    for name, sixteen in (("x257", grey8.astype(np.uint16) * 257), ("shift8", grey8.astype(np.uint16) << 8)):
        path = tmp_path / f"{name}{suffix}"
        assert cv2.imwrite(str(path), sixteen)
        assert Image.open(path).mode == "I;16"  # the mode that Pillow clipped to white before
        image = read_image(path)
        assert image.dtype == np.uint8 and image.shape == (*grey8.shape, 3)
        assert np.abs(image.astype(int) - grey8[..., None]).max() <= 1, name


@pytest.mark.parametrize("name", ["rgb16.png", "rgb16.tif", "rgba16.png"])
def test_16_bit_colour_reads_as_its_8_bit_version(tmp_path, name):
    rgb8 = _photo()
    sixteen = rgb8[..., ::-1].astype(np.uint16) * 257  # OpenCV writes BGR
    if name.startswith("rgba"):
        sixteen = np.dstack([sixteen, np.full(rgb8.shape[:2], 65535, np.uint16)])
    assert cv2.imwrite(str(tmp_path / name), sixteen)
    assert np.abs(read_image(tmp_path / name).astype(int) - rgb8).max() <= 1


def test_float_tiff_in_0_1_is_scaled(tmp_path):
    grey8 = cv2.cvtColor(_photo(), cv2.COLOR_RGB2GRAY)
    Image.fromarray(grey8.astype(np.float32) / 255).save(tmp_path / "f.tif")
    assert np.abs(read_image(tmp_path / "f.tif").astype(int) - grey8[..., None]).max() <= 1


def test_transparent_pixels_are_white_and_opaque_ones_exact(tmp_path):
    rgb = _photo()
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[:, 20:] = 255
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "rgba.png")
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(tmp_path / "la.png")
    palette = Image.fromarray(rgb).quantize(16)
    palette.save(tmp_path / "p.png", transparency=int(np.asarray(palette)[0, 0]))
    rgba, la, p = (read_image(tmp_path / n) for n in ("rgba.png", "la.png", "p.png"))
    assert (rgba[:, :20] == 255).all() and np.array_equal(rgba[:, 20:], rgb[:, 20:])
    assert (la[:, :20] == 255).all() and np.array_equal(la[:, 20:, 0], grey[:, 20:])
    assert p.shape == (30, 40, 3) and (p[0, 0] == 255).all()
    opaque = np.asarray(palette) != np.asarray(palette)[0, 0]
    assert np.array_equal(p[opaque], np.asarray(palette.convert("RGB"))[opaque])


# ---- EXIF orientation ------------------------------------------------------------------------------------

def _save_oriented_jpeg(path: Path, stored: np.ndarray, orientation: int) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(stored).save(path, quality=95, subsampling=0, exif=exif)


# displayed = what a viewer shows for each EXIF orientation, from the stored pixels
SHOWN = {3: lambda a: np.rot90(a, 2), 6: lambda a: np.rot90(a, -1), 8: lambda a: np.rot90(a, 1),
         2: lambda a: a[:, ::-1]}


@pytest.mark.parametrize("orientation", sorted(SHOWN))
def test_exif_orientation_is_applied_on_read(tmp_path, orientation):
    stored = np.full((32, 48, 3), 40, np.uint8)
    stored[:16, :16] = (250, 20, 20)  # a red block at the stored top-left corner (on JPEG's 8x8 grid)
    _save_oriented_jpeg(tmp_path / "phone.jpg", stored, orientation)
    image = read_image(tmp_path / "phone.jpg")
    shown = SHOWN[orientation](stored)
    assert image.shape == shown.shape
    assert np.abs(image.astype(int) - shown.astype(int)).max() < 40  # JPEG tolerance; a wrong turn is 210
    if orientation == 6:  # turned 90 degrees clockwise: the block is now at the top-right
        assert image.shape[:2] == (48, 32)
        assert image[2, 29, 0] > 200 and image[2, 2, 0] < 80


def test_mask_with_orientation_tag_is_read_in_the_same_frame(tmp_path):
    labels = np.zeros((30, 40), np.uint8)
    labels[:10, :10] = 1
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    Image.fromarray(labels).save(tmp_path / "m.png", exif=exif)
    mask = read_mask(tmp_path / "m.png", num_classes=2)
    assert mask.shape == (40, 30) and mask[2, 27] == 1 and mask[2, 2] == 0


def test_orientation_is_applied_once(tmp_path):
    """Reading the upright image back (as predict / select do with their own outputs) turns nothing twice."""
    stored = np.zeros((30, 40, 3), np.uint8)
    stored[:10, :10] = 255
    _save_oriented_jpeg(tmp_path / "phone.jpg", stored, 6)
    upright = read_image(tmp_path / "phone.jpg")
    Image.fromarray(upright).save(tmp_path / "copy.png")
    assert np.array_equal(read_image(tmp_path / "copy.png"), upright)


# Files allowed to open images themselves, and why.
OWN_READERS = {
    "shared/datasets/io.py": "the shared reader",
    "shared/datasets/ccp.py": "mask checks from the headers only (sizes with the EXIF turn, label histograms)",
    "shared/datasets/mask_folder.py": "the same mask checks for a user's images/ masks/ folder",
}


def test_every_image_read_goes_through_the_shared_reader():
    """No other project or shared module decodes image files itself (it would skip orientation and bit depth)."""
    pattern = re.compile(r"cv2\.imread|Image\.open|imageio\.|iio\.imread|skimage\.io|plt\.imread|tifffile\.")
    offenders = [f"{path.relative_to(REPO)}:{n}" for folder in ("projects", "shared")
                 for path in sorted((REPO / folder).rglob("*.py"))
                 if path.relative_to(REPO).as_posix() not in OWN_READERS
                 for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def _scene(h: int, w: int) -> np.ndarray:
    """A light photo with a dark product disk at (row 14, col 12), radius 8."""
    yy, xx = np.mgrid[:h, :w]
    image = np.full((h, w, 3), 210, np.uint8)
    image[(yy - 14) ** 2 + (xx - 12) ** 2 <= 64] = 60
    return image


def test_select_clicks_land_on_the_photo_as_the_user_sees_it(run_project, tmp_path):
    shown = _scene(48, 36)                     # what the user sees (portrait) and clicks on
    stored = np.rot90(shown, 1).copy()         # the sensor's frame: a viewer turns it 90 degrees clockwise
    _save_oriented_jpeg(tmp_path / "phone.jpg", stored, 6)
    out = tmp_path / "mask.png"
    run_project("variational_seg", [f"image={tmp_path / 'phone.jpg'}", "points='12,14;10,16'", f"output={out}"],
                task="select")
    mask = np.asarray(Image.open(out)) > 0
    disk = shown[..., 0] < 128
    assert mask.shape == (48, 36)
    assert 2 * (mask & disk).sum() / (mask.sum() + disk.sum()) > 0.8  # the clicked product, upright


def test_select_on_a_16_bit_png_finds_the_product_of_its_8_bit_version(run_project, tmp_path):
    """Before: the 16-bit photo read as all white and the mask was empty (0.0% of the image)."""
    grey = _scene(40, 40)[..., 0]
    Image.fromarray(grey).save(tmp_path / "p8.png")
    cv2.imwrite(str(tmp_path / "p16.png"), grey.astype(np.uint16) * 257)
    masks = []
    for name in ("p8", "p16"):
        run_project("variational_seg", [f"image={tmp_path / name}.png", "points='12,14'",
                                        f"output={tmp_path / name}_mask.png"], task="select")
        masks.append(np.asarray(Image.open(tmp_path / f"{name}_mask.png")) > 0)
    assert masks[1].sum() > 100 and np.array_equal(masks[0], masks[1])


def test_audit_sizes_and_scores_use_the_upright_full_range_photo(run_project, tmp_path):
    """A 16-bit PNG and an EXIF-rotated JPEG of the same photo score like the plain 8-bit one."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = _photo(60, 80, seed=3)
    Image.fromarray(photo).save(folder / "plain.png")
    cv2.imwrite(str(folder / "deep.png"), photo[..., ::-1].astype(np.uint16) * 257)
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    Image.fromarray(grey).save(folder / "grey8.png")
    cv2.imwrite(str(folder / "grey16.png"), grey.astype(np.uint16) * 257)
    _save_oriented_jpeg(folder / "turned.jpg", np.rot90(photo, 1).copy(), 6)
    out = tmp_path / "audit"
    run_project("quality", ["model=classical", f"input={folder}", f"output={out}"], task="audit")
    import csv

    rows = {r["file"]: r for r in csv.DictReader((out / "audit.csv").open())}
    assert (rows["turned.jpg"]["width"], rows["turned.jpg"]["height"]) == ("80", "60")
    assert float(rows["deep.png"]["score"]) == pytest.approx(float(rows["plain.png"]["score"]), abs=0.02)
    assert float(rows["grey16.png"]["score"]) == pytest.approx(float(rows["grey8.png"]["score"]), abs=0.02)
    assert rows["grey16.png"]["accept"] == rows["grey8.png"]["accept"]


# ---- streaming -------------------------------------------------------------------------------------------

class LiveDecodes:
    """A reader that counts how many decoded full-size images are still referenced when the next file
    is decoded (NumPy arrays are weak-referenceable; reference counting frees them at once)."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref] = []
        self.max_alive = 0
        self.calls = 0

    def __call__(self, path) -> np.ndarray:
        alive = sum(r() is not None for r in self.refs)
        self.max_alive = max(self.max_alive, alive + 1)
        self.calls += 1
        image = read_image(path)
        self.refs.append(weakref.ref(image))
        return image


def _jpeg_folder(folder: Path, count: int, size: tuple[int, int] = (90, 120)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(_photo(*size, seed=i)).save(folder / f"p{i:02d}.jpg", quality=90)
    (folder / "broken.jpg").write_bytes(b"not an image")
    return folder


def test_stream_images_holds_one_decoded_image_at_a_time(tmp_path, monkeypatch):
    reader = LiveDecodes()
    monkeypatch.setattr(shared.predict, "read_image", reader)
    files = sorted(_jpeg_folder(tmp_path / "in", 9).iterdir())
    items = list(shared.predict.stream_images(files, lambda _, image: image.shape))
    assert reader.calls == 10 and reader.max_alive == 1
    assert [i.value for i in items if not i.error] == [(90, 120, 3)] * 9
    assert [i.path.name for i in items if i.error] == ["broken.jpg"]
    assert [len(b) for b in shared.predict.batches(iter(items), 4)] == [4, 4, 2]


def test_audit_streams_the_folder(run_project, tmp_path, monkeypatch):
    """Old audit: a batch of full-size photos alive (up to 32); now one, whatever the batch size."""
    reader = LiveDecodes()
    monkeypatch.setattr(shared.predict, "read_image", reader)
    folder = _jpeg_folder(tmp_path / "in", 10)
    out = tmp_path / "audit"
    run_project("quality", ["model=classical", f"input={folder}", f"output={out}", "audit.batch_size=4",
                            "audit.progress=false"], task="audit")
    assert reader.calls == 11 and reader.max_alive == 1
    assert len((out / "audit.csv").read_text().splitlines()) == 12
