"""Few-step students: the maths of both distillation methods, one network call per student step with guidance
folded in, and train_distill.py end to end on a tiny teacher (resume bitwise, the teacher untouched, the student's
run read by the scripts and the studio like any run)."""
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from safetensors.torch import load_file

import train_distill
from diffusion.distillation import (
    consistency_distillation_loss,
    ddim_to,
    halving_targets,
    progressive_distillation_loss,
)
from diffusion.forward import q_sample
from diffusion.samplers import consistency
from diffusion.schedules import get_schedule
from diffusion.timesteps import sampling_timesteps
from generation.loading import load_run, sampler_settings
from generation.sampling import fixed_noise, prompt_model_fn, sample_images
from models.unet import UNet
from runfolder.checkpoint import checkpoint_dirs
from tests.conftest import TINY_UNET, text_condition, tiny_unet
from tests.test_train import _stop_after
from tests.training_harness import ROOT, compose_train, run_train
from training.distill_build import progressive_stages

TINY_DISTILL = ["batch_size=8", "max_steps=6", "warmup_steps=2", "log_every=2", "sample_every=0", "ckpt_every=3",
                "eval_every=0", "precision=fp32", "sampler.num_steps=2", "distill.skip=5"]


class Counting(torch.nn.Module):
    """A network wrapper that counts its calls and the images it was called on."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls, self.images = net, 0, 0
        self.guidance_embedding = getattr(net, "guidance_embedding", False)

    def forward(self, x, t, **kwargs):
        self.calls, self.images = self.calls + 1, self.images + len(x)
        return self.net(x, t, **kwargs)


def test_a_student_made_from_a_teacher_starts_as_its_conditional_network():
    teacher, student = tiny_unet(seed=3), UNet(**TINY_UNET, guidance_embedding=True).eval()  # as train_distill makes it
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("guidance_embed.") for k in missing)
    context, mask, pooled = text_condition(2)
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10, 40])
    assert torch.equal(student(x, t, context, mask, pooled, guidance_scale=torch.tensor([1.0, 7.0])),
                       teacher(x, t, context, mask, pooled))


def test_one_consistency_step_is_one_network_call_per_image_and_returns_its_x0():
    schedule = get_schedule("cosine", 50)
    net = Counting(tiny_unet(guidance_embedding=True))
    context, mask, pooled = text_condition(3)
    model_fn = lambda x, t: net(x, t, context=context, context_mask=mask, pooled=pooled,  # noqa: E731
                                guidance_scale=torch.full((3,), 2.0))
    x = torch.randn(3, 3, 8, 8)
    out = consistency(model_fn, x, schedule, prediction_type="v", num_steps=1, clip_x0=False)
    assert (net.calls, net.images) == (1, 3)
    a, s = schedule.alpha_bar[49].sqrt(), (1 - schedule.alpha_bar[49]).sqrt()
    assert torch.allclose(out, a * x - s * model_fn(x, torch.full((3,), 49)), atol=1e-5)


def test_folded_guidance_is_one_call_on_the_batch_and_the_teachers_is_two(tmp_path):
    from omegaconf import OmegaConf

    from models.text_encoder import minilm
    from runfolder.embedding_cache import EmbeddingCache
    from schemas import load_group_file
    encoder = minilm(max_length=16)
    cache = EmbeddingCache(encoder, tmp_path)
    settings = sampler_settings(OmegaConf.create({"sampler": load_group_file(ROOT / "configs" / "sampler" / "ddim.yaml")}), 50,
                                guidance_scale=2.0, num_steps=4)
    prompts, counts = ["a red circle", "a blue square"], {}
    for name, guided in (("student", True), ("teacher", False)):
        net = Counting(tiny_unet(guidance_embedding=guided, context_dim=encoder.dim))
        sample_images(net, get_schedule("cosine", 50), "v", cache, prompts, settings, fixed_noise(2, 3, 8, 0, "cpu"))
        counts[name] = (net.calls, net.images)
    assert counts == {"student": (4, 8), "teacher": (4, 16)}  # 4 steps; the teacher runs both branches each time


def test_distillation_losses_vanish_for_networks_that_already_know_the_image():
    """With one image x0 and networks that predict it exactly, every ODE step stays on the straight line to x0:
    the consistency target and the progressive target are the student's own estimate."""
    schedule = get_schedule("cosine", 100)
    x0 = torch.rand(4, 3, 8, 8) * 2 - 1

    def oracle(x, t, w):  # v that points exactly at x0 from x_t
        a, s = schedule.alpha_bar[t].sqrt().view(-1, 1, 1, 1), (1 - schedule.alpha_bar[t]).sqrt().view(-1, 1, 1, 1)
        eps = (x - a * x0) / s
        return a * eps - s * x0

    t, eps, w = torch.tensor([3, 40, 77, 99]), torch.randn(4, 3, 8, 8), torch.tensor([1.0, 2.0, 3.0, 1.5])
    cd = consistency_distillation_loss(oracle, oracle, oracle, schedule, x0, t, eps, w, 10, "v")
    grid = sampling_timesteps(100, 8)
    pd = progressive_distillation_loss(oracle, oracle, schedule, x0, grid, torch.tensor([0, 1, 2, 3]), eps, w, "v")
    assert cd.shape == pd.shape == (4,) and cd.max() < 1e-8 and pd.max() < 1e-6


