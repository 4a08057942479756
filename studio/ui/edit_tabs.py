"""The editing tabs: Image to image (upload or draw, strength), Inpaint (brush a mask, blend or repaint),
Invert & edit (source prompt, target prompt, method). Each builds a JobSpec and streams it like Generate."""
from __future__ import annotations

import gradio as gr

from diffusion.inversion import INVERSION_METHODS
from generation.editing import INPAINT_METHODS
from studio.spec import JobSpec
from studio.ui.common import Studio, editor_image, editor_mask, result_images, run_job, uploaded
from studio.ui.generate_tab import side_by_side


def stream(studio: Studio, spec: JobSpec):
    for frame, line, final in run_job(studio, spec):
        yield (frame if final is None else side_by_side(result_images(studio, final["entry"]))), line


def common_inputs(prefix: str, studio: Studio, prompt: str):
    text = gr.Textbox(prompt, label="Prompt", elem_id=f"{prefix}-prompt")
    steps = gr.Slider(1, studio.max_steps, value=studio.num_steps, step=1, label="Steps", elem_id=f"{prefix}-steps")
    seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id=f"{prefix}-seed")
    return text, steps, seed


def outputs(prefix: str):
    return (gr.Image(label="Result", interactive=False, format="png", elem_id=f"{prefix}-image"),
            gr.Markdown(elem_id=f"{prefix}-status"))


def build_img2img(studio: Studio) -> None:
    with gr.Tab("Image to image", id="img2img"):
        with gr.Row():
            with gr.Column():
                canvas = gr.ImageEditor(label="Draw, or upload an image", type="numpy", image_mode="RGBA",
                                        canvas_size=(256, 256), format="png", elem_id="i2i-canvas")
                upload = gr.File(label="...or upload an image file", file_types=["image"], type="filepath", elem_id="i2i-file")
                prompt, steps, seed = common_inputs("i2i", studio, "a large red circle")
                strength = gr.Slider(0, 1, value=0.6, step=0.05, label="Strength (0: the input, 1: text-to-image)", elem_id="i2i-strength")
                run = gr.Button("Run image to image", variant="primary", elem_id="i2i-run")
            with gr.Column():
                image, status = outputs("i2i")

    def img2img(canvas, upload, prompt, steps, seed, strength):
        source = uploaded(studio, upload) if upload else editor_image(canvas)
        yield from stream(studio, JobSpec(kind="img2img", image=source, prompt=prompt, num_steps=int(steps),
                                          seed=int(seed or 0), strength=float(strength), progress_every=studio.progress_every))

    run.click(img2img, [canvas, upload, prompt, steps, seed, strength], [image, status])


def build_inpaint(studio: Studio) -> None:
    with gr.Tab("Inpaint", id="inpaint"):
        with gr.Row():
            with gr.Column():
                editor = gr.ImageEditor(label="Upload an image, then brush over what to regenerate", type="numpy",
                                        image_mode="RGBA", format="png", elem_id="inp-editor")
                prompt, steps, seed = common_inputs("inp", studio, "a large blue square")
                method = gr.Radio(list(INPAINT_METHODS), value="blend", label="Method", elem_id="inp-method")
                run = gr.Button("Inpaint", variant="primary", elem_id="inp-run")
            with gr.Column():
                image, status = outputs("inp")

    def inpaint(editor, prompt, steps, seed, method):
        picture, mask = editor_mask(editor)
        yield from stream(studio, JobSpec(kind="inpaint", image=picture, mask=mask, prompt=prompt, num_steps=int(steps),
                                          seed=int(seed or 0), method=method, progress_every=studio.progress_every))

    run.click(inpaint, [editor, prompt, steps, seed, method], [image, status])


def build_invert(studio: Studio) -> None:
    with gr.Tab("Invert & edit", id="invert"):
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Image to invert", file_types=["image"], type="filepath", elem_id="inv-file")
                source = gr.Textbox("a small red circle in the top left", label="Source prompt (what the image shows)", elem_id="inv-source")
                prompt, steps, seed = common_inputs("inv", studio, "a small blue circle in the top left")
                method = gr.Radio(list(INVERSION_METHODS), value="negative_prompt", label="Method", elem_id="inv-method")
                run = gr.Button("Invert and edit", variant="primary", elem_id="inv-run")
            with gr.Column():
                gr.Markdown("input · reconstruction · edit")
                image, status = outputs("inv")

    def invert(upload, source, prompt, steps, seed, method):
        yield from stream(studio, JobSpec(kind="invert", image=uploaded(studio, upload), source_prompt=source, prompt=prompt,
                                          num_steps=int(steps), seed=int(seed or 0), method=method,
                                          progress_every=studio.progress_every))

    run.click(invert, [upload, source, prompt, steps, seed, method], [image, status])
