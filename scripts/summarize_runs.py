"""Print a markdown table of runs: their newest full evaluation and the TensorBoard train/ scalars.

    python scripts/summarize_runs.py 'runs/ablate_*'        # a glob of experiment folders
"""
from __future__ import annotations

import glob
import json
import statistics
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def row(run: Path) -> str | None:
    evals = sorted(p for p in (run / "eval").glob("step_*.json") if "_n" not in p.stem) if (run / "eval").is_dir() else []
    if not evals:
        return None
    results = json.loads(evals[-1].read_text())
    scalars = EventAccumulator(str(run)).Reload()
    loss = statistics.mean(e.value for e in scalars.Scalars("train/loss")[-10:])  # the last 10 logged values
    img_s = statistics.median(e.value for e in scalars.Scalars("train/img_per_s"))
    losses = scalars.Scalars("train/loss")
    minutes = (losses[-1].wall_time - losses[0].wall_time) / 60  # training wall clock, previews and checkpoints included
    cells = [run.parent.name, str(results["step"]), f"{results['held_in/all']:.3f}", f"{results['held_out/all']:.3f}",
             f"{results['held_in/shape']:.3f}", f"{results['held_in/position']:.3f}", f"{loss:.4f}", f"{img_s:.0f}", f"{minutes:.1f}", evals[-1].stem.split("_", 2)[-1]]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    print("| run | steps | held-in all | held-out all | held-in shape | held-in position | final loss (last 10 logs) | img/s (median) | train minutes | sampler |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for pattern in sys.argv[1:] or ["runs/*"]:
        for folder in sorted(glob.glob(pattern)):
            for run in sorted(Path(folder).iterdir()):
                line = row(run) if run.is_dir() else None
                if line:
                    print(line)


if __name__ == "__main__":
    main()
