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

``make serve`` uses the shipped model (``model=wbh_colour_extent_later_ensemble``) at the GrabCut-tuned working size
(``data=grabcut``: long side 160) unless ``model=`` / ``data=`` say otherwise. The page sends every click
with the order they were made in; each photo keeps a ``click_model.ClickSession``, so a new click is
solved once, with the previous mask, and "Undo" re-uses the mask it had (nothing solved).

Only the page itself may use the server (:meth:`App.same_origin`): a request whose ``Host`` is not
127.0.0.1 / localhost at the served port (a DNS-rebinding page), or that another site's page sends
(its ``Origin``, ``Referer`` or ``Sec-Fetch-Site`` say so), gets 403; ``/api/segment`` takes
``application/json`` only (a form or ``text/plain`` body, which any page can send without asking,
gets 415). A segment request is at most ``Limits.max_json_bytes`` with ``Limits.max_points`` clicks,
refused (413) before its body is read; parsing and solving run in worker threads, never on the
event loop that answers the other requests.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from omegaconf import DictConfig
from PIL import Image

from projects.variational_seg.click_model import (
    ClickSession,
    click_segmenter_for,
    is_incremental,
    ordered_clicks,
    prepare_photo,
)
from projects.variational_seg.markers import parse_points, shorten
from projects.variational_seg.noc import ClickSegmenter
from projects.variational_seg.params import marker_radius
from projects.variational_seg.pipeline import set_threads, working_size
from projects.variational_seg.select import check_clicks_leave_background, check_dimensions, run_segmenter
from shared.config import plain_dict
from shared.datasets.io import ImageTooLargeError, image_size, read_image_bytes
from shared.errors import ConfigError, DataError, EcomvisionError

HOST = "127.0.0.1"  # never reachable from other machines
HOST_NAMES = ("127.0.0.1", "localhost")  # what the page's own address may be called in the browser
STATIC = Path(__file__).parent / "static"
PREVIEW_SIDE = 800  # long side of the photo the page shows (clicks are mapped back to full resolution)


class InputError(Exception):
    """Bad input from the page: shown to the user, the server keeps serving."""

    status = 400


class TooLargeError(InputError):
    status = 413


class UnsupportedMediaType(InputError):
    status = 415


class Forbidden(InputError):
    """A request that is not the page's own (another site, another host name)."""

    status = 403


@dataclass
class Photo:
    image: np.ndarray
    name: str
    session: ClickSession
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 16_000_000
    max_bytes: int = 40 * 1024 * 1024
    keep: int = 8
    max_points: int = 2000         # foreground + background clicks of one segment request
    max_json_bytes: int = 256 * 1024   # a segment request (2000 clicks are ~30 kB of JSON)


def make_segmenter(model: Any, data: Any, max_side: int, radius: int) -> ClickSegmenter:
    """(photo, clicks in order, previous probability) -> foreground probability at full resolution, for the
    configured model (``click_model.click_segmenter_for``: a background click given to one of the paper's
    models, which have no background term, is a one-line error)."""
    return click_segmenter_for(plain_dict(model), plain_dict(data), max_side, radius)


def decode_upload(data: bytes, name: str, limits: Limits, max_side: int = 160) -> np.ndarray:
    """Upload bytes -> upright RGB uint8, or InputError saying what is wrong (checked on the header
    before decoding, so a huge photo is refused without decoding it)."""
    if not data:
        raise InputError("the upload is empty: choose a photo (JPEG or PNG)")
    unreadable = f"{name} is not an image this page can read; upload a JPEG or PNG photo"
    try:
        w, h = image_size(data)
    except ImageTooLargeError as exc:
        raise InputError(f"{name} is too large: {exc.pixels / 1e6:.0f} megapixels; this page takes up to "
                         f"{limits.max_pixels / 1e6:.0f} megapixels: downscale it first") from None
    except DataError:
        raise InputError(unreadable) from None
    if w * h > limits.max_pixels:
        raise InputError(f"{name} is {w}x{h} pixels ({w * h / 1e6:.1f} megapixels); this page takes up to "
                         f"{limits.max_pixels / 1e6:.0f} megapixels: downscale it first (e.g. to 4000 px on "
                         "the long side)")
    try:
        check_dimensions(w, h, max_side, "the page")
    except DataError as exc:
        raise InputError(f"{name}: {exc}") from None
    try:
        return read_image_bytes(data, name)
    except DataError:
        raise InputError(unreadable) from None


