"""Every config key is typed and checked: a wrong value is one line naming the key, before any work.

Walks every key of every experiment's composed config, of each config group's files and of each
script config (all discovered from configs/, so new experiments, groups and keys are covered as they
land), sets a wrong-typed value (abc) and, for numbers, -1 where the schema excludes it, and checks the
command-line check rejects it with one line that names the key. A (key, declared type and range) pair
met again in another config is not tried twice. A few real runs of the scripts prove the CLI path.
"""
from __future__ import annotations

import copy
import subprocess
import sys
import typing

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from schemas.check import ConfigError, check_config, explain, spec
from schemas.fields import describe
from schemas.command_line import check_command_line
from tests.training_harness import ROOT

CONFIGS = ROOT / "configs"
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
GROUPS = {p.name: sorted(f.stem for f in p.glob("*.yaml")) for p in CONFIGS.iterdir()
          if p.is_dir() and p.name not in ("experiment", "hydra", "scripts")}
# The top-level config an experiment or a group belongs to: train.yaml, train_autoencoder.yaml for the
# autoencoder (its experiments override /autoencoder), or train_distill.yaml (its experiments set distill:).
AUTOENCODER_GROUPS = ("autoencoder",)


def top_config(experiment: str | None = None, group: str | None = None) -> str:
    if group in AUTOENCODER_GROUPS:
        return "train_autoencoder"
    if experiment and "override /autoencoder" in (CONFIGS / "experiment" / f"{experiment}.yaml").read_text():
        return "train_autoencoder"
    if experiment and "\ndistill:" in (CONFIGS / "experiment" / f"{experiment}.yaml").read_text():
        return "train_distill"
    return "train"
SCRIPTS = sorted(p.stem for p in (CONFIGS / "scripts").glob("*.yaml"))


def composed(config_dir, name, overrides):
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return compose(name, overrides=overrides)


def leaves(cfg: DictConfig, prefix=""):
    """Dotted keys of every value that is not a group of keys (lists included)."""
    for key in cfg.keys():
        full = f"{prefix}{key}"
        if not OmegaConf.is_missing(cfg, key) and isinstance(cfg._get_node(key), DictConfig):
            yield from leaves(cfg[key], f"{full}.")
        else:
            yield full


def is_missing(cfg, key: str) -> bool:
    parent, _, last = key.rpartition(".")
    return OmegaConf.is_missing(OmegaConf.select(cfg, parent) if parent else cfg, last)


def required(cfg) -> list[str]:
    """Values for the keys a config leaves at ??? (run=, prompts=, data_dir=), so the rest can be checked."""
    fills = {str: "x", typing.List[str]: "[x]", int: "1"}

    def fill(key):
        annotation, check = spec(cfg, key)
        if check is not None and not check.accepts(fills[annotation]):  # a choice (mode=...): its first value
            return check.what("").removeprefix("one of ").split(", ")[0]
        return fills[annotation]
    return [f"{key}={fill(key)}" for key in leaves(cfg) if is_missing(cfg, key)]


def check_value(cfg, key: str, value: str) -> None:
    """What check_command_line does for one more `key=value` than `cfg` was composed with, without
    composing again (~0.3 s each on 2 busy cores): Hydra's own step that applies a command line's
    values after merging the defaults list, then the same translation and schema walk."""
    cfg = copy.deepcopy(cfg)
    try:
        ConfigLoaderImpl._apply_overrides_to_config(OverridesParser.create().parse_overrides([f"{key}={value}"]), cfg)
    except Exception as error:
        explained = explain(error)
        if not str(explained).startswith(key):  # as in compose_checked: OmegaConf lost the key, so name it
            raise ConfigError(f"{key}={value}: expected {describe(*spec(cfg, key))}") from None
        raise explained from None
    check_config(cfg)


def _numeric(annotation) -> bool:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return annotation in (int, float) or any(_numeric(a) for a in args)


def bad_values(annotation, check) -> list[str]:
    """abc unless any string is fine; -1 (or [-1]) for numbers where the declared range excludes it."""
    values = [] if annotation in (str, typing.Optional[str]) and check is None else ["abc"]
    if _numeric(annotation):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)] if typing.get_origin(annotation) is typing.Union else [annotation]
        is_list = typing.get_origin(inner[0]) is list
        if not check.accepts([-1] if is_list else -1):
            values.append("[-1]" if is_list else "-1")
    return values


def configs_to_walk():
    """(config dir, config name, base overrides) for every experiment, every group file (on train.yaml's
    defaults) and every script config."""
    for experiment in EXPERIMENTS:
        yield CONFIGS, top_config(experiment=experiment), [f"+experiment={experiment}"]
    for group, choices in GROUPS.items():
        for choice in choices:
            yield CONFIGS, top_config(group=group), [f"{group}={choice}"]
    for script in SCRIPTS:
        yield CONFIGS / "scripts", script, []


def cases():
    seen = set()
    for config_dir, name, base in configs_to_walk():
        cfg = composed(config_dir, name, base)
        base = base + required(cfg)
        cfg = composed(config_dir, name, base)
        for key in leaves(cfg):
            found = spec(cfg, key)
            assert found is not None, f"{name} {base}: {key} has no schema (add it to the group's dataclass in schemas/)"
            annotation, check = found
            if _numeric(annotation):
                assert check is not None, f"{key}: a number with no declared range (schemas/fields.py; unbounded() if any value is valid)"
            for value in bad_values(annotation, check):
                if (key, id(check), str(annotation), value) not in seen:
                    seen.add((key, id(check), str(annotation), value))
                    yield cfg, name, base, key, value


