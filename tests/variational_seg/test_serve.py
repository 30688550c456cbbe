"""The page's server without a browser: every bad input gets a JSON error the page shows and the
server keeps answering; a good photo + click gives an overlay, a cut-out with a transparent
background and a 0/255 mask at full resolution; it binds to 127.0.0.1 only."""

import asyncio
import io

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from projects.variational_seg.methods import model_config
from projects.variational_seg.serve import App, InputError, Limits, decode_upload, make_segmenter, start

MODEL = model_config("wbh_colour")   # the shipped model, its solver values from its config


def photo_bytes(fmt: str = "PNG") -> tuple[bytes, np.ndarray]:
    """A 90x120 photo: an orange rectangle (the product) on a blue-grey background."""
    rng = np.random.default_rng(0)
    target = np.zeros((90, 120), dtype=bool)
    target[20:70, 30:90] = True
    image = np.where(target[..., None], [230, 140, 40], [60, 80, 110]).astype(float)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    return buf.getvalue(), target


def app() -> App:
    return App(make_segmenter(MODEL, {}, max_side=160, radius=5), Limits(max_pixels=16_000_000))


async def upload(client: TestClient, data: bytes, name: str):
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("photo", data, filename=name, content_type="application/octet-stream")
    resp = await client.post("/api/image", data=form)
    return resp.status, await resp.json()


def run(coro_fn):
    async def main():
        async with TestClient(TestServer(app().routes())) as client:
            return await coro_fn(client)
    return asyncio.run(main())


def test_bad_inputs_get_clear_messages_and_the_server_keeps_serving():
    async def scenario(client):
        page = await client.get("/")
        assert page.status == 200 and 'id="canvas"' in await page.text()
        status, body = await upload(client, b"this is a text file, not a photo", "notes.txt")
        assert status == 400 and "notes.txt is not an image" in body["error"]
        big = io.BytesIO()
        Image.new("1", (6000, 4000)).save(big, format="PNG")
        status, body = await upload(client, big.getvalue(), "huge.png")
        assert status == 400 and "6000x4000" in body["error"] and "24.0 megapixels" in body["error"]
        good, _ = photo_bytes()
        status, body = await upload(client, good, "product.png")   # still serving after two refusals
        assert status == 200 and (body["width"], body["height"]) == (120, 90)
        token = body["token"]
        resp = await client.post("/api/segment", json={"token": token, "fg": [], "bg": [[2, 2]]})
        assert resp.status == 400 and "no foreground click" in (await resp.json())["error"]
        resp = await client.post("/api/segment", json={"token": token, "fg": [[500, 40]]})
        assert resp.status == 400 and "(500, 40) is off the photo (120x90" in (await resp.json())["error"]
        resp = await client.post("/api/segment", json={"token": token, "fg": [[60, 45]], "order": ["fg", "up"]})
        assert resp.status == 400 and '"order" must be' in (await resp.json())["error"]
        resp = await client.post("/api/segment", json={"token": token, "fg": [[60, 45]], "order": ["fg", "bg"]})
        assert resp.status == 400 and "click order names 1 foreground and 1 background" in (await resp.json())["error"]
        resp = await client.post("/api/segment", json={"token": "nope", "fg": [[50, 40]]})
        assert resp.status == 400 and "no longer on the server" in (await resp.json())["error"]
        resp = await client.get(f"/api/cutout/{token}.png")
        assert resp.status == 400 and "no mask yet" in (await resp.json())["error"]
        resp = await client.post("/api/segment", data=b"{not json", headers={"Content-Type": "application/json"})
        assert resp.status == 400 and "not JSON" in (await resp.json())["error"]
        resp = await client.post("/api/segment", json={"token": token, "fg": [[60, 45]]})
        assert resp.status == 200 and 0.15 < (await resp.json())["fraction"] < 0.45
    run(scenario)


def test_click_gives_overlay_cutout_and_mask_at_full_resolution():
    async def scenario(client):
        data, target = photo_bytes("JPEG")
        _, body = await upload(client, data, "product.jpg")
        token = body["token"]
        resp = await client.post("/api/segment", json={"token": token, "fg": [[60, 45]], "bg": [[5, 80]]})
        seg = await resp.json()
        overlay = np.asarray(Image.open(io.BytesIO(__import__("base64").b64decode(seg["overlay"].split(",")[1]))))
        assert overlay.shape[2] == 4 and overlay[45, 60, 3] > 0 and overlay[5, 5, 3] == 0
        resp = await client.get(f"/api/cutout/{token}.png")
        assert resp.headers["Content-Disposition"] == 'attachment; filename="product_cutout.png"'
        cut = Image.open(io.BytesIO(await resp.read()))
        assert cut.mode == "RGBA" and cut.size == (120, 90)
        alpha = np.asarray(cut)[..., 3]
        dice = 2 * ((alpha == 255) & target).sum() / ((alpha == 255).sum() + target.sum())
        assert dice > 0.95 and set(np.unique(alpha)) <= {0, 255}
        mask = np.asarray(Image.open(io.BytesIO(await (await client.get(f"/api/mask/{token}.png")).read())))
        assert mask.shape == (90, 120) and ((mask == 255) == (alpha == 255)).all()
    run(scenario)


def test_server_binds_to_localhost_only():
    async def main():
        runner, port = await start(app(), 0)
        try:
            assert runner.addresses[0][0] == "127.0.0.1" and port > 0
        finally:
            await runner.cleanup()
    asyncio.run(main())


def test_upload_size_is_read_from_the_header_as_shown():
    """The shared reader's header-only size (shared.datasets.io.image_size): an EXIF "rotate 90" photo
    stored 60x20 is 20x60 as shown, and the page's min-side / megapixel checks use that size."""
    from shared.datasets.io import image_size

    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", (60, 20)).save(buf, format="JPEG", exif=exif.tobytes())
    assert image_size(buf.getvalue()) == (20, 60)
    with pytest.raises(InputError, match="20x60 pixels"):
        decode_upload(buf.getvalue(), "turned.jpg", Limits(max_pixels=1000))


def test_upload_runs_the_models_per_photo_work_before_the_first_click():
    """A model with per-photo work (the extent net's encoder: ``prepare_photo``) gets the photo on upload, in the
    solver's thread, so the page's first click costs what a later one does."""
    seen: list[tuple[int, ...]] = []
    segmenter = make_segmenter(MODEL, {}, max_side=160, radius=5)

    def segment(image, clicks, previous):
        return segmenter(image, clicks, previous)
    segment.prepare_photo = lambda image: seen.append(image.shape)

    async def main():
        async with TestClient(TestServer(App(segment, Limits()).routes())) as client:
            _, body = await upload(client, photo_bytes("PNG")[0], "p.png")
            assert seen == [(90, 120, 3)]          # on upload, before any click
            resp = await client.post("/api/segment", json={"token": body["token"], "fg": [[60, 45]]})
            assert resp.status == 200 and seen == [(90, 120, 3)]
    asyncio.run(main())

