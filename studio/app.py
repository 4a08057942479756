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
from studio.ui import edit_tabs, generate_tab, history_tab, inspect_tabs
from studio.ui.common import Studio

HOST = "127.0.0.1"


def make_studio(run: str | Path, queue, progress_every: int = 1, max_upload_mb: float = 4.0) -> Studio:
    """The tabs' context: the run's sampler defaults read from its newest checkpoint's config (no model is
    loaded here: with a Redis queue the workers hold the models)."""
    cfg = load_config(find_checkpoint(run))
    return Studio(queue, History(run), Path(run), cfg.sampler.name, cfg.sampler.num_steps or cfg.schedule.num_timesteps,
                  float(cfg.sampler.guidance_scale), int(cfg.schedule.num_timesteps), progress_every,
                  int(max_upload_mb * 1024 * 1024))


def build_app(studio: Studio) -> gr.Blocks:
    with gr.Blocks(title=f"studio · {studio.run.name}", analytics_enabled=False) as app:
        gr.Markdown(f"## Studio · `{studio.run}`")
        with gr.Tabs():
            form = generate_tab.build(studio)
            edit_tabs.build_img2img(studio)
            edit_tabs.build_inpaint(studio)
            edit_tabs.build_invert(studio)
            inspect_tabs.build_attention(studio)
            inspect_tabs.build_compare(studio)
            gallery, entries, listing = history_tab.build(studio, form)
        app.load(listing, None, [gallery, entries])
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
                           allowed_paths=[str(studio.history.root)], max_file_size=studio.max_upload_bytes,
                           theme=theme(), ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False,
                           footer_links=[], quiet=True, show_error=True)
    print(f"studio: serving {studio.run} on {url}", flush=True)
    if block:
        app.block_thread()
    return app, url
