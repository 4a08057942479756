"""scripts/curves.py: in-training evaluation curves lined up by training images across batch sizes and seeds."""
from torch.utils.tensorboard import SummaryWriter

from scripts.curves import run_folders, table


def fake_run(folder, batch_size, values):
    """A run folder with its config and eval scalars {step: (held_in, held_out)}."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(f"batch_size: {batch_size}\n")
    writer = SummaryWriter(str(folder))
    for step, (held_in, held_out) in values.items():
        writer.add_scalar("eval/held_in/all", held_in, step)
        writer.add_scalar("eval/held_out/all", held_out, step)
    writer.close()


def test_runs_line_up_by_images_and_seeds_are_averaged(tmp_path):
    fake_run(tmp_path / "a_s0" / "t0", 32, {250: (0.5, 0.25), 500: (1.0, 0.75)})
    fake_run(tmp_path / "a_s1" / "t0", 32, {250: (0.0, 0.25), 500: (1.0, 1.0)})
    fake_run(tmp_path / "b" / "t0", 16, {500: (0.5, 0.5), 1000: (0.75, 0.5)})
    groups = {"a": run_folders(str(tmp_path / "a_s*")), "b": run_folders(str(tmp_path / "b"))}
    assert [run.parent.name for run in groups["a"]] == ["a_s0", "a_s1"]
    rows = table(groups, ("eval/held_in/all", "eval/held_out/all")).splitlines()
    assert rows[0] == "| training images | a: a_s0 | a: a_s1 | a: mean of 2 | b: b |"
    assert rows[2] == "| 8,000 | 0.50 / 0.25 | 0.00 / 0.25 | 0.25 / 0.25 | 0.50 / 0.50 |"
    assert rows[3] == "| 16,000 | 1.00 / 0.75 | 1.00 / 1.00 | 1.00 / 0.88 | 0.75 / 0.50 |"
