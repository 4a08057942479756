"""Images per second of runs under several sampler settings, measured back to back in one process.

    python scripts/benchmark_sampling.py runs/xa_cos/<t>:ddim:50 runs/xa_cos/<t>:dpm_solver_pp_2m:2 runs/distill_xa_cos/<t>:consistency:4

Each argument is RUN:SAMPLER:STEPS (the run's own guidance scale). Every setting generates the same batch of
shapes prompts from the same noise, after one warm-up batch, `--repeats` times in turn (so a slow spell of a shared
machine hits all alike), and prints the median images per second, the network calls per image, and the ratio to the
first setting. Run it alone on the machine; set OMP_NUM_THREADS to the cores it may use.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from data.shapes import combinations, prompt
from generation.loading import load_run, sampler_settings
from generation.sampling import make_generate


def calls_per_image(model, settings) -> int:
    """Network calls per image: one per step, two with classifier-free guidance (a student folds it into one)."""
    guided = settings.guidance_scale != 1 and not getattr(model, "guidance_embedding", False)
    return (settings.num_steps or 0) * (2 if guided else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="RUN:SAMPLER:STEPS, e.g. runs/xa_cos/<t>:ddim:50")
    parser.add_argument("--batch", type=int, default=36)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    held_in, _ = combinations()
    prompts = [prompt(**attrs) for attrs in held_in][: args.batch]
    setups = []
    for spec in args.settings:
        run, sampler, steps = spec.rsplit(":", 2)
        loaded = load_run(run)
        settings = sampler_settings(loaded.cfg, loaded.schedule.num_timesteps, sampler=sampler, num_steps=int(steps))
        generate = make_generate(loaded.model, loaded.schedule, loaded.cfg.prediction_type, loaded.cache, settings,
                                 loaded.shape, 0, torch.device("cpu"), first_stage=loaded.first_stage)
        generate(prompts)  # warm-up, and the prompts' embeddings cached
        setups.append((spec, loaded, settings, generate, []))
    for _ in range(args.repeats):
        for spec, loaded, settings, generate, seconds in setups:
            start = time.perf_counter()
            generate(prompts)
            seconds.append(time.perf_counter() - start)
    first = None
    print(f"| setting | calls per image | images/s | x the first | ({torch.get_num_threads()} threads, batch {args.batch}) |")
    print("| --- | --- | --- | --- | --- |")
    for spec, loaded, settings, generate, seconds in setups:
        rate = args.batch / statistics.median(seconds)
        first = first or rate
        print(f"| {spec.rsplit('/', 1)[-1] if ':' in spec else spec} ({settings.describe()}) | "
              f"{calls_per_image(loaded.model, settings)} | {rate:.1f} | {rate / first:.1f} | |")


if __name__ == "__main__":
    main()
