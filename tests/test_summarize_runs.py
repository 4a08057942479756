"""scripts/summarize_runs.py regenerates the compose table from run folders: one row per experiment, each
score as mean ± half-range over its seeds, reduced evaluations and other benchmarks left out."""
import json
import os
import subprocess
import sys

from torch.utils.tensorboard import SummaryWriter

from tests.training_harness import ROOT

CATEGORIES = ("two_objects", "colour_attribution", "position", "counting")


def _fake_run(folder, seed, score, benchmark="compose"):
    """A run folder with its seed, a full and a reduced evaluation, and a few train/ scalars."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(f"seed: {seed}\nname: {folder.parent.name}\n")
    (folder / "eval").mkdir()
    if benchmark == "compose":
        results = {f"{split}/{c}": score for split in ("held_in", "held_out") for c in (*CATEGORIES, "all")}
        results["overall"] = score
    else:
        results = {f"{split}/{a}": score for split in ("held_in", "held_out") for a in ("all", "shape", "position")}
    (folder / "eval" / "step_00000100_ddim50_g2.json").write_text(json.dumps({**results, "step": 100}))
    (folder / "eval" / "step_00000100_n36_ddim50_g2.json").write_text(json.dumps({**results, "overall": 0.0, "step": 100}))
    with SummaryWriter(str(folder)) as writer:
        for step in (50, 100):
            writer.add_scalar("train/loss", 0.1 * (seed + 1), step)
            writer.add_scalar("train/img_per_s", 100.0, step)


def test_compose_table_groups_seeds_into_mean_and_half_range(tmp_path):
    _fake_run(tmp_path / "runs" / "compose_a" / "t0", seed=0, score=0.5)
    _fake_run(tmp_path / "runs" / "compose_a" / "t1", seed=1, score=0.7)
    _fake_run(tmp_path / "runs" / "compose_b" / "t0", seed=0, score=0.9)
    _fake_run(tmp_path / "runs" / "compose_shapes" / "t0", seed=0, score=1.0, benchmark="shapes")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "summarize_runs.py"), "runs/compose_*", "--benchmark",
                           "compose"], cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    header, rule, *rows = done.stdout.strip().splitlines()
    assert header.count("|") == rule.count("|") and "held-in position" in header and "overall" in header
    cells = {row.split(" | ")[0].strip("| "): row.strip("| ").split(" | ") for row in rows}
    assert set(cells) == {"compose_a", "compose_b"}
    a, b = cells["compose_a"], cells["compose_b"]
    assert a[1] == "0,1" and a[2] == "100" and a[3:10] == ["0.600 ± 0.100"] * 7
    assert a[10] == "0.1500 ± 0.0500" and a[-1] == "ddim50_g2"
    assert b[1] == "0" and b[3:10] == ["0.900"] * 7