def test_every_key_rejects_wrong_values_in_one_line():
    tried, failures = 0, []
    for cfg, name, base, key, value in cases():
        tried += 1
        try:
            check_value(cfg, key, value)
            failures.append(f"{name} {' '.join(base)} {key}={value}: accepted")
        except ConfigError as error:
            message = str(error)
            if "\n" in message or not (message.startswith(f"{key}=") or message.startswith(f"{key}[")):
                failures.append(f"{key}={value}: {message!r}")
    assert tried > 100 and not failures, "\n".join(failures)


@pytest.mark.parametrize("argv,message", [
    (["seed=abc"], "seed=abc: expected an integer >= 0"),
    (["ema_decay=abc"], "ema_decay=abc: expected a number in [0, 1)"),
    (["p_uncond=abc"], "p_uncond=abc: expected a number in [0, 1]"),
    (["p_uncond=1.5"], "p_uncond=1.5: expected a number in [0, 1]"),
    (["weight_decay=abc"], "weight_decay=abc: expected a number >= 0"),
    (["adam_beta2=1"], "adam_beta2=1: expected a number in [0, 1)"),
    (["grad_clip=abc"], "grad_clip=abc: expected a number >= 0"),
    (["precision=fp8"], "precision=fp8: expected one of auto, fp32, bf16, fp16"),
    (["sampler.guidance_scale=abc"], "sampler.guidance_scale=abc: expected a number >= 0"),
    (["text_encoder.max_length=-1"], "text_encoder.max_length=-1: expected a positive integer"),
    (["data.dataset.num_images=abc"], "data.dataset.num_images=abc: expected a positive integer"),
    (["model.norm_groups=-1"], "model.norm_groups=-1: expected a positive integer"),
    (["model.base_channels=abc"], "model.base_channels=abc: expected a positive integer"),
])
def test_the_issues_examples_through_the_command_line_check(argv, message):
    with pytest.raises(ConfigError) as info:
        check_command_line(argv, CONFIGS, "train")
    assert str(info.value) == message


def test_good_command_lines_pass_and_every_run_of_a_sweep_is_checked():
    check_command_line(["-m", "+experiment=xa_cos,sa_lin", "lr=1e-3,5e-4", "data=digits"], CONFIGS, "train")
    with pytest.raises(ConfigError, match=r"^lr=abc: expected a positive number$"):
        check_command_line(["-m", "+experiment=xa_cos,sa_lin", "lr=1e-3,abc"], CONFIGS, "train")


@pytest.mark.parametrize("argv,message", [
    (["model.base_chanels=3"], "model.base_chanels: no such key; did you mean model.base_channels?"),
    (["+model.base_chanels=3"], "model.base_chanels: no such key; did you mean model.base_channels?"),
    (["sampler=dpm_solver_pp_2m", "sampler.options.eta=1"], "sampler.options.eta: no such key; sampler.options takes no keys"),
    (["data=imagefolder"], "data.dataset.data_dir=???: expected a string (required: set data.dataset.data_dir=...)"),
    (["data.dataset.held_out=[[red,cube]]"], "data.dataset.held_out=[[red, cube]]: expected a list of [colour, shape] pairs"),
    (["data.dataset.held_out=[red]"], "data.dataset.held_out=[red]: expected a list of [colour, shape] pairs"),
    (["model.channel_mults=[1,a]"], r"model.channel_mults[1]=a: expected an integer"),
    (["sampler.guidance_interval=[0.8,0.2]"], "sampler.guidance_interval=[0.8, 0.2]: expected [low, high] with 0 <= low < high <= 1"),
    (["sampler.guidance_interval=[0.2]"], "sampler.guidance_interval=[0.2]: expected [low, high] with 0 <= low < high <= 1"),
    (["sampler.name=euler"], "sampler.name=euler: expected ddim (to change sampler: sampler=ddim|ddpm|dpm_solver_pp_2m|consistency)"),
    (["seed=${nope}"], "seed: Interpolation key 'nope' not found"),
])
def test_unknown_missing_and_structured_values(argv, message):
    with pytest.raises(ConfigError) as info:
        check_command_line(argv, CONFIGS, "train")
    assert str(info.value).startswith(message)


def test_the_command_lines_print_one_line_and_leave_no_run_folder(tmp_path):
    """The issue's examples, run for real (in parallel: each pays for importing torch)."""
    runs = [(["train.py", "seed=abc"], "seed=abc"),
            (["train.py", "-m", "+experiment=xa_cos,sa_lin", "model.norm_groups=-1"], "model.norm_groups=-1"),
            (["scripts/sample.py", "run=nowhere", "prompts=[a]", "guidance_scale=abc"], "guidance_scale=abc"),
            (["scripts/evaluate.py", "run=nowhere", "num_samples=-1"], "num_samples=-1")]
    started = [subprocess.Popen([sys.executable, str(ROOT / script), *args], cwd=tmp_path, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for (script, *args), _ in runs]
    for process, (_, key) in zip(started, runs):
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 2, stderr
        assert stderr.count("\n") == 1 and stderr.startswith(f"error: {key}: expected "), stderr
        assert "Traceback" not in stdout + stderr
    assert list(tmp_path.iterdir()) == []
