"""The studio web app: one Gradio Blocks page over a run folder, served on 127.0.0.1 only.

Offline by construction: analytics off (studio/ui/__init__.py and Blocks), a theme on system fonts (no
font CDN), no share link, no server-side rendering process, and Gradio may serve files from the run's
studio/ folder only (allowed_paths), besides its own upload cache.
"""
from __future__ import annotations

import socket
from pathlib import Path

import studio.ui  # noqa: F401  (analytics off before gradio is imported)
import gradio as gr

from runfolder.checkpoint import find_checkpoint, load_config
from studio.history import History
from studio.ui import edit_tabs, generate_tab, history_tab, inspect_tabs, send
from studio.ui.common import Studio
from studio.ui.uploads import TRANSPORT_FACTOR, guard_js

HOST = "127.0.0.1"
CSS = """
#hist-gallery img, #gen-live img, #gen-xt img, #gen-x0 img { image-rendering: pixelated; }
.upload-note { color: var(--error-text-color, #b91c1c); min-height: 1.2em; }
"""


def make_studio(run: str | Path, queue, progress_every: int = 1, max_upload_mb: float = 4.0) -> Studio:
    """The tabs' context: the run's sampler defaults read from its newest checkpoint's config (no model is
    loaded here: with a Redis queue the workers hold the models)."""
    cfg = load_config(find_checkpoint(run))
    return Studio(queue, History(run), Path(run), cfg.sampler.name, cfg.sampler.num_steps or cfg.schedule.num_timesteps,
                  float(cfg.sampler.guidance_scale), int(cfg.schedule.num_timesteps), progress_every,
                  int(max_upload_mb * 1024 * 1024), bool(cfg.model.get("guidance_embedding", False)))


def build_app(studio: Studio) -> gr.Blocks:
    with gr.Blocks(title=f"studio · {studio.run.name}", analytics_enabled=False) as app:
        gr.Markdown(f"## Studio · `{studio.run}`")
        with gr.Tabs() as tabs:
            generate = generate_tab.build(studio)
            img2img = edit_tabs.build_img2img(studio)
            inpaint = edit_tabs.build_inpaint(studio)
            invert = edit_tabs.build_invert(studio)
            attention = inspect_tabs.build_attention(studio)
            compare = inspect_tabs.build_compare(studio)
            history = history_tab.build(studio, generate)
        to = send.Destinations(tabs, img2img.canvas, img2img.file, inpaint.editor, inpaint.has_image, invert.file)
        for entry, sends in ((generate.entry, generate.sends), (generate.branch_entry, generate.branch_sends),
                             (img2img.entry, img2img.sends), (inpaint.entry, inpaint.sends), (invert.entry, invert.sends),
                             (attention.entry, attention.sends), (compare.entry, compare.sends),
                             (history.entry, history.sends)):
            send.wire(studio, sends, entry, to)
        app.load(history.show, None, [history.gallery, history.entries, history.skipped])
    return app


def theme() -> gr.themes.Base:
    return gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def launch(app: gr.Blocks, studio: Studio, port: int, block: bool = True):
    """Serve on 127.0.0.1:port (0: a free port); returns (app, url). block=False returns at once (tests)."""
    studio.history.root.mkdir(parents=True, exist_ok=True)
    app.queue(default_concurrency_limit=1)
    _, url, _ = app.launch(server_name=HOST, server_port=port or free_port(), share=False, prevent_thread_lock=True,
                           allowed_paths=[str(studio.history.root)],
                           max_file_size=TRANSPORT_FACTOR * studio.max_upload_bytes,  # ours: studio/ui/uploads.py
                           theme=theme(), css=CSS, js=guard_js(studio.max_upload_bytes), ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False,
                           footer_links=[], quiet=True, show_error=True)
    print(f"studio: serving {studio.run} on {url}", flush=True)
    if block:
        app.block_thread()
    return app, url
