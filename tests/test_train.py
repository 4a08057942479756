"""End-to-end behaviour of train.py on a tiny config, in-process."""

import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train as train_script
from runfolder.checkpoint import checkpoint_dirs, load_state
from schemas.check import ConfigError
from tests.fashion_fixture import write_fashion_fixture
from tests.training_harness import ROOT, TINY, compose_train, run_train


def test_a_run_writes_checkpoints_samples_and_tensorboard_logs(in_tmp, cache_dir):
    run = run_train(["name=smoke_test", "sample_every=3", "keep_checkpoints=1"], cache_dir)
    assert run.parent == in_tmp / "runs" / "smoke_test"
    assert [p.name for p in checkpoint_dirs(run)] == ["step_00000006"]
    assert {p.name for p in (run / "samples").iterdir()} == {"step_00000003.png", "step_00000006.png"}
    events = EventAccumulator(str(run), size_guidance={"images": 0, "tensors": 0}).Reload()
    tags = events.Tags()
    assert {"train/loss", "train/lr", "train/grad_norm", "train/img_per_s", "train/loss_t_q0"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("train/loss")] == [2, 4, 6]
    assert "samples/ema" in tags["images"] and {"config/text_summary", "samples/prompts/text_summary"} <= set(tags["tensors"])
    assert events.Images("samples/ema")[-1].width > 128


def _stop_after(monkeypatch, stop_step):
    """Make the loop see a stop request (as after SIGTERM) once `stop_step` steps are done."""
    import training.signals as signals

    calls = {"n": 0}

    def requested(self):
        calls["n"] += 1
        return calls["n"] >= stop_step

    monkeypatch.setattr(signals.StopRequest, "requested", property(requested))


@pytest.mark.parametrize("precision, extra", [("fp32", []), ("bf16", []), ("fp32", ["model.self_condition=true"])])
def test_resumed_training_is_bitwise_identical_to_uninterrupted(in_tmp, cache_dir, monkeypatch, precision, extra):
    common = [f"precision={precision}", "model.dropout=0.1", "p_uncond=0.3", "ckpt_every=100", "max_steps=6", *extra]
    straight = run_train(["name=straight", *common], cache_dir)
    with monkeypatch.context() as m:
        _stop_after(m, 3)
        split = run_train(["name=split", *common], cache_dir)
    assert [p.name for p in checkpoint_dirs(split)] == ["step_00000003"]
    resumed = run_train(["name=split", f"resume={split}", *common], cache_dir)
    assert resumed == split
    a, b = checkpoint_dirs(straight)[-1], checkpoint_dirs(split)[-1]
    assert a.name == b.name == "step_00000006"
    for weights in ("model.safetensors", "ema.safetensors"):
        x, y = load_file(a / weights), load_file(b / weights)
        assert all(torch.equal(x[k], y[k]) for k in x), weights
        assert x["conv_in.weight"].shape[1] == (6 if extra else 3)  # self-conditioning's second input is there
    sa, sb = load_state(a / "state.pt"), load_state(b / "state.pt")
    assert sa["position"] == sb["position"] == 6 * 8
    for k, v in sa["optimizer"]["state"].items():
        assert torch.equal(v["exp_avg_sq"], sb["optimizer"]["state"][k]["exp_avg_sq"])


def test_gradient_accumulation_matches_one_big_batch(in_tmp, cache_dir):
    one = run_train(["name=accum1", "grad_accum=1", "max_steps=3"], cache_dir)
    two = run_train(["name=accum2", "grad_accum=2", "max_steps=3"], cache_dir)
    x = load_file(checkpoint_dirs(one)[-1] / "model.safetensors")
    y = load_file(checkpoint_dirs(two)[-1] / "model.safetensors")
    assert all(torch.allclose(x[k], y[k], atol=1e-5) for k in x)  # equal up to summation order


def test_resume_auto_continues_the_latest_run_and_new_runs_refuse_a_used_folder(in_tmp, cache_dir):
    first = run_train(["name=auto_test", "max_steps=3"], cache_dir)
    again = run_train(["name=auto_test", "max_steps=6", "resume=auto"], cache_dir)
    assert again == first and checkpoint_dirs(first)[-1].name == "step_00000006"
    reused = compose_train(["name=auto_test", f"hydra.run.dir={first}"], cache_dir)
    with pytest.raises(ConfigError, match="already holds checkpoints; pass resume="):
        train_script.train(reused)


# ae_* experiments configure train_autoencoder.py, ldm_* ones need an autoencoder run and distill_* ones a teacher:
# tests/test_train_autoencoder.py, tests/test_latent_diffusion.py and tests/test_distill.py compose them.
EXPERIMENTS = sorted(p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml")
                     if not p.stem.startswith(("ae_", "ldm_", "distill_")))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_trains_a_step(in_tmp, cache_dir, experiment):
    text = (ROOT / "configs" / "experiment" / f"{experiment}.yaml").read_text()
    assert text.startswith("# @package _global_") and f"name: {experiment}\n" in text
    base = [o for o in TINY if "digits" not in experiment or not o.startswith("data.dataset.num_images")]
    if "fashion" in experiment:  # a tiny idx fixture stands in for the system package
        write_fashion_fixture(in_tmp / "fashion")
        base = [*base, f"data.dataset.root={in_tmp / 'fashion'}"]
    run = run_train([f"+experiment={experiment}", "max_steps=1", "ckpt_every=0"], cache_dir, base)
    assert run.parent.name == experiment and checkpoint_dirs(run)[-1].name == "step_00000001"


def test_multirun_puts_each_experiment_in_its_own_run_folder(in_tmp, cache_dir):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", "+experiment=xa_cos,sa_lin", *TINY, "max_steps=1",
                           f"cache_dir={cache_dir}"], cwd=in_tmp, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("xa_cos", "sa_lin"):
        (run,) = (in_tmp / "runs" / name).iterdir()
        assert checkpoint_dirs(run)[-1].name == "step_00000001"


@pytest.mark.parametrize("experiment, network, steps, guidance", [
    ("xa_cos", (True, "both", [8], 8), 1600, 1.5),                         # the default (guidance 1.5 since 12-03, 1 600 steps since 12-07)
    ("cross_only_cos", (False, "cross_attention", [16, 8], 32), 2500, 2.0),  # the default until 2026-11-23, kept as the ablation
    ("xa_compose", (True, "cross_attention", [16, 8], 32), 10000, 2.0),      # its figures' network, at the best budget (12-07)
])
def test_the_default_and_its_pinned_ablations_compose_to_their_recipes(in_tmp, cache_dir, experiment, network, steps,
                                                                      guidance):
    cfg = compose_train([f"+experiment={experiment}"], cache_dir, base=[])
    m = cfg.model
    got = (m.self_attention, m.context_injection, list(m.attention_resolutions), m.norm_groups)
    assert (got, cfg.max_steps, cfg.sampler.guidance_scale) == (network, steps, guidance)


def test_a_run_trained_on_another_encoder_layer_is_sampled_with_that_layer(in_tmp, cache_dir):
    from generation.loading import load_run

    run = run_train(["text_encoder.layer=-2", "max_steps=3"], cache_dir)
    loaded = load_run(run)
    encoder = loaded.cache.encoder
    assert encoder.layer == 5 and encoder.identity.endswith(":layer5")
    ids = encoder.tokenizer(["a large blue square"], return_tensors="pt")
    penultimate = encoder.model(**ids, output_hidden_states=True).hidden_states[5]
    context = loaded.cache.embed(["a large blue square"]).context[0, :penultimate.shape[1]]
    assert torch.allclose(context, penultimate[0], atol=1e-5)