def test_below_the_skip_the_consistency_target_is_the_teachers_clean_image():
    schedule = get_schedule("cosine", 100)
    x0, eps = torch.zeros(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    teacher = lambda x, t, w: torch.ones_like(x)  # noqa: E731 (some v)
    far = lambda x, t, w: torch.full_like(x, 5.0)  # noqa: E731 (an EMA target that must not be read below the skip)
    student = lambda x, t, w: torch.zeros_like(x)  # noqa: E731
    t = torch.tensor([4, 4])
    loss = consistency_distillation_loss(student, far, teacher, schedule, x0, t, eps, torch.ones(2), 10, "v")
    xt = q_sample(schedule, x0, t, eps)
    a, s = schedule.alpha_bar[4].sqrt(), (1 - schedule.alpha_bar[4]).sqrt()
    teacher_x0 = a * xt - s * 1.0
    student_x0 = a * xt
    assert torch.allclose(loss, ((student_x0 - teacher_x0) ** 2).flatten(1).mean(1))
    assert torch.equal(ddim_to(schedule, teacher_x0, eps, torch.tensor([-1, -1])), teacher_x0)


def test_halving_stages_cover_the_run_and_pair_each_step_with_two_teacher_steps():
    stages = progressive_stages(100, 8, 1, 0.25)
    assert [(s.first, s.last, s.student_steps) for s in stages] == [
        (0, 25, None), (25, 44, 8), (44, 63, 4), (63, 81, 2), (81, 100, 1)]
    grid = sampling_timesteps(100, 8)  # the 4-step student's 2 x 4 grid
    t, mid, after = halving_targets(grid, torch.tensor([0, 3]))
    assert t.tolist() == [grid[0], grid[6]] and mid.tolist() == [grid[1], grid[7]] and after.tolist() == [grid[2], -1]


# --- end to end on a tiny teacher ---

@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    folder, cache = tmp_path_factory.mktemp("teacher"), tmp_path_factory.mktemp("cache")
    import os
    old = os.getcwd()
    os.chdir(folder)
    try:
        return run_train(["name=teacher", "max_steps=4", "ckpt_every=2"], cache), cache
    finally:
        os.chdir(old)


def run_distill(overrides, teacher_run, cache_dir):
    cfg = compose_train([f"teacher.run={teacher_run}", *overrides], cache_dir, TINY_DISTILL, config="train_distill")
    train_distill.train(cfg)
    return Path(HydraConfig.get().runtime.output_dir)


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("method", ["consistency", "progressive"])
def test_a_resumed_distillation_is_bitwise_the_uninterrupted_one_and_the_teacher_is_untouched(
        in_tmp, teacher, monkeypatch, method):
    teacher_run, cache = teacher
    before = digest(teacher_run)
    common = [f"distill.method={method}", "distill.start_steps=2", "distill.final_steps=1", "ckpt_every=100"]
    straight = run_distill(["name=straight", *common], teacher_run, cache)
    with monkeypatch.context() as m:
        _stop_after(m, 4)  # inside a halving stage: the resumed run reads its stage teacher back
        split = run_distill(["name=split", *common], teacher_run, cache)
    assert run_distill(["name=split", f"resume={split}", *common], teacher_run, cache) == split
    a, b = checkpoint_dirs(straight)[-1], checkpoint_dirs(split)[-1]
    assert a.name == b.name == "step_00000006"
    for weights in ("model.safetensors", "ema.safetensors"):
        x, y = load_file(a / weights), load_file(b / weights)
        assert all(torch.equal(x[k], y[k]) for k in x), weights
        assert "guidance_embed.mlp.2.weight" in x
    assert digest(teacher_run) == before


def test_a_student_run_is_an_ordinary_run_for_the_scripts_and_the_studio(in_tmp, teacher):
    teacher_run, cache = teacher
    student = run_distill(["+experiment=distill_xa_cos", "name=student", "distill.start_steps=2", "ckpt_every=3"],
                          teacher_run, cache)
    loaded = load_run(student)
    assert loaded.model.guidance_embedding and (loaded.cfg.sampler.name, loaded.cfg.sampler.num_steps) == ("ddim", 1)
    assert loaded.cfg.data == load_run(teacher_run).cfg.data
    env = {"PYTHONPATH": str(ROOT), "TEXTDIFFUSION_CACHE": str(cache), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    run = lambda *args: subprocess.run([sys.executable, *args], cwd=in_tmp, env=env, capture_output=True, text=True,  # noqa: E731
                                       timeout=300)
    sample = run(str(ROOT / "scripts" / "sample.py"), f"run={student}", "prompts=[a small red circle in the top left]",
                 "out=s1", "num_steps=1")
    assert sample.returncode == 0 and "ddim, 1 steps, guidance" in sample.stdout, sample.stderr[-2000:]
    evaluate = run(str(ROOT / "scripts" / "evaluate.py"), f"run={student}", "num_samples=8")
    assert evaluate.returncode == 0 and list(student.glob("eval/step_*_ddim1_g*.json")), evaluate.stderr[-2000:]
    (in_tmp / "s1" / "000.png").rename(in_tmp / "in.png")
    edit = run(str(ROOT / "scripts" / "edit.py"), "mode=img2img", f"run={student}", "image=in.png",
               "prompt=a large blue square", "strength=0.5", "out=e1")
    assert edit.returncode == 0 and (in_tmp / "e1" / "000.png").is_file(), edit.stderr[-2000:]
    invert = run(str(ROOT / "scripts" / "edit.py"), "mode=invert", f"run={student}", "image=in.png",
                 "source_prompt=a small red circle", "prompt=a small blue circle", "out=e2")
    assert invert.returncode == 2 and "invert with its teacher run" in invert.stderr
    from studio.jobs import JobRunner
    from studio.spec import JobSpec
    final = JobRunner(student, device="cpu").run_job(JobSpec(kind="generate", prompt="a large blue square"), lambda e: None)
    assert final["event"] == "result" and final["params"]["sampler"]["name"] == "ddim"
    assert final["params"]["timings"]["steps"] == 1
