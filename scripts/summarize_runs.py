"""Print a markdown table of runs from their folders: their newest full evaluation and TensorBoard train/ scalars.

    python scripts/summarize_runs.py 'runs/ablate_*'                      # shapes: one row per run
    python scripts/summarize_runs.py 'runs/xa_*' --sampler ddim50_g3      # only evaluations with these settings
    python scripts/summarize_runs.py 'runs/compose_*' --benchmark compose # compose: one row per experiment

The compose table groups the runs of each experiment folder (runs/<name>/<timestamp>/, one per seed) and
prints every score as mean ± half-range over them: with two seeds each seed lies exactly at one end, and
two rows differ beyond their spread when their ranges do not overlap.
"""
from __future__ import annotations

import argparse
import glob
import json
import statistics
from pathlib import Path

import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

COMPOSE_COLUMNS = (("held_in/two_objects", "two objects"), ("held_in/colour_attribution", "colour attribution"),
                   ("held_in/position", "position"), ("held_in/counting", "counting"), ("held_in/all", "held-in all"),
                   ("held_out/all", "held-out all"), ("overall", "overall"))


def newest_eval(run: Path, sampler: str | None) -> tuple[Path, dict] | None:
    """The run's newest full evaluation file (with `sampler` settings, when given) and its results."""
    evals = [p for p in run.glob("eval/step_*.json") if "_n" not in p.stem and (sampler is None or p.stem.endswith(sampler))]
    evals.sort(key=lambda p: (p.stem.split("_")[1], p.stat().st_mtime))
    return (evals[-1], json.loads(evals[-1].read_text())) if evals else None


def training_scalars(run: Path) -> dict[str, float]:
    """loss: mean of the last 10 logged train/loss values; img_s: median train/img_per_s; minutes: training
    wall clock from the first to the last loss log (previews and checkpoints included)."""
    scalars = EventAccumulator(str(run)).Reload()
    losses = scalars.Scalars("train/loss")
    return {"loss": statistics.mean(e.value for e in losses[-10:]),
            "img_s": statistics.median(e.value for e in scalars.Scalars("train/img_per_s")),
            "minutes": (losses[-1].wall_time - losses[0].wall_time) / 60}


def shapes_row(run: Path, sampler: str | None) -> str | None:
    found = newest_eval(run, sampler)
    if found is None or "held_in/shape" not in found[1]:  # a dataset other than shapes
        return None
    path, results = found
    t = training_scalars(run)
    cells = [run.parent.name, str(results["step"]), f"{results['held_in/all']:.3f}", f"{results['held_out/all']:.3f}",
             f"{results['held_in/shape']:.3f}", f"{results['held_in/position']:.3f}", f"{t['loss']:.4f}",
             f"{t['img_s']:.0f}", f"{t['minutes']:.1f}", path.stem.split("_", 2)[-1]]
    return "| " + " | ".join(cells) + " |"


def spread(values: list[float], digits: int = 3) -> str:
    """mean ± half-range, e.g. "0.750 ± 0.050"; a single value has no spread to show."""
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(max(values) - min(values)) / 2:.{digits}f}"


def _seed(run: Path) -> str:
    config = run / ".hydra" / "config.yaml"
    return str(yaml.safe_load(config.read_text()).get("seed", "?")) if config.is_file() else "?"


def compose_row(name: str, runs: list[Path], sampler: str | None) -> str | None:
    """One experiment's row over its runs (seeds) that hold a full compose evaluation."""
    found = [(run, newest_eval(run, sampler)) for run in runs]
    found = [(run, f) for run, f in found if f is not None and "overall" in f[1]]
    if not found:
        return None
    results = [f[1] for _, f in found]
    scalars = [training_scalars(run) for run, _ in found]
    cells = [name, ",".join(sorted(_seed(run) for run, _ in found)),
             "/".join(sorted({str(r["step"]) for r in results}))]
    cells += [spread([r[key] for r in results]) for key, _ in COMPOSE_COLUMNS]
    cells += [spread([s["loss"] for s in scalars], 4), spread([s["minutes"] for s in scalars], 1),
              "/".join(sorted({f[0].stem.split("_", 2)[-1] for _, f in found}))]
    return "| " + " | ".join(cells) + " |"


def experiment_folders(patterns: list[str]) -> list[Path]:
    return [Path(folder) for pattern in patterns for folder in sorted(glob.glob(pattern)) if Path(folder).is_dir()]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("patterns", nargs="*", default=["runs/*"], help="globs of experiment folders (runs/<name>)")
    p.add_argument("--sampler", help="sampler tag of the evaluation files, e.g. ddim50_g3 (default: the newest)")
    p.add_argument("--benchmark", choices=("shapes", "compose"), default="shapes")
    a = p.parse_args(argv)
    folders = experiment_folders(a.patterns)
    if a.benchmark == "compose":
        titles = [title for _, title in COMPOSE_COLUMNS]
        print("| experiment | seeds | steps | " + " | ".join(f"held-in {t}" if i < 4 else t for i, t in enumerate(titles))
              + " | final loss | train minutes | sampler |")
        print("| --- " * (len(titles) + 6) + "|")
        for folder in folders:
            line = compose_row(folder.name, sorted(r for r in folder.iterdir() if r.is_dir()), a.sampler)
            if line:
                print(line)
        return
    print("| run | steps | held-in all | held-out all | held-in shape | held-in position | final loss (last 10 logs) | img/s (median) | train minutes | sampler |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for folder in folders:
        for run in sorted(folder.iterdir()):
            line = shapes_row(run, a.sampler) if run.is_dir() else None
            if line:
                print(line)


if __name__ == "__main__":
    main()
