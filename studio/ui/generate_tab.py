"""The Generate tab: text-to-image with live frames, a step slider over the finished trajectory (x_t and
the predicted x0 at each step), and "branch from here": a rewind from the chosen step with another prompt
or seed (generation/trajectory.py). The image and the branch can be sent on to the editing tabs (studio/ui/send.py)."""
from __future__ import annotations

import functools
from types import SimpleNamespace

import gradio as gr
import torch
from PIL import Image

from generation.sampling import to_uint8
from generation.trajectory import load_trajectory
from schemas.sampler import BINDINGS
from studio.kinds import TRAJECTORY
from studio.spec import JobSpec
from studio.ui import send
from studio.ui.common import Studio, enlarge, result_images, run_job

EXAMPLE = "a small red circle in the top left"


def strip(images: torch.Tensor) -> Image.Image:
    """(N, C, H, W) floats in [-1, 1] -> the N images side by side, enlarged."""
    row = torch.cat(list(to_uint8(images.clamp(-1, 1))), dim=-1).permute(1, 2, 0).numpy()
    return enlarge(Image.fromarray(row[..., 0] if row.shape[-1] == 1 else row).convert("RGB"))


def side_by_side(images: list[Image.Image]) -> Image.Image:
    out = Image.new("RGB", (sum(i.width for i in images), max(i.height for i in images)), "white")
    x = 0
    for image in images:
        out.paste(image, (x, 0))
        x += image.width
    return out


def layout(studio: Studio) -> SimpleNamespace:
    """The tab's components, by name."""
    with gr.Tab("Generate", id="generate"):
        with gr.Row():
            with gr.Column():
                prompt = gr.Textbox(EXAMPLE, label="Prompt", elem_id="gen-prompt")
                sampler = gr.Dropdown(studio.samplers, value=studio.sampler, label="Sampler", elem_id="gen-sampler")
                steps = gr.Slider(1, studio.max_steps, value=studio.num_steps, step=1, label="Steps", elem_id="gen-steps")
                guidance = gr.Slider(0, 10, value=studio.guidance_scale, step=0.1, label="Guidance", elem_id="gen-guidance")
                binding = gr.Dropdown(list(BINDINGS), value="none", label="Binding (each object its own colour)",
                                      elem_id="gen-binding")
                seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="gen-seed")
                batch = gr.Slider(1, 8, value=1, step=1, label="Batch", elem_id="gen-batch")
                run = gr.Button("Generate", variant="primary", elem_id="gen-run")
            with gr.Column():
                live = gr.Image(label="Image (live while it denoises)", interactive=False, format="png", elem_id="gen-live")
                status = gr.Markdown(elem_id="gen-status")
                sends = send.buttons("gen")
        entry = gr.State(None)
        scrub = gr.Slider(0, 1, value=0, step=1, label="Trajectory step", interactive=False, elem_id="gen-step")
        with gr.Row():
            xt = gr.Image(label="x_t at this step", interactive=False, format="png", elem_id="gen-xt")
            x0 = gr.Image(label="predicted x0 at this step", interactive=False, format="png", elem_id="gen-x0")
        with gr.Row():
            branch_prompt = gr.Textbox(EXAMPLE, label="Branch prompt", elem_id="branch-prompt")
            branch_seed = gr.Number(1, precision=0, minimum=0, label="Branch seed", elem_id="branch-seed")
            branch_run = gr.Button("Branch from here", elem_id="branch-run")
        with gr.Row():
            branched = gr.Image(label="Branch", interactive=False, format="png", elem_id="branch-image")
            with gr.Column():
                branch_status = gr.Markdown(elem_id="branch-status")
                branch_sends = send.buttons("branch")
        branch_entry = gr.State(None)
    return SimpleNamespace(**{k: v for k, v in locals().items() if k != "studio"})


def build(studio: Studio) -> SimpleNamespace:
    """The tab and its events; returns its components (the History tab fills in the form, results are sent on)."""
    ui = layout(studio)

    @functools.lru_cache(maxsize=8)
    def trajectory(entry: str):
        return load_trajectory(studio.history.folder(entry) / f"{TRAJECTORY}.safetensors")[0]

    def generate(prompt, sampler, steps, guidance, seed, batch, binding):
        spec = JobSpec(kind="generate", prompt=prompt, sampler=sampler, num_steps=int(steps), guidance_scale=float(guidance),
                       seed=int(seed or 0), batch=int(batch), binding=binding, progress_every=studio.progress_every)
        for frame, line, final in run_job(studio, spec):
            if final is None:
                yield frame, line, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        last = len(trajectory(final["entry"])) - 1  # 0 for a 1-step chain: nothing to scrub, but Gradio needs max > min
        yield (side_by_side(result_images(studio, final["entry"])), line, final["entry"],
               gr.Slider(0, max(last, 1), value=last, step=1, interactive=last > 0), *show(final["entry"], last), prompt)

    def show(entry, step):
        if not entry:
            return gr.skip(), gr.skip()
        chain = trajectory(entry)
        step = min(max(int(step), 0), len(chain) - 1)
        decode = studio.first_stage.decode
        return strip(decode(chain.x[step])), strip(decode(chain.x0[step]))

    def branch(entry, step, prompt, seed):
        if not entry:
            raise gr.Error("generate an image first, then branch from one of its steps")
        spec = JobSpec(kind="branch", parent=entry, step=int(step), prompt=prompt, seed=int(seed or 0),
                       progress_every=studio.progress_every)
        for frame, line, final in run_job(studio, spec):
            if final is None:
                yield frame, line, gr.skip()
            else:
                yield side_by_side(result_images(studio, final["entry"])), line, final["entry"]

    form, shown = [ui.prompt, ui.sampler, ui.steps, ui.guidance, ui.seed, ui.batch, ui.binding], [
        ui.live, ui.status, ui.entry, ui.scrub, ui.xt, ui.x0, ui.branch_prompt]
    ui.run.click(generate, form, shown)
    if studio.distilled:  # a few-step student answers as you type: each edit asks again; while one image is made,
        # only the newest of the edits that came meanwhile waits (trigger_mode always_last): a debounce by the model's pace
        for event in (ui.prompt.input, ui.seed.input, ui.guidance.input, ui.steps.input):
            event(generate, form, shown, trigger_mode="always_last", show_progress="hidden")
    ui.scrub.input(show, [ui.entry, ui.scrub], [ui.xt, ui.x0])  # the user's moves; generate() shows the last step itself
    ui.branch_run.click(branch, [ui.entry, ui.scrub, ui.branch_prompt, ui.branch_seed],
                        [ui.branched, ui.branch_status, ui.branch_entry])
    return ui
