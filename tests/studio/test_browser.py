"""The studio in a real browser (the system Chromium through playwright) on a tiny trained run: what a user
sees after generating, scrubbing the trajectory, branching, drawing, brushing a mask, uploading a bad file
and restarting the server; and that every request the ui makes stays on 127.0.0.1."""
import json
import shutil
import threading
from urllib.error import HTTPError
from urllib.parse import urlparse
from urllib.request import urlopen

import numpy as np
import pytest
from PIL import Image

from studio.history import History
from tests.studio.browser_harness import Server, chromium, image_src, set_number, shown_pixels, stroke, wait_text
from tests.studio.redis_fixture import start_redis, stop
from tests.studio.tiny_run import pixels

pytestmark = pytest.mark.browser
REQUESTS: list[str] = []


@pytest.fixture(scope="module")
def studio_browser():
    playwright, browser = chromium()
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory):
    """A copy of the tiny run with an empty history."""
    copy = tmp_path_factory.mktemp("browser") / "run"
    shutil.copytree(tiny_run, copy, ignore=shutil.ignore_patterns("studio"))
    return copy


@pytest.fixture(scope="module")
def server(run):
    server = Server(run).start()
    yield server
    server.stop()


@pytest.fixture
def ui(studio_browser, server):
    context = studio_browser.new_context(viewport={"width": 1280, "height": 1100})
    ui = context.new_page()
    ui.on("request", lambda request: REQUESTS.append(request.url))
    ui.goto(server.url)
    ui.wait_for_selector("#gen-run")
    yield ui
    context.close()


def generate(ui, prompt, steps, sampler=None):
    ui.fill("#gen-prompt textarea", prompt)
    set_number(ui, "gen-steps", steps)
    if sampler:
        ui.locator("#gen-sampler input").click()
        ui.get_by_role("option", name=sampler, exact=True).click()
    ui.click("#gen-run")
    return wait_text(ui, "#gen-status", "done in")


def test_generate_shows_frames_then_the_image_and_the_step_slider_walks_the_trajectory(ui, tmp_path):
    ui.evaluate("""() => { window.frames_seen = new Set();
        new MutationObserver(() => { const img = document.querySelector('#gen-live img');
            if (img) window.frames_seen.add(img.src); })
        .observe(document.querySelector('#gen-live'), {subtree: true, childList: true, attributes: true}); }""")
    status = generate(ui, "a large blue square", 6)
    assert "6 steps" in status and "ms/step" in status
    assert ui.evaluate("window.frames_seen.size") >= 2  # frames before the final image
    last_xt, last_x0 = shown_pixels(ui, "gen-xt"), shown_pixels(ui, "gen-x0")
    assert ui.locator("#gen-step input[type=number]").input_value() == "5"
    before = image_src(ui, "gen-xt")
    set_number(ui, "gen-step", 0)
    ui.wait_for_function("(s) => document.querySelector('#gen-xt img')?.src !== s", arg=before)
    assert not np.array_equal(shown_pixels(ui, "gen-xt"), last_xt)
    assert not np.array_equal(shown_pixels(ui, "gen-x0"), last_x0)
    ui.screenshot(path=str(tmp_path / "studio.png"), full_page=True)


def test_branch_from_a_step_gives_another_final_image(ui):
    generate(ui, "a small red circle in the top left", 6, sampler="ddpm")
    final = shown_pixels(ui, "gen-live")
    set_number(ui, "gen-step", 2)
    ui.fill("#branch-prompt textarea", "a large blue square")
    set_number(ui, "branch-seed", 7)
    ui.click("#branch-run")
    assert "4 steps" in wait_text(ui, "#branch-status", "done in")
    assert not np.array_equal(shown_pixels(ui, "branch-image"), final)


def test_a_drawing_goes_through_img2img(ui, run):
    ui.get_by_role("tab", name="Image to image").click()
    ui.locator("#i2i-canvas button[aria-label=Brush]").click()
    stroke(ui, "#i2i-canvas .pixi-target canvas", [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)])
    set_number(ui, "i2i-steps", 4)
    ui.click("#i2i-run")
    wait_text(ui, "#i2i-status", "done in")
    saved = History(run).params(History(run).entries()[0])
    assert saved["kind"] == "img2img" and saved["steps_run"] == round(0.6 * 4)


