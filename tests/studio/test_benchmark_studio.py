"""scripts/benchmark_studio.py: the studio's latency for runs side by side, without writing into the runs."""
import importlib.util
import sys
from pathlib import Path

from studio.history import History

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_studio.py"


def test_it_times_each_run_with_its_own_sampler_and_leaves_their_history_alone(tiny_run, tiny_student, monkeypatch, capsys):
    before = {run: History(run).entries() for run in (tiny_run, tiny_student)}
    spec = importlib.util.spec_from_file_location("benchmark_studio", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(sys, "argv", ["benchmark_studio.py", str(tiny_run), str(tiny_student), "--repeats", "1"])
    script.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| /", f"| {tiny_run}"))]
    assert len(rows) == 2
    assert "consistency, 2 steps" in rows[1] and "consistency" not in rows[0]
    assert all(float(row.split("|")[3]) > 0 for row in rows)
    assert {run: History(run).entries() for run in (tiny_run, tiny_student)} == before
