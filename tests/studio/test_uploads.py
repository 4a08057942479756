"""Hostile uploads through Gradio's own API routes (its upload route, then its queue, as any client can send them)
into both image editors and a file box: each is refused in one line before it is decoded, and the server's peak
memory stays within a few megabytes of what it held before."""
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.studio.browser_harness import Server
from tests.studio.test_codec import png_header_only

pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[studio]')")
PEAK_ALLOWED_MB = 64  # a 13000x13000 RGBA decode alone would be 645 MB


def hostile_files(folder):
    files = {"bomb": folder / "bomb.png", "big": folder / "big.png", "truncated": folder / "truncated.png",
             "text": folder / "text.png"}
    Image.new("RGB", (13000, 13000)).save(files["bomb"])  # ~0.5 MB, under PIL's own bomb limit of 179 M pixels
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)).save(files["big"])
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / "whole.png")
    files["truncated"].write_bytes((folder / "whole.png").read_bytes()[:3000])
    files["text"].write_text("this is not a png\n")
    files["header"] = folder / "header.png"
    files["header"].write_bytes(png_header_only(20000, 20000))  # a 400 M pixel header, for PIL's own guard
    return files


EXPECTED = {"bomb": "13000x13000 pixels is over the 16777216 pixel limit", "big": "bytes is over the 1048576 byte upload limit",
            "truncated": "not an image file PIL can read", "text": "not an image file PIL can read",
            "header": "over the 16777216 pixel limit"}


@pytest.fixture(scope="module")
def client(tiny_run, tmp_path_factory):
    from gradio_client import Client
    run = tmp_path_factory.mktemp("uploads") / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("studio"))
    server = Server(run, max_upload_mb=1).start()
    yield Client(server.url, verbose=False), run
    server.stop()


def peak_rss_mb() -> float:
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024


def current_rss_mb() -> float:
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) / 1024


def call(client, endpoint: str, path) -> str:
    from gradio_client import handle_file
    editor = {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path))}
    arguments = {"/inpaint": (editor, "a large blue square", 2, 0, "blend"),
                 "/img2img": (editor, None, "a large blue square", 2, 0, 0.6),
                 "/invert": (handle_file(str(path)), "a small red circle", "a small blue circle", 2, 0, "negative_prompt")}
    try:
        client.predict(*arguments[endpoint], api_name=endpoint)
        return "accepted"
    except Exception as error:  # gradio_client raises the app's gr.Error as AppError
        return str(error)


@pytest.mark.parametrize("endpoint", ["/inpaint", "/img2img", "/invert"])
def test_hostile_uploads_through_the_api_are_refused_before_they_are_decoded(client, endpoint, tmp_path):
    client, run = client
    for name, path in hostile_files(tmp_path).items():
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets this process's peak resident memory (VmHWM) to what it holds now
        before = current_rss_mb()
        answer = call(client, endpoint, path)
        assert EXPECTED[name] in answer and "\n" not in answer.strip(), (name, answer)
        assert peak_rss_mb() - before < PEAK_ALLOWED_MB, (name, peak_rss_mb() - before)
    assert not (run / "studio").exists() or not any((run / "studio").iterdir())  # nothing was run, nothing saved
