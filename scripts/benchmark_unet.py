"""Time one training step (forward + backward + AdamW) of our UNet against diffusers' UNet2DConditionModel
configured to the same widths, depth, attention placement, context length / dim and batch, on the same input.

    python scripts/benchmark_unet.py                       # eager and torch.compile'd, fp32 and bf16
    python scripts/benchmark_unet.py --eager-only          # skip compiling (a few minutes on 2 cores)
    python scripts/benchmark_unet.py --batch 64 --base-channels 64 --steps 20

Prints both parameter counts and the FLOPs of one step (forward + backward, counted by
torch.utils.flop_counter), a table of ms/step, img/s and achieved GFLOP/s, then
`compiled speedup fp32=<x> bf16=<y>` (unless --eager-only) and, last, one line
`speedup_vs_diffusers fp32=<x> bf16=<y>` (eager mode; diffusers time / our time).
diffusers is a development extra (`pip install -e .[dev]`), never a dependency of the product.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from models.unet import UNet


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--base-channels", type=int, default=32)
    p.add_argument("--channel-mults", default="1,2,2")
    p.add_argument("--num-res-blocks", type=int, default=1)
    p.add_argument("--attention-resolutions", default="16,8")
    p.add_argument("--attention-head-dim", type=int, default=32)
    p.add_argument("--context-len", type=int, default=16)
    p.add_argument("--context-dim", type=int, default=384)
    p.add_argument("--steps", type=int, default=24, help="timed steps per model and precision")
    p.add_argument("--rounds", type=int, default=6, help="alternations between the two models")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--eager-only", action="store_true", help="skip the torch.compile'd models")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args()


def build_ours(a) -> torch.nn.Module:
    return UNet(in_channels=3, base_channels=a.base_channels, channel_mults=a.mults, num_res_blocks=a.num_res_blocks,
                image_size=a.image_size, attention_resolutions=a.attn, self_attention=True,
                context_injection="cross_attention", context_dim=a.context_dim, attention_head_dim=a.attention_head_dim)


def build_diffusers(a) -> torch.nn.Module:
    """UNet2DConditionModel with the same layout: ADM scale-shift ResBlocks, Linear proj_in/out transformers
    (self-attn, cross-attn, GEGLU), attention at the same levels, the same head size."""
    from diffusers import UNet2DConditionModel

    sizes = [a.image_size // 2**level for level in range(len(a.mults))]
    has_attn = [s in a.attn for s in sizes]
    widths = [a.base_channels * m for m in a.mults]
    return UNet2DConditionModel(
        sample_size=a.image_size, in_channels=3, out_channels=3, block_out_channels=tuple(widths),
        layers_per_block=a.num_res_blocks,
        down_block_types=tuple("CrossAttnDownBlock2D" if h else "DownBlock2D" for h in has_attn),
        up_block_types=tuple("CrossAttnUpBlock2D" if h else "UpBlock2D" for h in reversed(has_attn)),
        mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=a.context_dim,
        attention_head_dim=tuple(w // a.attention_head_dim for w in widths),  # diffusers' legacy name: number of heads
        norm_num_groups=32, resnet_time_scale_shift="scale_shift", use_linear_projection=True,
        flip_sin_to_cos=True, freq_shift=0,
    )


class Trainer:
    """One model, its optimizer and its input, stepping forward + backward + AdamW."""

    def __init__(self, model, call, inputs, precision: str, device: str):
        self.model, self.call, self.inputs, self.precision = model, call, inputs, precision
        self.device_type = torch.device(device).type
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(self) -> float:
        """Seconds for one training step."""
        x, t, context, mask, target = self.inputs
        if self.device_type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            out = self.call(self.model, x, t, context, mask)
        (out.float() - target).pow(2).mean().backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.device_type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start


def step_flops(model, call, inputs) -> int:
    """FLOPs of one forward + backward (matmuls and convolutions, as torch.utils.flop_counter counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    x, t, context, mask, target = inputs
    with FlopCounterMode(display=False) as counter:
        (call(model, x, t, context, mask).float() - target).pow(2).mean().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def compare(trainers: dict, a) -> dict[str, float]:
    """Median seconds per step of each trainer. Rounds alternate between the models, so a slow spell of a
    shared machine hits both alike instead of whichever happened to run then."""
    for trainer in trainers.values():
        for _ in range(a.warmup):
            trainer.step()
    times = {name: [] for name in trainers}
    for _ in range(a.rounds):
        for name, trainer in trainers.items():
            times[name].extend(trainer.step() for _ in range(max(1, a.steps // a.rounds)))
    return {name: statistics.median(ts) for name, ts in times.items()}


def call_ours(model, x, t, context, mask):
    return model(x, t, context, mask)


def call_diffusers(model, x, t, context, mask):
    return model(x, t, encoder_hidden_states=context, encoder_attention_mask=mask).sample


def main() -> None:
    a = parse_args()
    a.mults = tuple(int(m) for m in a.channel_mults.split(","))
    a.attn = tuple(int(r) for r in a.attention_resolutions.split(",") if r)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.batch, 3, a.image_size, a.image_size, generator=g)
    inputs = (x, torch.randint(0, 1000, (a.batch,), generator=g), torch.randn(a.batch, a.context_len, a.context_dim, generator=g),
              torch.arange(a.context_len).expand(a.batch, -1) < torch.randint(4, a.context_len + 1, (a.batch, 1), generator=g),
              torch.randn_like(x))
    inputs = tuple(v.to(a.device) for v in inputs)
    builders = {"ours": (build_ours, call_ours), "diffusers": (build_diffusers, call_diffusers)}
    counts = {name: sum(p.numel() for p in build(a).parameters()) for name, (build, _) in builders.items()}
    flops = {name: step_flops(build(a).to(a.device), call, inputs) for name, (build, call) in builders.items()}
    print(f"device={a.device} threads={torch.get_num_threads()} batch={a.batch} image={a.image_size} widths="
          f"{[a.base_channels * m for m in a.mults]} res_blocks={a.num_res_blocks} attention_at={list(a.attn)} "
          f"context={a.context_len}x{a.context_dim}")
    print(f"parameters ours={counts['ours']:,} diffusers={counts['diffusers']:,} "
          f"(ratio {counts['ours'] / counts['diffusers']:.3f})")
    print(f"GFLOP/step ours={flops['ours'] / 1e9:.1f} diffusers={flops['diffusers'] / 1e9:.1f} (forward + backward)")
    modes = ["eager"] if a.eager_only else ["eager", "compiled"]
    median = {}
    print(f"{'model':<10} {'mode':<9} {'precision':<9} {'ms/step':>9} {'img/s':>8} {'GFLOP/s':>8}")
    for mode in modes:
        for precision in ("fp32", "bf16"):
            trainers = {}
            for name, (build, call) in builders.items():
                torch.manual_seed(0)
                model = build(a).to(a.device).train()
                trainers[name] = Trainer(model, torch.compile(call) if mode == "compiled" else call, inputs, precision, a.device)
            for name, seconds in compare(trainers, a).items():
                median[name, mode, precision] = seconds
                print(f"{name:<10} {mode:<9} {precision:<9} {seconds * 1e3:9.1f} {a.batch / seconds:8.1f} "
                      f"{flops[name] / seconds / 1e9:8.1f}", flush=True)
    ratio = {p: median["diffusers", "eager", p] / median["ours", "eager", p] for p in ("fp32", "bf16")}
    if not a.eager_only:
        compiled = {p: median["diffusers", "compiled", p] / median["ours", "compiled", p] for p in ("fp32", "bf16")}
        print(f"compiled speedup fp32={compiled['fp32']:.2f} bf16={compiled['bf16']:.2f}")
    print(f"speedup_vs_diffusers fp32={ratio['fp32']:.2f} bf16={ratio['bf16']:.2f}")


if __name__ == "__main__":
    main()
