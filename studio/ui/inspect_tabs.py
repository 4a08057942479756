"""The tabs that look inside a model: Attention (per-token cross-attention heat maps,
generation/attention_maps.py) and Compare (two checkpoints, same prompt, seed and sampler)."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from studio.spec import JobSpec
from studio.ui.common import Studio
from studio.ui.edit_tabs import common_inputs, result_outputs, stream
from studio.ui.uploads import note, uploaded_file


def build_attention(studio: Studio) -> SimpleNamespace:
    with gr.Tab("Attention", id="attention"):
        with gr.Row():
            with gr.Column():
                prompt, steps, seed = common_inputs("att", studio, "a small red circle in the top left")
                upload = gr.File(label="...or an image of yours (inverted, then its maps)", file_types=["image"],
                                 type="filepath", elem_id="att-file")
                note("att-file")
                source = gr.Textbox("", label="What the image shows (with an image)", elem_id="att-source")
                run = gr.Button("Show attention", variant="primary", elem_id="att-run")
            with gr.Column():
                gr.Markdown("the image, then one heat map per token (start and end tokens left out)")
                image, status, entry, sends = result_outputs("att")

    def attention(prompt, steps, seed, upload, source):
        picture = uploaded_file(upload, "image", studio.max_upload_bytes) if upload else None
        yield from stream(studio, JobSpec(kind="attention", prompt=prompt, num_steps=int(steps), seed=int(seed or 0),
                                          image=picture, source_prompt=source or None,
                                          progress_every=studio.progress_every))

    run.click(attention, [prompt, steps, seed, upload, source], [image, status, entry])
    return SimpleNamespace(entry=entry, sends=sends)


def build_compare(studio: Studio) -> SimpleNamespace:
    checkpoints = studio.checkpoints()
    with gr.Tab("Compare", id="compare"):
        with gr.Row():
            with gr.Column():
                prompt, steps, seed = common_inputs("cmp", studio, "a small red circle in the top left")
                first = gr.Dropdown(checkpoints, value=checkpoints[0] if checkpoints else None, label="Checkpoint A (this run)", elem_id="cmp-a")
                other_run = gr.Textbox("", label="Run B (empty: this run)", elem_id="cmp-run")
                second = gr.Textbox(checkpoints[-1] if checkpoints else "", label="Checkpoint B (empty: the newest)", elem_id="cmp-b")
                run = gr.Button("Compare", variant="primary", elem_id="cmp-run-button")
            with gr.Column():
                gr.Markdown("A · B")
                image, status, entry, sends = result_outputs("cmp")

    def compare(prompt, steps, seed, first, other_run, second):
        yield from stream(studio, JobSpec(kind="compare", prompt=prompt, num_steps=int(steps), seed=int(seed or 0),
                                          checkpoint=first or None, other_run=other_run or None,
                                          other_checkpoint=second or None, progress_every=studio.progress_every))

    run.click(compare, [prompt, steps, seed, first, other_run, second], [image, status, entry])
    return SimpleNamespace(entry=entry, sends=sends)
