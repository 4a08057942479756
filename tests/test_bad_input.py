"""Bad input costs a second: a clear one-line error naming the value and the choices, before any work."""
import shutil
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from runfolder.checkpoint import checkpoint_dirs
from runfolder.device import check_precision
from runfolder.precision import native_bf16, resolve_precision
from schemas.check import ConfigError
from tests.training_harness import ROOT, TINY, compose_train, run_train
from train import train
from training.validate import preflight


@pytest.mark.parametrize("overrides,message", [
    (["data.dataset.image_size=10", "model.channel_mults=[1,2,2]"], "image_size 10 is not divisible by the U-Net's total downsampling 4"),
    (["model.attention_resolutions=[16]"], r"attention_resolutions \[16\] are not feature-map sizes of a 8x8 input; valid sizes: \[8, 4\]"),
    (["schedule.name=cosin"], "schedule.name=cosin: expected one of linear, cosine, scaled_linear, sigmoid"),
    (["sampler.name=euler"], r"sampler.name=euler: expected ddim \(to change sampler: sampler=ddim\|ddpm\|dpm_solver_pp_2m\|consistency\)"),
    (["precision=fp8"], "precision=fp8: expected one of auto, fp32, bf16, fp16"),
    (["prediction_type=noise"], "prediction_type=noise: expected one of eps, x0, v"),
    (["p_uncond=1.5"], r"p_uncond=1.5: expected a number in \[0, 1\]"),
    (["p_uncond=-0.1"], r"p_uncond=-0.1: expected a number in \[0, 1\]"),
    (["lr=0"], "lr=0: expected a positive number"),
    (["batch_size=0"], "batch_size=0: expected a positive integer"),
    (["max_steps=-5"], "max_steps=-5: expected a positive integer"),
    (["sampler.num_steps=51"], "num_steps must be between 1 and the schedule's T=50, got 51"),
    (["model.context_injection=concat"], "model.context_injection=concat: expected one of cross_attention, add_pooled, both"),
    (["batch_size=6", "grad_accum=4"], "batch_size=6 must be divisible by world_size x grad_accum = 4"),
    (["schedule.zero_terminal_snr=true", "prediction_type=eps"], "needs prediction_type v or x0"),
    (["precision=fp16"], "precision=fp16 needs a CUDA device"),
    (["device=cuda"] if not torch.cuda.is_available() else ["device=nonsense"], "device="),
    (["data.evaluator=fid"], "data.evaluator=fid: expected one of shapes, digits, compose, fashion or null"),
    (["grad_clip=-1"], "grad_clip=-1: expected a number >= 0"),
    (["min_lr_ratio=2"], r"min_lr_ratio=2: expected a number in \[0, 1\]"),
    (["eval_samples=0"], "eval_samples=0: expected a positive integer"),
    (["text_encoder=distilbert", "text_encoder.pretrained=/no/such/folder"], "text_encoder: could not load the distilbert"),
])
def test_bad_training_config_fails_before_any_work(in_tmp, cache_dir, overrides, message):
    cfg = compose_train(["name=bad", *overrides], cache_dir)
    with pytest.raises(ConfigError, match=message) as info:
        train(cfg)
    assert "\n" not in str(info.value)
    assert not list(in_tmp.glob("runs/bad/*/checkpoints"))


def test_a_dataset_that_cannot_load_is_a_one_line_error(in_tmp, cache_dir):
    base = [o for o in TINY if not o.startswith("data.")]
    cfg = compose_train(["name=bad", "data=imagefolder", "data.dataset.data_dir=/no/such/folder", "data.dataset.image_size=8"],
                        cache_dir, base)
    with pytest.raises(ConfigError, match="data: image folder '/no/such/folder' does not exist"):
        train(cfg)


def test_command_line_errors_are_one_line_without_traceback(tmp_path):
    for args, message in [(["schedule=cosin"], "unknown schedule 'cosin'; valid choices: cosine, linear, scaled_linear, sigmoid"),
                          (["text_encoder=bert"], "unknown text_encoder 'bert'; valid choices: clip, distilbert, minilm"),
                          (["data=cifar"], "unknown data 'cifar'; valid choices: compose, digits, fashion, hub, imagefolder, shapes"),
                          (["+experiment=xa_coss"], "unknown experiment 'xa_coss'"),
                          (["p_uncond=2"], "p_uncond=2: expected a number in [0, 1]"),
                          ([f"resume={tmp_path / 'nowhere'}"], "no checkpoint in")]:
        done = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and message in done.stderr
        assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "runs").exists()


