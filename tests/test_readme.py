"""The README's commands run as written, so it cannot rot.

Every command in the README's bash blocks is taken out and handled by what it runs:
- the quick start is run end to end on `+experiment=smoke` (train, then the README's own sample and evaluate lines on
  that run, as subprocesses, as a newcomer would type them);
- every other train.py / train_autoencoder.py / scripts/*.py command is checked the way the script checks its own
  command line before any work (every run of a sweep composed and checked against the schemas), with `<timestamp>`
  and the input images filled in;
- installs and outside tools (pip, apt-get, tensorboard, redis-server, pytest) are listed and not run.
A command of a kind not listed here fails the test, so a new one cannot slip past.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from schemas.command_line import check_command_line
from training.validate import check_resume_argument

ROOT = Path(__file__).resolve().parents[1]
NOT_RUN = ("python3 -m venv", "pip install", "apt-get install", "tensorboard ", "redis-server", "python -m pytest")
SCRIPT_CONFIGS = {name: (ROOT / "configs", name.removesuffix(".py")) for name in ("train.py", "train_autoencoder.py", "train_distill.py")}


def readme_commands() -> list[str]:
    """Each command line of the README's ```bash blocks, its trailing comment removed."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [re.sub(r"\s+#.*$", "", line) for line in lines if line and not line.startswith("#")]


def script_of(command: str) -> tuple[str, list[str]]:
    """('train.py' or 'scripts/NAME.py', its arguments) of a python or torchrun command."""
    words = shlex.split(command)
    at = next(i for i, w in enumerate(words) if w.endswith(".py"))
    return words[at], words[at + 1:]


def fill(argv: list[str], run: Path, inputs: Path) -> list[str]:
    """The README's placeholders made real: <timestamp> runs, the input images, the trajectory folder."""
    def one(arg: str) -> str:
        key, _, value = arg.partition("=")
        if "<timestamp>" in value:
            return f"{key}={run}"
        if key in ("image", "mask"):
            return f"{key}={inputs / value}"
        if key == "trajectory":
            return f"{key}={inputs / value}"
        return arg
    return [one(a) for a in argv]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The quick start's training line on the smoke experiment, run as a subprocess in a fresh folder."""
    folder = tmp_path_factory.mktemp("readme")
    train = next(c for c in readme_commands() if c.startswith("python train.py +experiment=xa_cos"))
    assert train == "python train.py +experiment=xa_cos", "the quick start trains the default as it is"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "TEXTDIFFUSION_CACHE": os.environ.get("TEXTDIFFUSION_CACHE", str(folder / ".cache"))}
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "+experiment=smoke"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, next((folder / "runs" / "smoke").iterdir()), env


def test_every_readme_command_is_of_a_known_kind():
    for command in readme_commands():
        if command.startswith(NOT_RUN):
            continue
        script, _ = script_of(command)
        assert script in SCRIPT_CONFIGS or (script.startswith("scripts/") and (ROOT / script).is_file()), command


def test_the_quick_start_trains_samples_and_evaluates(smoke_run):
    folder, run, env = smoke_run
    assert (run / "checkpoints").is_dir() and list(run.glob("events.out.tfevents.*"))
    sample = next(c for c in readme_commands() if c.startswith("python scripts/sample.py run=runs/xa_cos/<timestamp> prompts="))
    evaluate = next(c for c in readme_commands() if c.startswith("python scripts/evaluate.py run=runs/xa_cos/<timestamp>"))
    for command in (sample, evaluate):
        script, argv = script_of(command)
        done = subprocess.run([sys.executable, str(ROOT / script), *fill(argv, run, folder)], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
    samples = sorted(run.glob("samples/sample_*"))
    assert samples and {p.name for p in samples[-1].iterdir()} == {"000.png", "001.png", "grid.png"}
    assert [p for p in run.glob("eval/step_00000030_*.json") if "_n" not in p.stem]


def test_every_other_command_passes_its_scripts_own_checks(smoke_run, tmp_path):
    _, run, _ = smoke_run
    Image.new("RGB", (32, 32)).save(tmp_path / "in.png")
    Image.new("L", (32, 32)).save(tmp_path / "mask.png")
    checked = 0
    for command in readme_commands():
        if command.startswith(NOT_RUN):
            continue
        script, argv = script_of(command)
        argv = fill(argv, run, tmp_path)
        if script in SCRIPT_CONFIGS:
            check_resume_argument(argv)
            check_command_line(argv, *SCRIPT_CONFIGS[script])
        elif (ROOT / "configs" / "scripts" / f"{Path(script).stem}.yaml").is_file():
            check_command_line(argv, ROOT / "configs" / "scripts", Path(script).stem)
        else:  # argparse scripts (summarize_runs.py, benchmark_unet.py): their --help lists what they take
            done = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True, timeout=120)
            assert done.returncode == 0 and all(a.split("=")[0] in done.stdout for a in argv if a.startswith("--")), command
        checked += 1
    assert checked >= 30