def parse_json(raw: bytes) -> dict[str, Any]:
    """A segment request's body -> the JSON object, or InputError (never a RecursionError or a 500)."""
    try:
        body = json.loads(raw)
    except ValueError:   # JSONDecodeError, UnicodeDecodeError, an integer of more than 4300 digits
        raise InputError("the request is not JSON") from None
    except RecursionError:
        raise InputError("the request's JSON is nested too deeply") from None
    if not isinstance(body, dict):
        raise InputError("the request must be a JSON object")
    return body


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

    def __init__(self, segmenter: ClickSegmenter, limits: Limits | None = None, max_side: int = 160,
                 radius: int = 5, incremental: bool = True) -> None:
        self.segmenter, self.limits, self.max_side, self.radius = segmenter, limits or Limits(), max_side, radius
        self.incremental = incremental   # the model takes the clicks one at a time with its previous mask
        self.photos: OrderedDict[str, Photo] = OrderedDict()
        self.executor = ThreadPoolExecutor(max_workers=1)  # the solver: one photo at a time
        self.parser = ThreadPoolExecutor(max_workers=2)    # request bodies: JSON and points

    def routes(self) -> web.Application:
        app = web.Application(client_max_size=self.limits.max_bytes, middlewares=[self.errors, self.same_origin])
        app.add_routes([web.get("/", self.index), web.post("/api/image", self.upload),
                        web.post("/api/segment", self.segment), web.get("/api/cutout/{token}.png", self.cutout),
                        web.get("/api/mask/{token}.png", self.mask), web.static("/static", STATIC)])
        return app

    @web.middleware
    async def errors(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """Every failure of an /api call becomes JSON {"error": message} (400 for bad input, 403 for a
        request that is not the page's own, 413 for too large a body)."""
        try:
            return await handler(request)
        except InputError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        except EcomvisionError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": f"the upload is larger than {self.limits.max_bytes // 2 ** 20} MB: "
                                               "downscale the photo first"}, status=413)
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - the page shows it; the server keeps serving
            return web.json_response({"error": f"internal error: {type(exc).__name__}: {exc}"}, status=500)

    @web.middleware
    async def same_origin(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """403 unless the request is the page's own: ``Host`` is 127.0.0.1 or localhost at the served
        port (a DNS-rebinding page sends its own host name), and no ``Origin`` / ``Referer`` /
        ``Sec-Fetch-Site`` says another page sent it (any site may send simple cross-origin requests)."""
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        port = sockname[1] if sockname else None
        origins = {f"http://{name}:{port}" for name in HOST_NAMES}
        host = request.headers.get("Host", "")
        if host not in {f"{name}:{port}" for name in HOST_NAMES}:
            raise Forbidden(f"refused: this server answers only its own page at http://{HOST}:{port}/ "
                            f"(the request named the host {shorten(host)})")
        origin = request.headers.get("Origin")
        referer = request.headers.get("Referer")
        fetch_site = request.headers.get("Sec-Fetch-Site", "")
        sender = origin if origin is not None else referer if request.method != "GET" else None
        if (sender is not None and sender not in origins and not any(sender.startswith(o + "/") for o in origins)) \
                or fetch_site in ("cross-site", "same-site"):
            raise Forbidden(f"refused: another page ({shorten(sender or fetch_site)}) may not use this server; open "
                            f"http://{HOST}:{port}/ itself")
        return await handler(request)

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
        image = await loop.run_in_executor(self.parser, decode_upload, bytes(data), name, self.limits, self.max_side)
        preview, size = await loop.run_in_executor(self.parser, preview_png, image)
        await loop.run_in_executor(self.executor, prepare_photo, self.segmenter, image)   # the model's thread
        token = uuid.uuid4().hex
        self.photos[token] = Photo(image, name, ClickSession(self.segmenter, self.incremental))
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

    async def read_body(self, request: web.Request) -> bytes:
        """The body of a segment request, refused (413) once it passes ``max_json_bytes``: by its
        Content-Length before anything is read, else while it streams in."""
        limit = self.limits.max_json_bytes
        too_large = TooLargeError(f"the request is larger than {limit // 1024} kB; the page sends at most "
                                  f"{self.limits.max_points} clicks")
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        chunks, total = [], 0
        async for chunk in request.content.iter_any():
            total += len(chunk)
            if total > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def read_points(self, body: dict[str, Any], h: int, w: int) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
        """(foreground, background) points of a segment request, checked (in a worker thread), and the
        click order ('fg' / 'bg' per click, as the page made them; absent: foreground first)."""
        fg, bg, order = body.get("fg"), body.get("bg"), body.get("order")
        count = sum(len(v) for v in (fg, bg) if isinstance(v, list))
        if count > self.limits.max_points:
            raise InputError(f"{count} points; the page takes at most {self.limits.max_points} clicks per request")
        if order is not None and (not isinstance(order, list) or not all(o in ("fg", "bg") for o in order)):
            raise InputError('"order" must be a list of "fg" / "bg", one per click')
        return (parse_points(fg, w, h, "foreground", required=False, max_points=self.limits.max_points),
                parse_points(bg, w, h, "background", required=False, max_points=self.limits.max_points), order)

    def solve(self, photo: Photo, fg: np.ndarray, bg: np.ndarray,
              order: list[str] | None) -> tuple[np.ndarray, bytes, float]:
        """(mask, overlay PNG, seconds) for the clicks (in the solver's thread): the photo's session re-uses
        the masks of the clicks it already solved and runs each new click with its previous mask."""
        check_clicks_leave_background(fg, photo.image.shape[:2], self.max_side, self.radius)
        clicks = ordered_clicks(fg, bg, order)
        start = time.perf_counter()
        mask = run_segmenter(photo.session.update, photo.image, clicks) > 0.5
        seconds = time.perf_counter() - start
        return mask, overlay_png(mask), seconds

    async def segment(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            raise UnsupportedMediaType(f"send the clicks as JSON (Content-Type: application/json), not "
                             f"{shorten(request.content_type or 'no content type')}")
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(self.parser, parse_json, await self.read_body(request))
        photo = self.photo(str(body.get("token")))
        h, w = photo.image.shape[:2]
        fg, bg, order = await loop.run_in_executor(self.parser, self.read_points, body, h, w)
        if len(fg) == 0:
            raise InputError("no foreground click yet: left-click on the product (right-click marks background)")
        photo.mask, overlay, seconds = await loop.run_in_executor(self.executor, self.solve, photo, fg, bg, order)
        return web.json_response({"overlay": data_url(overlay), "fraction": float(photo.mask.mean()),
                                  "seconds": round(seconds, 3), "working_size": self.working_size(h, w)})

    def _result(self, token: str) -> Photo:
        photo = self.photo(token)
        if photo.mask is None:
            raise InputError("no mask yet: click on the product first")
        return photo

    async def cutout(self, request: web.Request) -> web.Response:
        """The full-resolution PNGs are encoded in a worker thread (a 16-MP one takes a while)."""
        photo = self._result(request.match_info["token"])
        alpha = np.where(photo.mask, 255, 0).astype(np.uint8)
        png = await asyncio.get_running_loop().run_in_executor(
            self.parser, png_bytes, np.dstack([photo.image, alpha]), "RGBA")
        return web.Response(body=png, content_type="image/png", headers=_attachment(photo.name, "cutout"))

    async def mask(self, request: web.Request) -> web.Response:
        photo = self._result(request.match_info["token"])
        png = await asyncio.get_running_loop().run_in_executor(
            self.parser, png_bytes, np.where(photo.mask, 255, 0).astype(np.uint8), "L")
        return web.Response(body=png, content_type="image/png", headers=_attachment(photo.name, "mask"))


def _attachment(name: str, kind: str) -> dict[str, str]:
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(name).stem)[:60] or "photo"
    return {"Content-Disposition": f'attachment; filename="{stem}_{kind}.png"'}


def build_app(cfg: DictConfig) -> App:
    if cfg.model.kind not in ("variational", "click_model"):
        raise ConfigError("serve uses a variational model (wbh_colour_fullres, wbh_colour, wbh, ...), not the U-Net")
    radius = marker_radius(cfg.model, int(cfg.markers.radius))
    segmenter = make_segmenter(cfg.model, cfg.data, int(cfg.working.max_side), radius)
    limits = Limits(max_pixels=int(cfg.serve.max_pixels), max_bytes=int(cfg.serve.max_megabytes) * 2 ** 20)
    return App(segmenter, limits, int(cfg.working.max_side), radius, is_incremental(plain_dict(cfg.model)))


def port_number(value: Any) -> int:
    """``serve.port``: an integer 0..65535 (0: any free port), else one ConfigError line."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ConfigError(f"serve.port must be a port number from 1 to 65535 (0: any free port), got {value!r}")
    return value


async def start(app: App, port: int) -> tuple[web.AppRunner, int]:
    """Start serving on 127.0.0.1:``port`` (0: any free port); returns the runner and the port. A port
    that cannot be listened on (taken by another program) is one ConfigError line."""
    runner = web.AppRunner(app.routes())
    await runner.setup()
    site = web.TCPSite(runner, HOST, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"serve.port={port}: cannot listen on {HOST}:{port} ({exc.strerror or exc}; another "
                          f"program, or an earlier make serve, may use it): pass another port, e.g. "
                          f"ARGS=serve.port={port + 1 if port < 65535 else 8766}") from None
    return runner, int(runner.addresses[0][1])


def run(cfg: DictConfig) -> None:
    port = port_number(cfg.serve.port)
    set_threads(cfg.working)
    app = build_app(cfg)

    async def main() -> None:
        runner, bound = await start(app, port)
        print(f"variational_seg page on http://{HOST}:{bound}/  (model {cfg.model.name}, working size "
              f"{cfg.working.max_side} px; Ctrl-C stops it)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("stopped")