def test_resume_of_a_foreign_run_is_refused(in_tmp, cache_dir):
    run = run_train(["name=original", "max_steps=2", "ckpt_every=1"], cache_dir)
    cfg = compose_train(["name=original", f"resume={run}", "model.base_channels=32"], cache_dir)
    with pytest.raises(ConfigError, match=r"trained with another config: model.base_channels \(16 -> 32\)"):
        train(cfg)


def test_a_run_saved_before_a_model_argument_existed_resumes_at_its_default(in_tmp, cache_dir):
    """Checkpoints written before model.context_refiner_layers existed lack the key: at the constructor's
    default (0) the network is the same and the run resumes; at another value it is refused."""
    run = run_train(["name=older", "max_steps=2", "ckpt_every=1"], cache_dir)
    for checkpoint in (run / "checkpoints").iterdir():
        config = OmegaConf.load(checkpoint / "config.yaml")
        del config.model["context_refiner_layers"]
        OmegaConf.save(config, checkpoint / "config.yaml")
    cfg = compose_train(["name=older", f"resume={run}", "max_steps=3", "model.context_refiner_layers=1"], cache_dir)
    with pytest.raises(ConfigError, match=r"model.context_refiner_layers \(None -> 1\)"):
        train(cfg)
    train(compose_train(["name=older", f"resume={run}", "max_steps=3"], cache_dir))
    assert checkpoint_dirs(run)[-1].name == "step_00000003"


def test_fp16_and_bf16_need_a_device_that_has_them():
    check_precision("bf16", torch.device("cpu"))
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        check_precision("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError, match="bf16 autocast is not supported on mps"):
        check_precision("bf16", torch.device("mps"))


def test_auto_precision_is_bf16_only_where_the_hardware_has_it(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    for avx512_bf16, amx, expected in ((False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        assert native_bf16(cpu) == (expected == "bf16")
        assert resolve_precision("auto", cpu) == expected
    assert resolve_precision("auto", torch.device("mps")) == "fp32"


def test_preflight_accepts_good_choices_and_multirun_lists():
    preflight(["-m", "+experiment=xa_cos,sa_lin", "schedule=linear", "model.base_channels=8", "resume=auto"], ROOT / "configs")
    with pytest.raises(ConfigError, match="unknown sampler 'dpm'"):
        preflight(["sampler=dpm"], ROOT / "configs")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample_run")
    cache = tmp_path_factory.mktemp("sample_cache")
    import os

    old = os.getcwd()
    os.chdir(folder)
    try:
        return run_train(["name=for_sampling", "max_steps=2", "ckpt_every=1"], cache)
    finally:
        os.chdir(old)


def _sample(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "sample.py"), *args], cwd=cwd, capture_output=True, text=True)


def test_sample_script_errors(trained_run, tmp_path):
    cases = [([f"run={tmp_path / 'missing'}", "prompts=[a]"], "no such run folder"),
             ([f"run={trained_run}", "prompts=[]"], "prompts=[]: expected a non-empty list of prompts"),
             ([f"run={trained_run}", "prompts=[a]", "num_steps=500"], "num_steps must be between 1 and the schedule's T=50"),
             ([f"run={trained_run}", "prompts=[a]", "sampler=euler"], "sampler=euler: expected one of ddim, ddpm, dpm_solver_pp_2m, consistency or null"),
             ([f"run={trained_run}", "prompts=[a]", "weights=best"], "weights=best: expected one of ema, model")]
    for args, message in cases:
        done = _sample(*args, cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_sample_script_refuses_a_checkpoint_of_an_incompatible_config(trained_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    config = checkpoint_dirs(copy)[-1] / "config.yaml"
    cfg = OmegaConf.load(config)
    cfg.model.base_channels = 32
    OmegaConf.save(cfg, config)
    done = _sample(f"run={copy}", "prompts=[a]", cwd=tmp_path)
    assert done.returncode == 2 and "does not fit this model" in done.stderr and "ema.safetensors" in done.stderr, done.stderr


def test_odd_prompts_work(trained_run, tmp_path):
    prompts = ["", "   ", "ein großer roter Kreis ✓", "word " * 80]
    done = _sample(f"run={trained_run}", f"prompts={prompts!r}".replace("'", '"'), f"out={tmp_path / 'o'}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["000.png", "001.png", "002.png", "003.png", "grid.png"]
    assert done.stderr.count("truncated") == 1
