"""``make serve PROJECT=variational_seg``: a local page to cut a product out of a photo by clicking.

Open a photo, left-click the product (foreground) and right-click what is not (background); after each
click the page asks for a new mask, solved at the working size, and shows it as a green overlay;
"Download cut-out" gives the photo at full resolution as a PNG with a transparent background,
"Download mask" the 0/255 mask. The server is aiohttp (already in the environment through wandb, now
pinned in requirements.txt; asyncio, multipart uploads and JSON in one small maintained library, no
template engine or WSGI bridge needed): it binds to 127.0.0.1 only, keeps the last few photos in
memory, runs the solver in one worker thread so the page stays responsive, and answers every bad
input (not an image, too large, no foreground click, a point off the photo, an unknown photo) with a
JSON ``error`` that the page shows, without stopping.

``make serve`` uses the shipped model (``model=wbh_colour``) at the GrabCut-tuned working size
(``data=grabcut``: long side 160) unless ``model=`` / ``data=`` say otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from omegaconf import DictConfig
from PIL import Image

from projects.variational_seg.methods import segmenter_for
from projects.variational_seg.params import marker_radius
from projects.variational_seg.pipeline import set_threads, working_size
from shared.config import plain_dict
from shared.datasets.io import image_size, read_image_bytes
from shared.errors import ConfigError, DataError

HOST = "127.0.0.1"  # never reachable from other machines
STATIC = Path(__file__).parent / "static"
PREVIEW_SIDE = 800  # long side of the photo the page shows (clicks are mapped back to full resolution)


class InputError(Exception):
    """Bad input from the page: shown to the user, the server keeps serving."""


@dataclass
class Photo:
    image: np.ndarray
    name: str
    mask: np.ndarray | None = None
    points: dict[str, list] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 16_000_000
    max_bytes: int = 40 * 1024 * 1024
    min_side: int = 8
    keep: int = 8


Segmenter = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def make_segmenter(model: Any, data: Any, max_side: int, radius: int) -> Segmenter:
    """(photo, fg (n, 2) row/col, bg (m, 2)) -> foreground probability at full resolution, for the
    configured model (``methods.segmenter_for``: the paper's grey models ignore background points)."""
    run_model = segmenter_for(plain_dict(model), plain_dict(data), max_side, radius)

    def segment_one(image: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
        return run_model([image], [fg], [bg])[0].prob
    return segment_one


def decode_upload(data: bytes, name: str, limits: Limits) -> np.ndarray:
    """Upload bytes -> upright RGB uint8, or InputError saying what is wrong (checked on the header
    before decoding, so a huge photo is refused without decoding it)."""
    if not data:
        raise InputError("the upload is empty: choose a photo (JPEG or PNG)")
    unreadable = f"{name} is not an image this page can read; upload a JPEG or PNG photo"
    try:
        w, h = image_size(data)
    except DataError:
        raise InputError(unreadable) from None
    if w * h > limits.max_pixels:
        raise InputError(f"{name} is {w}x{h} pixels ({w * h / 1e6:.1f} megapixels); this page takes up to "
                         f"{limits.max_pixels / 1e6:.0f} megapixels: downscale it first (e.g. to 4000 px on "
                         "the long side)")
    if min(w, h) < limits.min_side:
        raise InputError(f"{name} is {w}x{h} pixels; the page needs at least {limits.min_side} pixels per side")
    try:
        return read_image_bytes(data, name)
    except DataError:
        raise InputError(unreadable) from None


def parse_points(raw: Any, width: int, height: int, what: str) -> np.ndarray:
    """[[x, y], ...] in photo pixels (column, row) -> (n, 2) int (row, col); InputError for a point
    that is not two numbers or lies off the photo."""
    if raw is None:
        return np.zeros((0, 2), dtype=np.int64)
    if not isinstance(raw, list):
        raise InputError(f"{what} points must be a list of [x, y] pairs")
    out = []
    for p in raw:
        if (not isinstance(p, list | tuple) or len(p) != 2
                or not all(isinstance(v, int | float) and np.isfinite(v) for v in p)):
            raise InputError(f"cannot read {what} point {p!r}: expected [x, y] numbers")
        x, y = float(p[0]), float(p[1])
        if not (0 <= x < width and 0 <= y < height):
            raise InputError(f"{what} point ({x:g}, {y:g}) is off the photo ({width}x{height}, width x height)")
        out.append((int(y), int(x)))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def png_bytes(array: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def overlay_png(mask: np.ndarray) -> bytes:
    """Preview-size RGBA: green where the mask is, alpha 150 (the page draws it over the photo)."""
    h, w = mask.shape
    size = working_size(h, w, PREVIEW_SIDE)
    if size != (h, w):
        mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size[::-1], Image.BILINEAR)) > 127
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    rgba[mask] = (30, 220, 60, 150)
    return png_bytes(rgba, "RGBA")


def preview_png(image: np.ndarray) -> tuple[bytes, tuple[int, int]]:
    h, w = image.shape[:2]
    size = working_size(h, w, PREVIEW_SIDE)
    small = Image.fromarray(image).resize(size[::-1], Image.BILINEAR) if size != (h, w) else Image.fromarray(image)
    return png_bytes(np.asarray(small), "RGB"), size


class App:
    """The page's state (the last ``limits.keep`` photos, by token) and its handlers."""

    def __init__(self, segmenter: Segmenter, limits: Limits | None = None, max_side: int = 160) -> None:
        self.segmenter, self.limits, self.max_side = segmenter, limits or Limits(), max_side
        self.photos: OrderedDict[str, Photo] = OrderedDict()
        self.executor = ThreadPoolExecutor(max_workers=1)

    def routes(self) -> web.Application:
        app = web.Application(client_max_size=self.limits.max_bytes, middlewares=[self.errors])
        app.add_routes([web.get("/", self.index), web.post("/api/image", self.upload),
                        web.post("/api/segment", self.segment), web.get("/api/cutout/{token}.png", self.cutout),
                        web.get("/api/mask/{token}.png", self.mask), web.static("/static", STATIC)])
        return app

    @web.middleware
    async def errors(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """Every failure of an /api call becomes JSON {"error": message} (400 for bad input)."""
        try:
            return await handler(request)
        except InputError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": f"the upload is larger than {self.limits.max_bytes // 2 ** 20} MB: "
                                               "downscale the photo first"}, status=413)
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - the page shows it; the server keeps serving
            return web.json_response({"error": f"internal error: {type(exc).__name__}: {exc}"}, status=500)

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def upload(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            raise InputError("upload the photo as a multipart form field named 'photo'")
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and getattr(part, "name", None) != "photo":
            part = await reader.next()
        if part is None:
            raise InputError("no photo in the upload (form field 'photo')")
        name = part.filename or "the upload"
        data = await part.read()
        loop = asyncio.get_running_loop()
        image = await loop.run_in_executor(self.executor, decode_upload, bytes(data), name, self.limits)
        preview, size = await loop.run_in_executor(self.executor, preview_png, image)
        token = uuid.uuid4().hex
        self.photos[token] = Photo(image, name)
        while len(self.photos) > self.limits.keep:
            self.photos.popitem(last=False)
        h, w = image.shape[:2]
        return web.json_response({"token": token, "width": w, "height": h, "name": name,
                                  "preview": data_url(preview), "preview_size": [size[1], size[0]]})

    def working_size(self, h: int, w: int) -> list[int]:
        wh, ww = working_size(h, w, self.max_side)
        return [ww, wh]

    def photo(self, token: str) -> Photo:
        if token not in self.photos:
            raise InputError("this photo is no longer on the server (it keeps the last few): open it again")
        return self.photos[token]

    async def segment(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError("the request is not JSON") from None
        if not isinstance(body, dict):
            raise InputError("the request must be a JSON object")
        photo = self.photo(str(body.get("token")))
        h, w = photo.image.shape[:2]
        fg = parse_points(body.get("fg"), w, h, "foreground")
        bg = parse_points(body.get("bg"), w, h, "background")
        if len(fg) == 0:
            raise InputError("no foreground click yet: left-click on the product (right-click marks background)")
        start = time.perf_counter()
        prob = await asyncio.get_running_loop().run_in_executor(self.executor, self.segmenter, photo.image, fg, bg)
        seconds = time.perf_counter() - start
        photo.mask = prob > 0.5
        return web.json_response({"overlay": data_url(overlay_png(photo.mask)), "fraction": float(photo.mask.mean()),
                                  "seconds": round(seconds, 3), "working_size": self.working_size(h, w)})

    def _result(self, token: str) -> Photo:
        photo = self.photo(token)
        if photo.mask is None:
            raise InputError("no mask yet: click on the product first")
        return photo

    async def cutout(self, request: web.Request) -> web.Response:
        photo = self._result(request.match_info["token"])
        alpha = np.where(photo.mask, 255, 0).astype(np.uint8)
        png = png_bytes(np.dstack([photo.image, alpha]), "RGBA")
        return web.Response(body=png, content_type="image/png", headers=_attachment(photo.name, "cutout"))

    async def mask(self, request: web.Request) -> web.Response:
        photo = self._result(request.match_info["token"])
        png = png_bytes(np.where(photo.mask, 255, 0).astype(np.uint8), "L")
        return web.Response(body=png, content_type="image/png", headers=_attachment(photo.name, "mask"))


def _attachment(name: str, kind: str) -> dict[str, str]:
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(name).stem)[:60] or "photo"
    return {"Content-Disposition": f'attachment; filename="{stem}_{kind}.png"'}


def build_app(cfg: DictConfig) -> App:
    if cfg.model.kind != "variational":
        raise ConfigError("serve uses a variational model (wbh_colour, wbh, ...), not the U-Net")
    radius = marker_radius(cfg.model, int(cfg.markers.radius))
    segmenter = make_segmenter(cfg.model, cfg.data, int(cfg.working.max_side), radius)
    limits = Limits(max_pixels=int(cfg.serve.max_pixels), max_bytes=int(cfg.serve.max_megabytes) * 2 ** 20)
    return App(segmenter, limits, int(cfg.working.max_side))


async def start(app: App, port: int) -> tuple[web.AppRunner, int]:
    """Start serving on 127.0.0.1:``port`` (0: any free port); returns the runner and the port."""
    runner = web.AppRunner(app.routes())
    await runner.setup()
    site = web.TCPSite(runner, HOST, port)
    await site.start()
    return runner, int(runner.addresses[0][1])


def run(cfg: DictConfig) -> None:
    set_threads(cfg.working)
    app = build_app(cfg)

    async def main() -> None:
        runner, port = await start(app, int(cfg.serve.port))
        print(f"variational_seg page on http://{HOST}:{port}/  (model {cfg.model.name}, working size "
              f"{cfg.working.max_side} px; Ctrl-C stops it)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("stopped")
