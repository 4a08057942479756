"""Runs compare in TensorBoard's HPARAMS tab: read back through the HParams plugin's own backend, two
runs are two trials with their hyper-parameters and their final evaluation as metrics, in their own
run folders (no extra sub-runs)."""
import json

from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import backend_context, metadata, plugin_data_pb2
from omegaconf import OmegaConf

from tests.training_harness import run_train
from training.logger import hparams_of


def test_hparams_are_the_flattened_recipe_with_lists_and_nulls_as_text():
    cfg = OmegaConf.create({"lr": 1e-3, "min_snr_gamma": None, "cache_dir": "/x", "compile": False,
                            "model": {"channel_mults": [1, 2], "base_channels": 16},
                            "data": {"preview_prompts": ["a"], "dataset": {"held_out": [["blue", "triangle"]]}}})
    assert hparams_of(cfg) == {"lr": 1e-3, "min_snr_gamma": "null", "compile": False, "model.channel_mults": "[1, 2]",
                               "model.base_channels": 16, "data.dataset.held_out": '[["blue", "triangle"]]'}


def _hparams_backend(logdir):
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(logdir))
    return mux, backend_context.Context(base_plugin.TBContext(logdir=str(logdir), data_provider=provider, multiplexer=mux))


def test_two_runs_compare_in_the_hparams_tab(in_tmp, cache_dir):
    common = ["max_steps=2", "eval_every=2", "eval_samples=4", "ckpt_every=0"]
    # each its own folder: two runs started within one second would share a timestamped one
    runs = {lr: run_train([f"lr={lr}", f"hydra.run.dir=runs/default/lr{lr}", *common], cache_dir) for lr in (0.001, 0.002)}
    mux, backend = _hparams_backend(in_tmp / "runs")
    names = {lr: str(run.relative_to(in_tmp / "runs")) for lr, run in runs.items()}
    assert set(mux.Runs()) == set(names.values())  # no sub-run folders

    ctx = context.RequestContext()
    tags = backend.hparams_metadata(ctx, "")
    assert set(tags) == set(names.values()) and all(set(t) == {metadata.SESSION_START_INFO_TAG} for t in tags.values())
    for lr, name in names.items():
        start = plugin_data_pb2.HParamsPluginData.FromString(tags[name][metadata.SESSION_START_INFO_TAG]).session_start_info
        assert start.hparams["lr"].number_value == lr and start.hparams["name"].string_value == "default"
        assert start.hparams["model.base_channels"].number_value == 16 and "cache_dir" not in start.hparams

    experiment = backend.experiment_from_metadata(ctx, "", True, tags, backend.hparams_from_data_provider(ctx, "", limit=None))
    differing = {h.name for h in experiment.hparam_infos if h.differs}
    assert differing == {"lr"}
    metrics = {(m.name.group, m.name.tag) for m in experiment.metric_infos}
    assert {("", "eval/held_in/all"), ("", "eval/held_out/shape")} <= metrics

    for run in runs.values():  # the tab's metric value is the last scalar: the final evaluation
        (final,) = run.glob("eval/step_00000002_*.json")
        logged = EventAccumulator(str(run)).Reload().Scalars("eval/held_in/all")[-1]
        assert logged.step == 2 and abs(logged.value - json.loads(final.read_text())["held_in/all"]) < 1e-6
