"""The cut-out page (``make serve``, issue 28): tiny and elongated photos, clicks everywhere, huge or
odd coordinates, deep JSON, large bodies, other content types, other origins and hosts, a pixel bomb
and a bad ``serve.port``: each gets one clear message (4xx, never a 500) and the server keeps
answering the page's other requests."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import struct
import time
import zlib

import aiohttp
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from projects.variational_seg.methods import model_config
from projects.variational_seg.serve import App, Limits, make_segmenter, port_number, start
from shared.config import compose
from shared.errors import ConfigError
from shared.tasks import run_task


def _app() -> App:
    return App(make_segmenter(model_config("wbh_colour"), {}, max_side=160, radius=5), Limits(), 160, 5)


def _png(h: int, w: int) -> bytes:
    rng = np.random.default_rng(0)
    image = np.full((h, w, 3), (60, 80, 110), np.uint8)
    image[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = (230, 140, 40)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _bomb_png(side: int = 20000) -> bytes:
    """A PNG whose header says ``side`` x ``side`` (400 megapixels), a few bytes long."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


async def _upload(client: TestClient, data: bytes, name: str) -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("photo", data, filename=name, content_type="application/octet-stream")
    resp = await client.post("/api/image", data=form)
    return resp.status, await resp.json()


async def _segment(client: TestClient, body: bytes | dict, **headers: str) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = await client.post("/api/segment", data=data, headers={"Content-Type": "application/json", **headers})
    return resp.status, await resp.json()


def _run(scenario) -> None:
    async def main():
        async with TestClient(TestServer(_app().routes())) as client:
            await scenario(client)
    asyncio.run(main())


async def _token(client: TestClient, h: int = 60, w: int = 80) -> str:
    status, body = await _upload(client, _png(h, w), "product.png")
    assert status == 200, body
    return body["token"]


@pytest.mark.parametrize("size,expected", [((8, 4000), "4000x8 pixels (width x height); the page needs at least 16x16"),
                                           ((20, 4000), "at the solver's working size (long side 160) it would be "
                                                        "160x1"),
                                           ((8, 8), "at least 16x16"), ((10, 10), "at least 16x16")])
def test_tiny_or_elongated_photo_is_refused_on_upload(size, expected):
    """8x4000 was accepted and failed in torch.gradient (500); 8x8 and 10x10 in LinAlgError."""
    async def scenario(client):
        status, body = await _upload(client, _png(*size), "tiny.png")
        assert status == 400 and expected in body["error"] and body["error"].startswith("tiny.png")
        assert (await _upload(client, _png(16, 16), "ok.png"))[0] == 200   # the smallest accepted size
    _run(scenario)


def test_every_pixel_clicked_as_foreground_is_a_clear_400():
    """Was ZeroDivisionError "Weights sum to zero" (500)."""
    async def scenario(client):
        token = await _token(client, 30, 40)
        every = [[x, y] for y in range(30) for x in range(40)]
        status, body = await _segment(client, {"token": token, "fg": every})
        assert status == 400 and "cover 100% of the photo" in body["error"]
        assert (await _segment(client, {"token": token, "fg": [[20, 15]]}))[0] == 200   # still serving
    _run(scenario)


def test_too_many_points_are_refused_by_count_and_by_size():
    async def scenario(client):
        token = await _token(client)
        status, body = await _segment(client, {"token": token, "fg": [[1, 1]] * 2001})
        assert status == 400 and "at most 2000 clicks" in body["error"]
        status, body = await _segment(client, {"token": token, "fg": [[10, 10]] * 300_000})
        assert status == 413 and "larger than 256 kB" in body["error"]
    _run(scenario)


@pytest.mark.parametrize("point,expected", [
    ("[1" + "0" * 400 + ", 5]", "off the photo"),       # was TypeError in np.isfinite (500)
    ("[1" + "0" * 5000 + ", 5]", "not JSON"),           # past Python's 4300-digit int limit
    ("[true, true]", "cannot read foreground point"),   # was accepted as (1, 1)
    ("[1e400, 5]", "cannot read foreground point"),     # inf
    ('["3", 5]', "cannot read foreground point"),
])
def test_odd_coordinates_get_a_clear_400(point, expected):
    async def scenario(client):
        token = await _token(client)
        status, body = await _segment(client, f'{{"token": "{token}", "fg": [{point}]}}'.encode())
        assert status == 400 and expected in body["error"] and len(body["error"]) < 200
    _run(scenario)


def test_deeply_nested_json_is_a_clear_400():
    """Was RecursionError (500)."""
    async def scenario(client):
        status, body = await _segment(client, b"[" * 100_000 + b"]" * 100_000)
        assert status == 400 and "nested too deeply" in body["error"]
    _run(scenario)


