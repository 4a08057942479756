"""Faults lose nothing: non-finite steps, signals, a kill while saving, and multi-process training."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

import train as train_script
from runfolder.checkpoint import checkpoint_dirs, load_state
from runfolder.precision import native_bf16
from tests.training_harness import ROOT, TINY, run_train
from training.loop import TrainingStopped


def test_non_finite_steps_are_skipped_and_then_training_stops(in_tmp, cache_dir, monkeypatch):
    real = train_script.training_losses
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        losses = real(*args, **kwargs)
        return losses * float("nan") if calls["n"] > 2 else losses

    monkeypatch.setattr(train_script, "training_losses", poisoned)
    with pytest.raises(TrainingStopped, match=r"stopped at step 6: 4 consecutive steps had a non-finite"):
        run_train(["name=nonfinite", "max_steps=20", "ckpt_every=2", "max_bad_steps=4"], cache_dir)
    run = next((in_tmp / "runs" / "nonfinite").iterdir())
    good, during = checkpoint_dirs(run)
    assert (good.name, during.name) == ("step_00000002", "step_00000004")
    for name in ("model.safetensors", "ema.safetensors"):  # the skipped steps changed nothing
        before, after = load_file(good / name), load_file(during / name)
        assert all(torch.isfinite(w).all() and torch.equal(w, after[k]) for k, w in before.items())


def _train_command(*overrides):
    return [sys.executable, str(ROOT / "train.py"), *TINY, *overrides]


def _env(cache_dir):
    return {**os.environ, "TEXTDIFFUSION_CACHE": str(cache_dir), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def test_sigterm_writes_a_final_checkpoint_and_exits_cleanly(in_tmp, cache_dir):
    proc = subprocess.Popen(_train_command("name=term", "max_steps=100000", "ckpt_every=0"), cwd=in_tmp,
                            env=_env(cache_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((in_tmp / "runs").glob("term/*/events.out.tfevents.*")):
        time.sleep(0.2)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output[-2000:]
    assert "SIGTERM received: saving a checkpoint" in output
    run = next((in_tmp / "runs" / "term").iterdir())
    step = load_state(checkpoint_dirs(run)[-1] / "state.pt")["step"]
    assert 0 < step < 100000
    log = (run / "train.log").read_text()  # the run's text log keeps what the console showed, and loss lines
    assert f"SIGTERM received: saving a checkpoint at step {step}" in log and f"finished at step {step}" in log
    assert "  loss " in log and f"checkpoint step {step} -> " in log


def test_sigkill_while_saving_leaves_the_previous_checkpoint_and_resume_auto_works(in_tmp, cache_dir):
    big = ["model.base_channels=64", "model.norm_groups=32", "model.attention_head_dim=32", "ckpt_every=2",
           "max_steps=100000", "keep_checkpoints=2"]
    proc = subprocess.Popen(_train_command("name=kill", *big), cwd=in_tmp, env=_env(cache_dir),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_during_save, deadline = False, time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        partial = list((in_tmp / "runs").glob("kill/*/checkpoints/.tmp_step_*"))
        if partial and checkpoint_dirs(partial[0].parent.parent):
            proc.send_signal(signal.SIGKILL)
            killed_during_save = True
            break
        time.sleep(0.001)
    proc.wait(timeout=60)
    assert killed_during_save, "never caught the process while it was saving"
    run = next((in_tmp / "runs" / "kill").iterdir())
    previous = checkpoint_dirs(run)[-1]
    load_file(previous / "model.safetensors")
    load_state(previous / "state.pt")
    done = subprocess.run(_train_command("name=kill", *big[:-2], f"max_steps={int(previous.name[5:]) + 2}",
                                         "resume=auto"), cwd=in_tmp, env=_env(cache_dir), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"resumed at step {int(previous.name[5:])}" in done.stdout
    assert not list(run.glob("checkpoints/.tmp_step_*"))


def test_torchrun_two_processes_match_one_process_and_resume(in_tmp, cache_dir):
    env = _env(cache_dir)
    common = ["max_steps=4", "ckpt_every=2", "log_every=1"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517"]
    ddp = subprocess.run(torchrun + _train_command("name=ddp", *common)[1:], cwd=in_tmp, env=env, capture_output=True, text=True)
    assert ddp.returncode == 0, ddp.stdout[-3000:] + ddp.stderr[-3000:]
    single = subprocess.run(_train_command("name=single", *common), cwd=in_tmp, env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-3000:]
    (ddp_run,), single_run = list((in_tmp / "runs" / "ddp").iterdir()), next((in_tmp / "runs" / "single").iterdir())
    assert [p.name for p in checkpoint_dirs(ddp_run)] == ["step_00000002", "step_00000004"]
    assert len(list(ddp_run.glob("events.out.tfevents.*"))) == 1  # only rank 0 logs
    a = load_file(checkpoint_dirs(ddp_run)[-1] / "model.safetensors")
    b = load_file(checkpoint_dirs(single_run)[-1] / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)  # same global batch, split over 2 ranks
    # precision=auto: where this CPU has bf16 instructions, rank 0 times the step and both ranks take its answer
    resumed = subprocess.run(torchrun + _train_command("name=ddp", "max_steps=6", "ckpt_every=2", "resume=auto",
                                                       "precision=auto")[1:], cwd=in_tmp, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert checkpoint_dirs(ddp_run)[-1].name == "step_00000006"
    assert ("precision auto -> " in resumed.stdout + resumed.stderr) == native_bf16(torch.device("cpu"))