def test_a_brushed_mask_inpaints_only_under_the_brush(ui, run, tmp_path):
    picture = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    from PIL import Image
    Image.fromarray(picture).resize((64, 64), Image.Resampling.NEAREST).save(tmp_path / "in.png")
    open_inpaint(ui)
    ui.locator("#inp-editor input[type=file]").set_input_files(str(tmp_path / "in.png"))
    ui.locator("#inp-editor button[aria-label=Brush]").click()
    stroke(ui, "#inp-editor .pixi-target canvas", [(0.45, 0.45), (0.55, 0.55)])
    set_number(ui, "inp-steps", 4)
    ui.click("#inp-run")
    wait_text(ui, "#inp-status", "done in")
    entry = History(run).entries()[0]
    result, given, mask = (pixels(p) for p in History(run).images(entry))
    keep = mask == 0
    assert keep.any() and (~keep).any()  # the brush covered part of the image
    assert np.array_equal(result[keep], given[keep]) and not np.array_equal(result, given)


def open_inpaint(ui):
    """The Inpaint tab, once its editor is there to take a file (an upload sent sooner can be lost)."""
    ui.get_by_role("tab", name="Inpaint").click()
    ui.locator("#inp-editor input[type=file]").wait_for(state="attached")
    ui.locator("#inp-editor button[aria-label=Brush]").wait_for(state="visible")


@pytest.mark.parametrize("target", ["inp-editor", "i2i-canvas", "i2i-file"])
def test_a_file_too_large_a_bomb_or_not_an_image_is_named_where_it_was_dropped(ui, tmp_path, target):
    from tests.studio.test_uploads import hostile_files
    files = hostile_files(tmp_path)
    tab = {"inp-editor": "Inpaint", "i2i-canvas": "Image to image", "i2i-file": "Image to image"}[target]
    ui.get_by_role("tab", name=tab).click()
    ui.locator(f"#{target} input[type=file]").wait_for(state="attached")
    expected = {"big": "bytes is over the 4194304 byte upload limit (4 MB)", "bomb": "13000x13000 pixels is over the",
                "truncated": "not an image file the browser can read", "text": "not an image file the browser can read"}
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1400, 1400, 3), dtype=np.uint8)).save(files["big"])
    for name, message in expected.items():
        ui.locator(f"#{target} input[type=file]").set_input_files(str(files[name]))
        wait_text(ui, f"#{target}-note", message, timeout=15_000)
    if target == "inp-editor":  # nothing reached the editor, so there is nothing to inpaint
        ui.locator("#inp-editor button[aria-label=Brush]").click()
        stroke(ui, "#inp-editor .pixi-target canvas", [(0.4, 0.4), (0.6, 0.6)])
        ui.click("#inp-run")
        ui.get_by_text("no image to inpaint: upload one first").first.wait_for(timeout=30_000)


def test_send_buttons_carry_a_result_into_the_editing_tabs(ui, run):
    generate(ui, "a small red circle in the top left", 3)
    made = History(run).entries()[0]
    ui.click("#gen-send-inpaint")
    ui.locator("#inp-editor").get_by_text("Layer 1").first.wait_for(timeout=30_000)  # the editor holds the sent image and a layer to brush on
    ui.locator("#inp-editor button[aria-label=Brush]").click()
    stroke(ui, "#inp-editor .pixi-target canvas", [(0.45, 0.45), (0.55, 0.55)])
    set_number(ui, "inp-steps", 3)
    ui.click("#inp-run")
    wait_text(ui, "#inp-status", "done in")
    inpainted = History(run).entries()[0]
    _, given, _ = (pixels(p) for p in History(run).images(inpainted))
    assert np.array_equal(given, pixels(History(run).images(made)[0]))  # the model saw the generated image itself
    ui.click("#inp-send-invert")
    ui.locator("#inv-file a, #inv-file .file-name, #inv-file td").first.wait_for(timeout=15_000)
    set_number(ui, "inv-steps", 2)
    ui.click("#inv-run")
    wait_text(ui, "#inv-status", "done in")
    inverted = History(run).entries()[0]
    assert np.array_equal(pixels(History(run).images(inverted)[0]), pixels(History(run).images(inpainted)[0]))
    ui.click("#inv-send-img2img")
    set_number(ui, "i2i-steps", 2)
    ui.click("#i2i-run")
    wait_text(ui, "#i2i-status", "done in")
    assert History(run).params(History(run).entries()[0])["kind"] == "img2img"


