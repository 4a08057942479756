"""The History tab: every saved result of <run>/studio/, newest first; clicking one shows its parameters
and loads them into the Generate tab's form."""
from __future__ import annotations

import json

import gradio as gr

from studio.ui.common import Studio

FORM_KEYS = ("prompt", "sampler", "num_steps", "guidance_scale", "seed", "batch")


def build(studio: Studio, form: dict) -> tuple:
    with gr.Tab("History", id="history") as tab:
        refresh = gr.Button("Refresh", elem_id="hist-refresh")
        gallery = gr.Gallery(label="Results, newest first", columns=6, allow_preview=False, elem_id="hist-gallery")
        details = gr.Code(label="Parameters", language="json", elem_id="hist-params")
        entries = gr.State([])

    def listing():
        found = studio.history.entries()[:200]
        items = []
        for entry in found:
            params, images = studio.history.params(entry), studio.history.images(entry)
            caption = f"{params['kind']}: {params['spec'].get('prompt', '')}"
            items.append((str(studio.history.file(entry, images[0].name)), caption) if images else None)
        kept = [(e, item) for e, item in zip(found, items) if item is not None]
        return [item for _, item in kept], [e for e, _ in kept]

    def pick(entries, event: gr.SelectData):
        params = studio.history.params(entries[event.index])
        spec = params["spec"]
        values = {**{k: spec.get(k) for k in FORM_KEYS}, "sampler": params["sampler"]["name"],
                  "num_steps": params["sampler"]["num_steps"], "guidance_scale": params["sampler"]["guidance_scale"]}
        return (json.dumps(params, indent=2, default=str), *(values[k] for k in FORM_KEYS))

    for trigger in (refresh.click, tab.select):
        trigger(listing, None, [gallery, entries])
    gallery.select(pick, [entries], [details, *(form[k] for k in FORM_KEYS)])
    return gallery, entries, listing
