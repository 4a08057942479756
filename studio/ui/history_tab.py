"""The History tab: every saved result of <run>/studio/ as a thumbnail captioned with its kind and prompt, newest
first. Clicking one shows its parameters, loads them into the Generate tab's form, and lets it be sent on to the
editing tabs. An entry whose result.json cannot be read is left out and named in a line above the gallery, so one
damaged file never takes the tab down."""
from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr

from schemas.check import ConfigError
from studio.history import History
from studio.ui import send
from studio.ui.common import Studio

FORM_KEYS = {"prompt": "prompt", "sampler": "sampler", "num_steps": "steps", "guidance_scale": "guidance",
             "seed": "seed", "batch": "batch"}  # result.json's key -> the Generate tab's component
SHOWN = 200


def listing(history: History, limit: int = SHOWN) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(gallery items (thumbnail path, caption), their entries, one line per entry left out), newest first."""
    items, entries, broken = [], [], []
    for entry in history.entries()[:limit]:
        try:
            params, thumbnail = history.params(entry), history.thumbnail(entry)
            if thumbnail is None:
                raise ConfigError(f"history entry {entry} has no image")
            prompt = params["spec"].get("prompt") or params["spec"].get("source_prompt") or ""
            items.append((str(thumbnail), f"{params['kind']}: {prompt}"))
            entries.append(entry)
        except (ConfigError, KeyError, TypeError, AttributeError) as error:
            broken.append(str(error) if isinstance(error, ConfigError) else f"history entry {entry}: result.json lacks {error}")
    return items, entries, broken


def build(studio: Studio, generate: SimpleNamespace) -> SimpleNamespace:
    with gr.Tab("History", id="history") as tab:
        refresh = gr.Button("Refresh", elem_id="hist-refresh")
        skipped = gr.Markdown(elem_id="hist-skipped")
        gallery = gr.Gallery(label="Results, newest first", columns=8, height=340, object_fit="contain",
                             allow_preview=False, preview=False, fit_columns=False, elem_id="hist-gallery")
        sends = send.buttons("hist")
        details = gr.Code(label="Parameters", language="json", elem_id="hist-params")
        entries, chosen = gr.State([]), gr.State(None)

    def show():
        items, names, broken = listing(studio.history)
        line = f"left out {len(broken)} damaged entr{'y' if len(broken) == 1 else 'ies'}: " + "; ".join(broken) if broken else ""
        return items, names, line

    def pick(names, event: gr.SelectData):
        entry = names[event.index]
        try:
            params = studio.history.params(entry)
        except ConfigError as error:
            raise gr.Error(str(error)) from None
        spec = params["spec"]
        values = {**{k: spec.get(k) for k in FORM_KEYS}, "sampler": params["sampler"]["name"],
                  "num_steps": params["sampler"]["num_steps"], "guidance_scale": params["sampler"]["guidance_scale"]}
        return (json.dumps(params, indent=2, default=str), entry, *(values[k] for k in FORM_KEYS))

    for trigger in (refresh.click, tab.select):
        trigger(show, None, [gallery, entries, skipped])
    form = [getattr(generate, name) for name in FORM_KEYS.values()]
    gallery.select(pick, [entries], [details, chosen, *form])
    return SimpleNamespace(gallery=gallery, entries=entries, skipped=skipped, show=show, entry=chosen, sends=sends)
