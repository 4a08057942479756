"""generation/loading.sampler_settings: a run's sampler with overrides from the command line or the studio."""
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from generation.loading import sampler_settings
from schemas import load_group_file
from schemas.check import ConfigError

SAMPLERS = Path(__file__).resolve().parents[2] / "configs" / "sampler"


def run_cfg(**sampler):
    return OmegaConf.create({"sampler": OmegaConf.merge(load_group_file(SAMPLERS / "ddim.yaml"), sampler)})


def test_naming_another_sampler_takes_its_solver_options_but_keeps_the_runs_guidance_and_binding():
    cfg = run_cfg(guidance_scale=1.5, guidance_interval=[0.2, 0.9], binding="syngen", num_steps=50)
    settings = sampler_settings(cfg, 500, sampler="dpm_solver_pp_2m")
    dpm = load_group_file(SAMPLERS / "dpm_solver_pp_2m.yaml")
    assert settings.name == "dpm_solver_pp_2m" and settings.num_steps == dpm.num_steps != 50
    assert settings.guidance_scale == 1.5 != dpm.guidance_scale
    assert list(settings.guidance_interval) == [0.2, 0.9] and settings.binding == "syngen"
    assert sampler_settings(cfg, 500, sampler="dpm_solver_pp_2m", guidance_scale=3.0).guidance_scale == 3.0


def test_an_unknown_sampler_is_one_line_naming_the_choices():
    with pytest.raises(ConfigError, match="unknown sampler 'euler'; valid choices: .*ddim"):
        sampler_settings(run_cfg(), 500, sampler="euler")