def test_an_invalid_upload_shows_a_message_and_the_server_keeps_serving(ui, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    ui.get_by_role("tab", name="Image to image").click()
    ui.locator("#i2i-file input[type=file]").set_input_files(str(tmp_path / "broken.png"))
    wait_text(ui, "#i2i-file-note", "not an image file the browser can read")  # refused where it was dropped
    ui.click("#i2i-run")  # the file box stayed empty, and so did the canvas
    ui.get_by_text("no image: upload one or draw on the canvas first").first.wait_for(timeout=30_000)
    ui.get_by_role("tab", name="Generate").click()
    assert "done in" in generate(ui, "a large blue square", 2)


def test_history_survives_a_restart_and_one_click_reloads_the_parameters(studio_browser, server, run):
    newest = History(run).params(History(run).entries()[0])
    server.stop()
    server.start()
    context = studio_browser.new_context(viewport={"width": 1280, "height": 1100})
    try:
        ui = context.new_page()
        ui.on("request", lambda request: REQUESTS.append(request.url))
        ui.goto(server.url)
        ui.get_by_role("tab", name="History").click()
        ui.locator("#hist-gallery button img").first.wait_for(timeout=30_000)
        assert ui.locator("#hist-gallery button img").count() == len(History(run).entries())
        assert all(src.endswith("thumb.png") for src in ui.eval_on_selector_all(
            "#hist-gallery button img", "(images) => images.map((i) => i.src)"))
        assert f"generate: {newest['spec']['prompt']}" in ui.inner_text("#hist-gallery")
        ui.locator("#hist-gallery button img").first.click()
        ui.wait_for_function("() => (document.querySelector('#hist-params')?.innerText || '').includes('checkpoint')")
        ui.get_by_role("tab", name="Generate").click()
        assert ui.locator("#gen-prompt textarea").input_value() == newest["spec"]["prompt"]
    finally:
        context.close()


@pytest.fixture
def redis_backed(run, tmp_path):
    """The app on a Redis queue with one worker (a thread here; scripts/studio_worker.py in production)."""
    process, url = start_redis(tmp_path)
    from studio.jobs import JobRunner
    from studio.queues.redis_streams import RedisQueue, RedisWorker
    worker = RedisWorker(url, JobRunner(run, device="cpu"), name="thread-worker", claim_timeout=5.0)
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    server = Server(run, queue=RedisQueue(url))
    try:
        yield server.start()
    finally:
        server.stop()
        worker.stop()
        thread.join(timeout=10)
        stop(process)


@pytest.mark.redis
def test_the_page_streams_frames_and_the_result_from_a_redis_worker(studio_browser, redis_backed):
    context = studio_browser.new_context(viewport={"width": 1280, "height": 1100})
    try:
        ui = context.new_page()
        ui.on("request", lambda request: REQUESTS.append(request.url))
        ui.goto(redis_backed.url)
        ui.wait_for_selector("#gen-run")
        status = generate(ui, "a large blue square", 3)
        assert "3 steps" in status and "on thread-worker" in status
        assert shown_pixels(ui, "gen-live").shape[1] > 0
    finally:
        context.close()


def test_every_request_the_pages_made_stayed_on_localhost(studio_browser):
    """Reads what the tests above recorded; needs the browser they ran in (skipped with them)."""
    assert len(REQUESTS) > 20
    hosts = {urlparse(url).hostname for url in REQUESTS if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, hosts


def test_the_server_serves_no_file_outside_the_studio_folder(studio_browser, server, run):
    """Serves an image the tests above generated; needs the browser they ran in (skipped with them)."""
    inside = next(p for p in History(run).root.rglob("000.png"))
    outside = next((run / "checkpoints").rglob("*.safetensors"))
    codes = {}
    for name, path in (("inside", inside), ("outside", outside), ("escape", History(run).root / ".." / "checkpoints")):
        try:
            codes[name] = urlopen(f"{server.url}gradio_api/file={path}").status
        except HTTPError as error:
            codes[name] = error.code
    assert codes["inside"] == 200 and codes["outside"] >= 400 and codes["escape"] >= 400, codes
