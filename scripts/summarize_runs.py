"""Print a markdown table of shapes runs: their newest full evaluation and the TensorBoard train/ scalars.

    python scripts/summarize_runs.py 'runs/ablate_*'                      # a glob of experiment folders
    python scripts/summarize_runs.py 'runs/xa_*' --sampler ddim50_g3      # only evaluations with these settings
"""
from __future__ import annotations

import argparse
import glob
import json
import statistics
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def row(run: Path, sampler: str | None) -> str | None:
    """The run's newest full evaluation (with `sampler` settings, when given) and its training scalars."""
    evals = [p for p in run.glob("eval/step_*.json") if "_n" not in p.stem and (sampler is None or p.stem.endswith(sampler))]
    evals.sort(key=lambda p: (p.stem.split("_")[1], p.stat().st_mtime))
    if not evals:
        return None
    results = json.loads(evals[-1].read_text())
    if "held_in/all" not in results:  # a dataset other than shapes
        return None
    scalars = EventAccumulator(str(run)).Reload()
    loss = statistics.mean(e.value for e in scalars.Scalars("train/loss")[-10:])  # the last 10 logged values
    img_s = statistics.median(e.value for e in scalars.Scalars("train/img_per_s"))
    losses = scalars.Scalars("train/loss")
    minutes = (losses[-1].wall_time - losses[0].wall_time) / 60  # training wall clock, previews and checkpoints included
    cells = [run.parent.name, str(results["step"]), f"{results['held_in/all']:.3f}", f"{results['held_out/all']:.3f}",
             f"{results['held_in/shape']:.3f}", f"{results['held_in/position']:.3f}", f"{loss:.4f}", f"{img_s:.0f}", f"{minutes:.1f}", evals[-1].stem.split("_", 2)[-1]]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("patterns", nargs="*", default=["runs/*"])
    p.add_argument("--sampler", help="sampler tag of the evaluation files, e.g. ddim50_g3 (default: the newest)")
    a = p.parse_args()
    print("| run | steps | held-in all | held-out all | held-in shape | held-in position | final loss (last 10 logs) | img/s (median) | train minutes | sampler |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for pattern in a.patterns:
        for folder in sorted(glob.glob(pattern)):
            for run in sorted(Path(folder).iterdir()):
                line = row(run, a.sampler) if run.is_dir() else None
                if line:
                    print(line)


if __name__ == "__main__":
    main()
