"""Uploads, bounded before anything decodes them, on every path into the studio.

- The server: Gradio writes every upload to a temporary file (its HTTP cap, TRANSPORT_FACTOR times ours, only stops
  floods). Before a file is read, studio/codec.py measures its bytes, then its header's pixel count. The file boxes
  call `uploaded_file`; the two image editors are `BoundedImageEditor`s, whose background, layers and composite
  are measured the same way before Gradio's own preprocessing decodes them into arrays. This holds for the page
  and for any client of Gradio's API routes. A refusal is one line (gr.Error: a message in the page).
- The page: `guard_js` checks a file dropped or chosen in an editor or a file box before the component takes it
  (size, then the pixel count and whether the browser can read it at all), and says what is wrong in the note
  under it, at once.
"""
from __future__ import annotations

import io
from pathlib import Path

import gradio as gr

from schemas.check import ConfigError
from studio.codec import MAX_UPLOAD_PIXELS, check_upload_file, decode_image, encode_png, open_header, over_bytes

TRANSPORT_FACTOR = 4
GUARDED = {"inp-editor": "inp-editor-note", "i2i-canvas": "i2i-canvas-note", "i2i-file": "i2i-file-note",
           "inv-file": "inv-file-note", "att-file": "att-file-note"}  # an upload's elem_id -> its note's id


class BoundedImageEditor(gr.ImageEditor):
    """gr.ImageEditor whose every image (background, layers, composite) is refused over `max_upload_bytes` or
    MAX_UPLOAD_PIXELS before it is decoded. The page is the stock editor's (is_template)."""

    is_template = True
    max_upload_bytes: int = 4 * 1024 * 1024

    def convert_and_format_image(self, file, flatten_on_white: bool = False):
        if file is not None:
            try:
                if isinstance(file, (bytes, bytearray, memoryview)):
                    if len(file) > self.max_upload_bytes:
                        raise over_bytes("image", len(file), self.max_upload_bytes)
                    open_header(io.BytesIO(file), "image").close()
                else:
                    check_upload_file(file.path, "image", self.max_upload_bytes)
            except ConfigError as error:
                raise gr.Error(str(error)) from None
        try:
            return super().convert_and_format_image(file, flatten_on_white)
        except (OSError, SyntaxError, ValueError) as error:  # a truncated or corrupt file, found while decoding
            raise gr.Error(f"image: not an image file PIL can read ({type(error).__name__})") from None


def note(upload_id: str) -> gr.HTML:
    """The line under an editor or a file box where the page says what is wrong with a file dropped into it."""
    return gr.HTML(f'<div id="{GUARDED[upload_id]}" class="upload-note" role="status"></div>', padding=False)


def uploaded_file(path: str | None, key: str, max_bytes: int) -> str:
    """A file box's upload (Gradio's temporary path) -> base64 PNG: measured, then decoded (studio/codec.py)."""
    if path is None:
        raise gr.Error(f"no {key}: upload or draw one first")
    try:
        check_upload_file(path, key, max_bytes)
        return encode_png(decode_image(Path(path).read_bytes(), key, max_bytes))
    except ConfigError as error:
        raise gr.Error(str(error)) from None


def guard_js(max_bytes: int) -> str:
    """The page's check of a file dropped or chosen in an editor or a file box, run before the component sees it: a
    file that is too large, too many pixels or unreadable is kept from it and named in the note under it. The
    messages are the server's (studio/codec.py), so every tab says the same."""
    editors = ", ".join(f'"{k}": "{v}"' for k, v in GUARDED.items())
    return """() => {
  const MAX_BYTES = %d, MAX_PIXELS = %d, EDITORS = {%s};
  const editorOf = (node) => (node && node.closest) ? node.closest(Object.keys(EDITORS).map((id) => "#" + id).join(",")) : null;
  const say = (editor, text) => { const box = document.getElementById(EDITORS[editor.id]); if (box) box.textContent = text; };
  const problem = (file) => new Promise((resolve) => {
    if (file.size > MAX_BYTES)
      return resolve(`image: ${file.size} bytes is over the ${MAX_BYTES} byte upload limit (${MAX_BYTES / 1048576} MB)`);
    const url = URL.createObjectURL(file), img = new Image();
    img.onload = () => { URL.revokeObjectURL(url); const n = img.naturalWidth * img.naturalHeight;
      if (n > MAX_PIXELS)
        return resolve(`image: ${img.naturalWidth}x${img.naturalHeight} pixels is over the ${MAX_PIXELS} pixel limit (4096x4096)`);
      createImageBitmap(file).then((bitmap) => { bitmap.close(); resolve(null); },  // a truncated file fails only here
                                   () => resolve("image: not an image file the browser can read")); };
    img.onerror = () => { URL.revokeObjectURL(url); resolve("image: not an image file the browser can read"); };
    img.src = url;
  });
  const passed = new WeakSet();
  const guard = (event, files, replay) => {
    const editor = editorOf(event.target);
    if (!editor || !files || !files.length || passed.has(event)) return;
    event.stopImmediatePropagation(); event.preventDefault();
    problem(files[0]).then((text) => {
      say(editor, text || "");
      if (text) { if (event.target.value !== undefined) event.target.value = ""; return; }
      const again = replay(); passed.add(again); event.target.dispatchEvent(again);
    });
  };
  for (const type of ["change", "input"])
    document.addEventListener(type, (e) => guard(e, e.target.files, () => new Event(type, {bubbles: true})), true);
  document.addEventListener("drop", (e) => guard(e, e.dataTransfer && e.dataTransfer.files, () => {
    const dt = new DataTransfer(); for (const f of e.dataTransfer.files) dt.items.add(f);
    return new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: dt}); }), true);
}""" % (max_bytes, MAX_UPLOAD_PIXELS, editors)
