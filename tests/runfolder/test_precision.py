"""precision: auto -- fp32 where bf16 is emulated, measured where the CPU has bf16 instructions, the answer cached."""
import json
import time

import pytest
import torch
from safetensors.torch import load_file

import runfolder.precision as precision
from generation.loading import load_run, sampler_settings, sampling_precision
from runfolder.checkpoint import checkpoint_dirs
from runfolder.precision import measured_choice, time_precisions
from studio.jobs import JobRunner
from tests.test_train_autoencoder import run_autoencoder
from tests.training_harness import run_train


def fixed_timings(fp32_ms, bf16_ms, calls=None):
    def fake(measure):
        if calls is not None:
            calls.append(1)
        return {"fp32": fp32_ms, "bf16": bf16_ms}
    return fake


@pytest.mark.parametrize("fp32_ms, bf16_ms, expected", [(303, 406, "fp32"), (603, 398, "bf16"), (300, 290, "fp32")])
def test_bf16_is_chosen_only_where_it_is_clearly_faster(monkeypatch, fp32_ms, bf16_ms, expected):
    monkeypatch.setattr(precision, "time_precisions", fixed_timings(fp32_ms, bf16_ms))
    assert measured_choice(lambda p: None, None, "net")["precision"] == expected


@pytest.mark.parametrize("slow, expected", [("bf16", "fp32"), ("fp32", "bf16")])
def test_the_real_timer_picks_the_faster(slow, expected):
    assert measured_choice(lambda p: time.sleep(0.03 if p == slow else 0.0), None, "net")["precision"] == expected


def test_timing_warms_up_alternates_and_leaves_the_global_rng_alone():
    order = []
    state = torch.get_rng_state()

    def measure(p):
        order.append(p)
        torch.rand(3)

    ms = time_precisions(measure, repeats=2)
    assert order == ["fp32", "bf16"] * 3
    assert torch.equal(torch.get_rng_state(), state)
    assert set(ms) == {"fp32", "bf16"} and min(ms.values()) >= 0


def test_an_answer_is_kept_per_machine_threads_and_workload(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(precision, "time_precisions", fixed_timings(303.0, 406.0, calls))
    first = measured_choice(lambda p: None, tmp_path, "net-a")
    again = measured_choice(lambda p: None, tmp_path, "net-a")
    assert (first["cached"], again["cached"], len(calls)) == (False, True, 1)
    assert first["precision"] == again["precision"] == "fp32" and again["bf16_ms"] == 406.0
    assert measured_choice(lambda p: None, tmp_path, "net-b")["cached"] is False
    monkeypatch.setattr(torch, "get_num_threads", lambda: 97)
    assert measured_choice(lambda p: None, tmp_path, "net-a")["cached"] is False
    (tmp_path / precision.CACHE_FILE).write_text("{half a json")  # a damaged cache costs a measurement, not the run
    assert measured_choice(lambda p: None, tmp_path, "net-a")["cached"] is False
    assert len(calls) == 4


def test_without_bf16_instructions_auto_is_fp32_unmeasured(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    monkeypatch.setattr(precision, "time_precisions", lambda measure: pytest.fail("measured"))
    assert precision.resolve_precision("auto", torch.device("cpu"), measure=lambda p: None) == "fp32"


@pytest.fixture
def bf16_cpu(monkeypatch, tmp_path):
    """This CPU taken for one with bf16 instructions, and a precision cache of the test's own."""
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    monkeypatch.setattr(precision, "CACHE_FILE", f"precision_{tmp_path.name}.json")


def test_auto_times_the_real_step_then_trains_exactly_as_the_precision_it_chose(in_tmp, cache_dir, bf16_cpu, monkeypatch, caplog,
                                                                             capsys):
    caplog.set_level("INFO", logger="train")
    monkeypatch.setattr(precision, "BF16_MARGIN", 1e9)  # the real step is timed in both, and fp32 is chosen
    common = ["model.dropout=0.1", "p_uncond=0.3", "model.self_condition=true"]
    auto = run_train(["name=auto", "precision=auto", *common], cache_dir)
    assert "precision auto -> fp32" in caplog.text and "(timed now;" in caplog.text
    assert "device cpu  precision fp32  world 1" in caplog.text
    fixed = run_train(["name=fixed", "precision=fp32", *common], cache_dir)
    a, b = checkpoint_dirs(auto)[-1], checkpoint_dirs(fixed)[-1]
    for weights in ("model.safetensors", "ema.safetensors"):  # the timing left weights, data and RNG untouched
        x, y = load_file(a / weights), load_file(b / weights)
        assert all(torch.equal(x[k], y[k]) for k in x), weights
    caplog.clear()
    run_train(["name=auto_again", "precision=auto", "max_steps=1", *common], cache_dir)
    assert "precision auto -> fp32" in caplog.text and "(timed before on this machine;" in caplog.text
    loaded = load_run(auto, None, "ema", torch.device("cpu"))  # sampling measures a guided sampler step of its own
    settings = sampler_settings(loaded.cfg, loaded.schedule.num_timesteps)
    assert sampling_precision("auto", loaded, settings, 4) == "fp32"
    assert sampling_precision("bf16", loaded, settings, 4) == "bf16"
    assert len(json.loads((cache_dir / precision.CACHE_FILE).read_text())) == 2
    monkeypatch.setattr(precision, "BF16_MARGIN", 0.0)  # the studio's worker measures its own sampling batch
    assert JobRunner(auto, precision="auto").precision == "bf16"
    assert "studio: precision auto -> bf16" in capsys.readouterr().out
    assert JobRunner(auto, precision="fp32").precision == "fp32"


def test_auto_takes_bf16_where_it_is_faster_and_the_autoencoder_measures_too(in_tmp, cache_dir, bf16_cpu, monkeypatch, caplog):
    caplog.set_level("INFO", logger="train")
    monkeypatch.setattr(precision, "time_precisions", fixed_timings(603.0, 398.0))
    run_train(["name=auto_bf16", "precision=auto", "max_steps=1"], cache_dir)
    assert "device cpu  precision bf16  world 1" in caplog.text
    caplog.clear()
    run = run_autoencoder(["name=ae_auto", "precision=auto", "max_steps=1"], cache_dir)
    assert "precision auto -> bf16: a training step takes 603.0 ms in fp32, 398.0 ms in bf16" in caplog.text
    assert (checkpoint_dirs(run)[-1] / "config.yaml").read_text().count("precision: bf16") == 1