def test_a_34_mb_body_is_refused_at_once_and_the_page_keeps_loading():
    """4.8 M points were parsed on the event loop: the answer took 42 s and a concurrent GET of the
    page waited 33 s. Now the body is refused by its size before it is read, and parsing and solving
    run off the loop."""
    body = b'{"token": "x", "fg": [' + b"[10, 10], " * 3_400_000 + b"[1, 1]]}"
    assert len(body) > 34_000_000

    async def scenario(client):
        async def big():
            try:
                resp = await client.post("/api/segment", data=body, headers={"Content-Type": "application/json"})
                return resp.status, (await resp.json())["error"]
            except aiohttp.ClientError:   # the server may close the connection while the body still streams
                return 413, "closed"

        async def page():
            start = time.perf_counter()
            resp = await client.get("/static/index.html")
            assert resp.status == 200 and 'id="canvas"' in await resp.text()
            return time.perf_counter() - start

        (status, message), waited = await asyncio.gather(big(), page())
        assert status == 413 and waited < 2.0, (status, message, waited)

        async def chunked():   # no Content-Length: refused while it streams in
            for _ in range(200):
                yield b" " * 65536
        resp = await client.post("/api/segment", data=chunked(), headers={"Content-Type": "application/json"})
        assert resp.status == 413
    _run(scenario)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_segment_takes_json_only(content_type):
    """A form or text/plain body is a "simple request" any web page can send without asking."""
    async def scenario(client):
        token = await _token(client)
        resp = await client.post("/api/segment", data=json.dumps({"token": token, "fg": [[40, 30]]}),
                                 headers={"Content-Type": content_type})
        assert resp.status == 415 and "application/json" in (await resp.json())["error"]
    _run(scenario)


def test_other_origins_and_hosts_get_403_and_the_page_itself_is_served():
    async def scenario(client):
        token = await _token(client)
        port = client.server.port
        click = {"token": token, "fg": [[40, 30]]}
        assert (await _segment(client, click, Origin=f"http://127.0.0.1:{port}"))[0] == 200
        assert (await _segment(client, click, Referer=f"http://localhost:{port}/",
                               Host=f"localhost:{port}"))[0] == 200
        for headers in ({"Origin": "https://evil.example"}, {"Origin": f"http://127.0.0.1:{port + 1}"},
                        {"Origin": "null"}, {"Referer": "https://evil.example/page"},
                        {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                        {"Host": f"rebind.evil.example:{port}"}, {"Host": "127.0.0.1"}):
            status, body = await _segment(client, click, **headers)
            assert status == 403 and body["error"].startswith("refused"), headers
        # DNS rebinding: a page served as evil.example (resolving to 127.0.0.1) reads a mask it holds a token of
        resp = await client.get(f"/api/mask/{token}.png", headers={"Host": f"evil.example:{port}"})
        assert resp.status == 403
        resp = await client.get("/static/index.html", headers={"Host": f"evil.example:{port}"})
        assert resp.status == 403
        assert (await client.get(f"/api/mask/{token}.png")).status == 200
    _run(scenario)


def test_a_pixel_bomb_is_refused_as_too_large():
    """Was refused safely, but as "is not an image this page can read"."""
    async def scenario(client):
        status, body = await _upload(client, _bomb_png(), "bomb.png")
        assert status == 400 and "bomb.png is too large: 400 megapixels" in body["error"]
    _run(scenario)


@pytest.mark.parametrize("value", [70000, -1, "abc", True, 1.5])
def test_a_bad_port_is_one_line(value):
    with pytest.raises(ConfigError, match=r"serve.port must be a port number from 1 to 65535"):
        port_number(value)


def test_a_taken_port_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def main():
            await start(_app(), port)
        with pytest.raises(ConfigError, match=rf"serve.port={port}: cannot listen on 127.0.0.1:{port} .*pass "
                                              rf"another port, e.g. ARGS=serve.port={port + 1}"):
            asyncio.run(main())


def test_make_serve_with_a_bad_port_prints_one_line(tmp_path, capsys):
    """The task as the command line runs it (``run_task``): before, a traceback."""
    cfg = compose("variational_seg", ["model=wbh_colour", "data=grabcut", "serve.port=abc",
                                      f"paths.output_dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path}"],
                  task="serve")
    with pytest.raises(SystemExit) as exit_:
        run_task(cfg)
    assert exit_.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: serve.port must be a port number from 1 to 65535 (0: any free port), got 'abc'"]


def test_the_served_page_answers_another_origin_or_host_with_403():
    """The server as ``make serve`` starts it (``start``), asked over a real socket."""
    async def main():
        runner, port = await start(_app(), 0)
        try:
            async with aiohttp.ClientSession() as session:
                base = f"http://127.0.0.1:{port}"
                async with session.get(f"{base}/") as resp:
                    assert resp.status == 200
                async with session.get(f"{base}/", headers={"Host": f"attacker.example:{port}"}) as resp:
                    assert resp.status == 403
                async with session.post(f"{base}/api/segment", data=b"{}", headers={
                        "Origin": "https://attacker.example", "Content-Type": "text/plain"}) as resp:
                    assert resp.status == 403 and "another page" in (await resp.json())["error"]
        finally:
            await runner.cleanup()
    asyncio.run(main())
