"""The page in a real headless browser (Debian's chromium + chromium-driver, driven by selenium):
load, upload, left/right click, the overlay on the canvas, the downloaded cut-out PNG, and bad input
shown on the page while the server keeps serving. Skips cleanly where no browser is installed
(``apt-get install -y chromium chromium-driver``; README "Interactive page").

Set ``VARSEG_SCREENSHOT=/path.png`` to keep the page's screenshot."""

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from projects.variational_seg.serve import start
from tests.variational_seg.test_serve import app, photo_bytes

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no chromium + chromedriver installed")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1100,900"]


class ServerThread:
    """The page's server on 127.0.0.1:<free port>, in its own event loop on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner, self.port = self.loop.run_until_complete(start(app(), 0))
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def browser(tmp_path: Path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def wait_for(check, timeout: float = 20.0, what: str = "the page"):
    end = time.time() + timeout
    while time.time() < end:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def canvas_pixel(driver, x: float, y: float) -> list[int]:
    """RGBA of the canvas at photo fraction (x, y) of its width / height."""
    return driver.execute_script(
        "const c = document.getElementById('canvas');"
        "return Array.from(c.getContext('2d').getImageData(Math.floor(arguments[0] * c.width),"
        " Math.floor(arguments[1] * c.height), 1, 1).data);", x, y)


def click_at(driver, element, fx: float, fy: float, right: bool = False) -> None:
    """Click at fraction (fx, fy) of the element's box (selenium offsets are from its centre)."""
    from selenium.webdriver.common.action_chains import ActionChains

    rect = element.rect
    chain = ActionChains(driver).move_to_element_with_offset(element, int((fx - 0.5) * rect["width"]),
                                                             int((fy - 0.5) * rect["height"]))
    (chain.context_click() if right else chain.click()).perform()


def test_page_upload_click_overlay_download_and_bad_input(tmp_path):
    from selenium.webdriver.common.by import By

    photo, target = photo_bytes()
    (tmp_path / "product.png").write_bytes(photo)
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / "downloads").mkdir()
    with ServerThread() as server:
        driver = browser(tmp_path)
        try:
            driver.get(f"http://127.0.0.1:{server.port}/")
            status = driver.find_element(By.ID, "status")
            file_input = driver.find_element(By.ID, "file")
            canvas = driver.find_element(By.ID, "canvas")
            # bad input first: a text file -> a clear message on the page
            file_input.send_keys(str(tmp_path / "notes.txt"))
            wait_for(lambda: "not an image" in status.text, what="the non-image message")
            assert "error" in status.get_attribute("class")
            # the server still serves: the photo loads
            file_input.send_keys(str(tmp_path / "product.png"))
            wait_for(lambda: "120x90" in status.text, what="the upload")
            before = canvas_pixel(driver, 0.5, 0.5)
            click_at(driver, canvas, 0.5, 0.5)                  # left: foreground
            wait_for(lambda: canvas.get_attribute("data-masks") == "1", what="the first mask")
            assert "mask:" in status.text
            click_at(driver, canvas, 0.06, 0.9, right=True)      # right: background
            wait_for(lambda: canvas.get_attribute("data-masks") == "2", what="the second mask")
            inside, outside = canvas_pixel(driver, 0.4, 0.35), canvas_pixel(driver, 0.1, 0.1)
            assert inside[1] > before[1] + 30, (before, inside)  # the green overlay over the product
            assert outside[1] < 120                              # the background stays un-tinted
            if os.environ.get("VARSEG_SCREENSHOT"):
                driver.save_screenshot(os.environ["VARSEG_SCREENSHOT"])
            driver.find_element(By.ID, "download-cutout").click()
            path = wait_for(lambda: next((tmp_path / "downloads").glob("*_cutout.png"), None), what="the cut-out")
            wait_for(lambda: path.stat().st_size > 0 and not list((tmp_path / "downloads").glob("*.crdownload")))
            cut = Image.open(path)
            assert cut.mode == "RGBA" and cut.size == (120, 90)
            alpha = np.asarray(cut)[..., 3] == 255
            assert 2 * (alpha & target).sum() / (alpha.sum() + target.sum()) > 0.95
            # a typed point off the photo -> a clear message; the page still works afterwards
            driver.find_element(By.ID, "points-text").send_keys("500,40")
            driver.find_element(By.ID, "apply-points").click()
            wait_for(lambda: "off the photo" in status.text, what="the off-photo message")
            driver.find_element(By.ID, "clear").click()
            driver.find_element(By.ID, "segment").click()
            wait_for(lambda: "no foreground click" in status.text, what="the no-click message")
            click_at(driver, canvas, 0.5, 0.5)
            wait_for(lambda: canvas.get_attribute("data-masks") == "3", what="a mask after the errors")
        finally:
            driver.quit()
