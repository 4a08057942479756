"""Print in-training evaluation curves against training images, one column per run, as a markdown table.

    python scripts/curves.py old='runs/r_old_s*' new='runs/r_xa_1250*'
    python scripts/curves.py --tag eval/held_out/all new='runs/r_xa_*'

Each LABEL=GLOB names a group of run folders (runs/<name>/<timestamp>/ or runs/<name>/, one per seed).
Training images = step x the run's batch_size (from its .hydra/config.yaml), so runs with different batch
sizes line up. Every cell is `held_in / held_out` of the all-attributes score (or one --tag) from the
TensorBoard event files the training loop wrote; the last column of each group is the mean over its seeds
where all of them were evaluated at that image count.
"""
from __future__ import annotations

import argparse
import glob
import statistics
from pathlib import Path

import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

DEFAULT_TAGS = ("eval/held_in/all", "eval/held_out/all")


def run_folders(pattern: str) -> list[Path]:
    """Run folders under a glob: those holding a .hydra/config.yaml, at the glob or one level below it."""
    found = []
    for path in sorted(Path(p) for p in glob.glob(pattern)):
        found += [path] if (path / ".hydra" / "config.yaml").exists() else sorted(
            p for p in path.iterdir() if (p / ".hydra" / "config.yaml").exists())
    return found


def curve(run: Path, tags: tuple[str, ...]) -> dict[int, tuple[float, ...]]:
    """{training images: (value of each tag)} at the steps where every tag was logged."""
    batch = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["batch_size"]
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    present = set(events.Tags()["scalars"])
    missing = [t for t in tags if t not in present]
    if missing:
        raise SystemExit(f"error: {run} has no scalar {missing[0]!r}; it has: {', '.join(sorted(present))}")
    by_tag = [{e.step: e.value for e in events.Scalars(t)} for t in tags]
    steps = set.intersection(*(set(values) for values in by_tag))
    return {step * batch: tuple(values[step] for values in by_tag) for step in sorted(steps)}


def cell(values: tuple[float, ...] | None) -> str:
    return "" if values is None else " / ".join(f"{v:.2f}" for v in values)


def table(groups: dict[str, list[Path]], tags: tuple[str, ...]) -> str:
    columns, curves = [], []
    for label, runs in groups.items():
        group = [curve(run, tags) for run in runs]
        for run, values in zip(runs, group):
            columns.append(f"{label}: {run.parent.name if run.parent.name != 'runs' else run.name}")
            curves.append(values)
        if len(group) > 1:
            shared = set.intersection(*(set(c) for c in group))
            columns.append(f"{label}: mean of {len(group)}")
            curves.append({n: tuple(statistics.mean(c[n][i] for c in group) for i in range(len(tags))) for n in shared})
    images = sorted(set().union(*curves))
    lines = ["| training images | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    lines += [f"| {n:,} | " + " | ".join(cell(c.get(n)) for c in curves) + " |" for n in images]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="+", help="LABEL=GLOB of run folders")
    parser.add_argument("--tag", action="append", help=f"scalar tag(s) to show (default: {', '.join(DEFAULT_TAGS)})")
    args = parser.parse_args()
    groups = {}
    for item in args.groups:
        label, sep, pattern = item.partition("=")
        if not sep:
            raise SystemExit(f"error: {item!r} is not LABEL=GLOB, e.g. old='runs/r_old_s*'")
        groups[label] = run_folders(pattern)
        if not groups[label]:
            raise SystemExit(f"error: {pattern!r} matches no run folder (a folder with .hydra/config.yaml)")
    print(table(groups, tuple(args.tag or DEFAULT_TAGS)))


if __name__ == "__main__":
    main()
