"""Hostile uploads against a running studio: each one's peak server memory and the time until it is refused.

    python scripts/probe_studio_uploads.py --run runs/xa_cos/<timestamp>
    python scripts/probe_studio_uploads.py --run ... --root /path/to/another/checkout   # the same probes, its studio

Starts `scripts/studio.py` of `--root` (this checkout by default) on the run in a subprocess, then sends each file
as a client of Gradio's own API would (its upload route, then its queue), into the Inpaint editor, the Image to
image canvas and the Invert file box, while a thread samples the server's resident memory every 20 ms. Prints
one line per probe: the endpoint, the file, the answer's first line, the server's peak memory above what it held
before, and the seconds until the answer. The files are made here: a 13000x13000 PNG of ~0.5 MB (a decompression
bomb under PIL's own limit), 5.9 MB of noise (over the 4 MB limit), a truncated PNG and a text file.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_files(folder: Path) -> dict[str, Path]:
    files = {"bomb 13000x13000": folder / "bomb.png", "5.9 MB noise": folder / "big.png",
             "truncated png": folder / "truncated.png", "not an image": folder / "text.png", "ok 64x64": folder / "ok.png"}
    Image.new("RGB", (13000, 13000)).save(files["bomb 13000x13000"])
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1400, 1400, 3), dtype=np.uint8)).save(files["5.9 MB noise"])
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(folder / "whole.png")
    files["truncated png"].write_bytes((folder / "whole.png").read_bytes()[:20_000])
    files["not an image"].write_text("this is not a png\n")
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(files["ok 64x64"])
    return files


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakMemory:
    """Samples a process's resident memory every 20 ms while it runs; `peak` is the highest seen."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.running = pid, rss_mb(pid), True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.peak


def start_studio(root: Path, run: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, str(root / "scripts" / "studio.py"), f"run={run}", f"port={port}",
                                "device=cpu"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        if "serving" in line:
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # drain its output
            return process
    raise RuntimeError(f"the studio did not start (exit {process.wait()})")


def probe(client, endpoint: str, path: Path) -> str:
    from gradio_client import handle_file
    editor = {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path))}
    arguments = {"/inpaint": (editor, "a large blue square", 2, 0, "blend"),
                 "/img2img": (editor, None, "a large blue square", 2, 0, 0.6),
                 "/invert": (handle_file(str(path)), "a small red circle", "a small blue circle", 2, 0, "negative_prompt")}
    try:
        client.predict(*arguments[endpoint], api_name=endpoint)
        return "accepted"
    except Exception as error:  # the app's gr.Error arrives as gradio_client's AppError
        return re.sub(r"\s+", " ", str(error)).strip()[:90]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a run folder with a checkpoint")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="the checkout whose studio to probe")
    parser.add_argument("--port", type=int, default=7877)
    args = parser.parse_args()
    from gradio_client import Client

    studio = start_studio(Path(args.root), args.run, args.port)
    try:
        client = Client(f"http://127.0.0.1:{args.port}/", verbose=False)
        with tempfile.TemporaryDirectory() as folder:
            files = make_files(Path(folder))
            print(f"studio of {args.root}: idle {rss_mb(studio.pid):.0f} MB")
            print("| endpoint | upload | answer | peak above idle (MB) | seconds |\n| --- | --- | --- | --- | --- |")
            for endpoint in ("/inpaint", "/img2img", "/invert"):
                for name, path in files.items():
                    before, watch, started = rss_mb(studio.pid), PeakMemory(studio.pid), time.perf_counter()
                    answer = probe(client, endpoint, path)
                    seconds, peak = time.perf_counter() - started, watch.stop()
                    print(f"| {endpoint} | {name} | {answer} | {peak - before:.0f} | {seconds:.2f} |", flush=True)
    finally:
        studio.terminate()
        studio.wait(timeout=30)


if __name__ == "__main__":
    main()
