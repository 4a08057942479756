"""The editing tabs: Image to image (upload or draw, strength), Inpaint (brush a mask, blend or repaint),
Invert & edit (source prompt, target prompt, method). Each builds a JobSpec and streams it like Generate; each
result can be sent on to another tab (studio/ui/send.py). The editors refuse an oversized or unreadable file
before decoding it (studio/ui/uploads.py)."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from diffusion.inversion import INVERSION_METHODS
from generation.editing import INPAINT_METHODS
from studio.spec import JobSpec
from studio.ui import send
from studio.ui.common import Studio, editor_image, editor_mask, result_images, run_job
from studio.ui.generate_tab import side_by_side
from studio.ui.uploads import BoundedImageEditor, note, uploaded_file


def stream(studio: Studio, spec: JobSpec):
    """(image, status line, entry) for each event: frames while it runs, then the saved result and its entry."""
    for frame, line, final in run_job(studio, spec):
        if final is None:
            yield frame, line, gr.skip()
        else:
            yield side_by_side(result_images(studio, final["entry"])), line, final["entry"]


def editor(studio: Studio, elem_id: str, label: str, **kwargs) -> BoundedImageEditor:
    """An image editor that takes uploads only (no webcam, no clipboard), bounded like every upload."""
    component = BoundedImageEditor(label=label, type="numpy", image_mode="RGBA", format="png", sources=["upload"],
                                   elem_id=elem_id, **kwargs)
    component.max_upload_bytes = studio.max_upload_bytes
    return component


def common_inputs(prefix: str, studio: Studio, prompt: str):
    text = gr.Textbox(prompt, label="Prompt", elem_id=f"{prefix}-prompt")
    steps = gr.Slider(1, studio.max_steps, value=studio.num_steps, step=1, label="Steps", elem_id=f"{prefix}-steps")
    seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id=f"{prefix}-seed")
    return text, steps, seed


def result_outputs(prefix: str):
    """The result image, its status line, its history entry, and the buttons that send it on."""
    image = gr.Image(label="Result", interactive=False, format="png", elem_id=f"{prefix}-image")
    status = gr.Markdown(elem_id=f"{prefix}-status")
    return image, status, gr.State(None), send.buttons(prefix)


def build_img2img(studio: Studio) -> SimpleNamespace:
    with gr.Tab("Image to image", id="img2img"):
        with gr.Row():
            with gr.Column():
                canvas = editor(studio, "i2i-canvas", "Draw, or upload an image", canvas_size=(256, 256))
                note("i2i-canvas")
                upload = gr.File(label="...or upload an image file", file_types=["image"], type="filepath", elem_id="i2i-file")
                note("i2i-file")
                prompt, steps, seed = common_inputs("i2i", studio, "a large red circle")
                strength = gr.Slider(0, 1, value=0.6, step=0.05, label="Strength (0: the input, 1: text-to-image)", elem_id="i2i-strength")
                run = gr.Button("Run image to image", variant="primary", elem_id="i2i-run")
            with gr.Column():
                image, status, entry, sends = result_outputs("i2i")

    def img2img(canvas, upload, prompt, steps, seed, strength):
        source = uploaded_file(upload, "image", studio.max_upload_bytes) if upload else editor_image(canvas)
        yield from stream(studio, JobSpec(kind="img2img", image=source, prompt=prompt, num_steps=int(steps),
                                          seed=int(seed or 0), strength=float(strength), progress_every=studio.progress_every))

    run.click(img2img, [canvas, upload, prompt, steps, seed, strength], [image, status, entry])
    return SimpleNamespace(canvas=canvas, file=upload, entry=entry, sends=sends)


def build_inpaint(studio: Studio) -> SimpleNamespace:
    with gr.Tab("Inpaint", id="inpaint"):
        with gr.Row():
            with gr.Column():
                brushed = editor(studio, "inp-editor", "Upload an image, then brush over what to regenerate")
                note("inp-editor")
                prompt, steps, seed = common_inputs("inp", studio, "a large blue square")
                method = gr.Radio(list(INPAINT_METHODS), value="blend", label="Method", elem_id="inp-method")
                run = gr.Button("Inpaint", variant="primary", elem_id="inp-run")
            with gr.Column():
                image, status, entry, sends = result_outputs("inp")

    has_image = gr.State(False)  # set by an upload or a send, cleared with the editor (studio/ui/common.editor_mask)
    brushed.upload(lambda: True, None, has_image)
    brushed.clear(lambda: False, None, has_image)

    def inpaint(value, has_image, prompt, steps, seed, method):
        picture, mask = editor_mask(value, has_image)
        yield from stream(studio, JobSpec(kind="inpaint", image=picture, mask=mask, prompt=prompt, num_steps=int(steps),
                                          seed=int(seed or 0), method=method, progress_every=studio.progress_every))

    run.click(inpaint, [brushed, has_image, prompt, steps, seed, method], [image, status, entry])
    return SimpleNamespace(editor=brushed, has_image=has_image, entry=entry, sends=sends)


def build_invert(studio: Studio) -> SimpleNamespace:
    with gr.Tab("Invert & edit", id="invert"):
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Image to invert", file_types=["image"], type="filepath", elem_id="inv-file")
                note("inv-file")
                source = gr.Textbox("a small red circle in the top left", label="Source prompt (what the image shows)", elem_id="inv-source")
                prompt, steps, seed = common_inputs("inv", studio, "a small blue circle in the top left")
                method = gr.Radio(list(INVERSION_METHODS), value="negative_prompt", label="Method", elem_id="inv-method")
                run = gr.Button("Invert and edit", variant="primary", elem_id="inv-run")
            with gr.Column():
                gr.Markdown("input · reconstruction · edit")
                image, status, entry, sends = result_outputs("inv")

    def invert(upload, source, prompt, steps, seed, method):
        yield from stream(studio, JobSpec(kind="invert", image=uploaded_file(upload, "image", studio.max_upload_bytes),
                                          source_prompt=source, prompt=prompt, num_steps=int(steps), seed=int(seed or 0),
                                          method=method, progress_every=studio.progress_every))

    run.click(invert, [upload, source, prompt, steps, seed, method], [image, status, entry])
    return SimpleNamespace(file=upload, entry=entry, sends=sends)
