"""The studio served in-process on a free 127.0.0.1 port, and the system Chromium driven by playwright:
what the browser tests (and the README's screenshot) use. Everything started here is stopped by its
owner's finalizer, also when a test fails."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = "/usr/bin/chromium"


class Server:
    """studio/app.py on a run folder with the in-process queue (or `queue`); stop() frees the port."""

    def __init__(self, run: Path, progress_every: int = 1, queue=None, max_upload_mb: float = 4.0):
        self.run, self.progress_every, self.queue, self.app, self.url = run, progress_every, queue, None, None
        self.max_upload_mb = max_upload_mb

    def start(self) -> "Server":
        from studio.app import build_app, launch, make_studio
        from studio.jobs import JobRunner
        from studio.queues.local import LocalQueue
        queue = self.queue or LocalQueue(JobRunner(self.run, device="cpu"))
        studio = make_studio(self.run, queue, self.progress_every, self.max_upload_mb)
        self.app, self.url = launch(build_app(studio), studio, 0, block=False)
        return self

    def stop(self) -> None:
        if self.app is not None:
            self.app.close()
            self.app = None


def chromium():
    """(playwright, browser); skips when playwright or the system Chromium is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed (pip install playwright)")
    binary = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if binary is None:
        pytest.skip("no system Chromium (apt-get install chromium): the browser tests drive it through playwright")
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[studio]')")
    playwright = sync_api.sync_playwright().start()
    try:
        # --no-sandbox: CI and containers run as root, where Chromium's sandbox refuses to start.
        return playwright, playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
    except Exception:
        playwright.stop()
        raise


def wait_text(page, selector: str, text: str, timeout: float = 60_000) -> str:
    """Wait until the element's text contains `text`; returns the text."""
    page.wait_for_function("([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)", arg=[selector, text],
                           timeout=timeout)
    return page.inner_text(selector)


def image_src(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} img").first.get_attribute("src")


def shown_pixels(page, elem_id: str) -> np.ndarray:
    """The pixels of the image an output component shows, fetched as the page fetched them."""
    data = page.request.get(image_src(page, elem_id)).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def set_number(page, elem_id: str, value) -> None:
    """Type into a slider's or number box's number field and commit it, as a user does."""
    field = page.locator(f"#{elem_id} input[type=number]").first
    field.fill(str(value))
    field.press("Enter")
    field.blur()


def stroke(page, canvas_selector: str, points: list[tuple[float, float]]) -> None:
    """Drag the mouse through points given as fractions of the canvas box (a brush stroke)."""
    box = page.locator(canvas_selector).first.bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
