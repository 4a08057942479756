"""Send a result to another tab with one click: every result (Generate, the editing tabs, a History entry) has
buttons that put its image into Image to image, Inpaint or Invert & edit and open that tab, as image web apps do.

Which image of an entry is "the result": the one its params name "result" or "edit" (inpaint keeps the input and
the mask beside it, invert the input and the reconstruction), else the first. The editors get it enlarged with
square pixels, so a mask can be brushed on it; it goes back to the model's size like any upload.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from PIL import Image

from studio.ui.common import Studio, enlarge

TARGETS = {"img2img": "to Image to image", "inpaint": "to Inpaint", "invert": "to Invert & edit"}


@dataclass
class Destinations:
    """The components a result can be sent into."""

    tabs: gr.Tabs
    img2img_canvas: gr.ImageEditor
    img2img_file: gr.File
    inpaint_editor: gr.ImageEditor
    inpaint_has_image: gr.State
    invert_file: gr.File


def buttons(prefix: str) -> dict[str, gr.Button]:
    """A row of send buttons, elem_id `<prefix>-send-<target>`."""
    with gr.Row():
        return {target: gr.Button(f"Send {label}", size="sm", elem_id=f"{prefix}-send-{target}")
                for target, label in TARGETS.items()}


def result_index(params: dict) -> int:
    names = params.get("images") or []
    return next((names.index(name) for name in ("edit", "result") if name in names), 0)


def wire(studio: Studio, sends: dict[str, gr.Button], entry: gr.State, to: Destinations) -> None:
    """Each button sends the image of the entry in `entry` (a history entry name, or None) and opens its tab."""
    def image(entry_name: str | None):
        if not entry_name:
            raise gr.Error("nothing to send yet: make a result first")
        paths = studio.history.images(entry_name)
        return paths[min(result_index(studio.history.params(entry_name)), len(paths) - 1)]

    def to_img2img(entry_name):
        shown = enlarge(Image.open(image(entry_name)).convert("RGB"))
        return gr.Tabs(selected="img2img"), {"background": shown, "layers": [], "composite": shown}, None

    def to_inpaint(entry_name):
        shown = enlarge(Image.open(image(entry_name)).convert("RGB"))
        layer = Image.new("RGBA", shown.size, (0, 0, 0, 0))  # an empty layer to brush the mask on
        return gr.Tabs(selected="inpaint"), {"background": shown, "layers": [layer], "composite": shown}, True

    def to_invert(entry_name):
        return gr.Tabs(selected="invert"), str(image(entry_name))

    sends["img2img"].click(to_img2img, [entry], [to.tabs, to.img2img_canvas, to.img2img_file])
    sends["inpaint"].click(to_inpaint, [entry], [to.tabs, to.inpaint_editor, to.inpaint_has_image])
    sends["invert"].click(to_invert, [entry], [to.tabs, to.invert_file])
