"""Latent diffusion end to end: a tiny autoencoder, a diffusion run on its cached latents, and every
consumer (previews, sample.py, evaluate's generate) decoding back to pixels."""
import base64
import io
import os
import shutil

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image

import train as train_script
import training.latent_cache as latent_cache
from data.shapes import load_shapes
from generation.attention_maps import generate_with_maps, prompt_to_prompt
from generation.editing import img2img, inpaint
from generation.first_stage import LatentSpace, load_autoencoder
from generation.inversion import invert, invert_and_regenerate
from generation.loading import load_run, sampler_settings
from generation.sampling import fixed_noise, sample_images, to_uint8
from generation.trajectory import load_trajectory, rewind, sample_with_trajectory, save_trajectory
from runfolder.checkpoint import CheckpointError, checkpoint_dirs
from schemas.check import ConfigError
from schemas.relations import validate_config, validate_model
from tests.test_train_autoencoder import TINY_AE, run_autoencoder
from tests.training_harness import ROOT, TINY, compose_train, run_train

LDM = ["+experiment=ldm_shapes64", "max_steps=2", "ckpt_every=0", "sample_every=2", "eval_every=2", "eval_samples=2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(autoencoder run, latent diffusion run, cache folder), trained once for the module."""
    folder, cache = tmp_path_factory.mktemp("ldm"), tmp_path_factory.mktemp("ldm_cache")
    old = os.getcwd()
    os.chdir(folder)
    try:
        autoencoder = run_autoencoder(["name=ae_tiny", "max_steps=3"], cache)
        diffusion = run_train([*LDM, f"first_stage.run={autoencoder}"], cache)
        return autoencoder, diffusion, cache
    finally:
        os.chdir(old)


def test_a_latent_run_trains_on_latents_and_previews_pixels(runs):
    autoencoder, diffusion, cache = runs
    cfg = OmegaConf.load(checkpoint_dirs(diffusion)[-1] / "config.yaml")
    # TINY_AE: channel_mults [1, 2] is f = 2, so 8x8 images are 4x4x4 latents.
    assert (cfg.derived.in_channels, cfg.derived.image_size) == (4, 4)
    assert cfg.derived.first_stage.checkpoint == str(checkpoint_dirs(autoencoder)[-1].resolve())
    assert Image.open(diffusion / "samples" / "step_00000002.png").size[0] > 128
    assert len(list((cache / "latents").glob("*.safetensors"))) == 1


def test_sample_script_decodes_a_latent_run_to_pixels(runs, tmp_path):
    from scripts.sample import sample

    _, diffusion, _ = runs
    with initialize_config_dir(config_dir=str(ROOT / "configs" / "scripts"), version_base="1.3"):
        cfg = compose("sample", overrides=[f"run={diffusion}", "prompts=[a small red circle in the top left,a]",
                                           f"out={tmp_path}", "device=cpu"])
    out = sample(cfg)
    image = Image.open(out / "000.png")
    assert image.size == (8, 8) and image.mode == "RGB"
    run = load_run(diffusion)
    assert isinstance(run.first_stage, LatentSpace) and run.shape == (4, 4)


def test_loading_a_latent_run_without_its_autoencoder_is_one_line(runs, tmp_path):
    autoencoder, diffusion, _ = runs
    moved = tmp_path / "moved"
    shutil.move(str(autoencoder), moved)
    try:
        with pytest.raises(CheckpointError, match="diffuses in the latents of the autoencoder checkpoint .* not there"):
            load_run(diffusion)
    finally:
        shutil.move(str(moved), autoencoder)


def test_a_changed_autoencoder_is_refused(runs, tmp_path):
    autoencoder, diffusion, _ = runs
    copy = tmp_path / "ae"
    shutil.copytree(autoencoder, copy)
    config = checkpoint_dirs(diffusion)[-1] / "config.yaml"
    cfg = OmegaConf.load(config)
    weights = checkpoint_dirs(copy)[-1] / "ema.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")  # the last float32 of the last tensor
    cfg.derived.first_stage.checkpoint = str(checkpoint_dirs(copy)[-1])
    changed = tmp_path / "ldm"
    shutil.copytree(diffusion, changed)
    OmegaConf.save(cfg, checkpoint_dirs(changed)[-1] / "config.yaml")
    with pytest.raises(CheckpointError, match="weights have changed since"):
        load_run(changed)


def test_latent_cache_is_reused_across_runs_and_invalidated_when_the_autoencoder_changes(runs, in_tmp, monkeypatch):
    autoencoder, _, cache = runs
    first = load_autoencoder(str(autoencoder))
    images = load_shapes(64, 8, cache_dir=str(cache)).images
    key = latent_cache.cache_path(first, images, cache)
    assert key.exists()  # written by the diffusion run
    calls = []
    encode = latent_cache.encode_images
    monkeypatch.setattr(latent_cache, "encode_images", lambda *a: calls.append(1) or encode(*a))
    again = run_train([*LDM, "sample_every=0", "eval_every=0", f"first_stage.run={autoencoder}", "name=ldm_again"], cache)
    assert calls == [] and checkpoint_dirs(again)
    cached = latent_cache.cached_latents(first, images, cache, "cpu")
    assert torch.equal(cached, first.encode(images.float() / 127.5 - 1))
    # Training the autoencoder further gives new weights, a new identity and a new cache entry.
    run_autoencoder(["name=ae_tiny", f"resume={autoencoder}", "max_steps=4"], cache)
    second = load_autoencoder(str(autoencoder))
    assert second.identity != first.identity and latent_cache.cache_path(second, images, cache) != key
    latent_cache.cached_latents(second, images, cache, "cpu")
    assert calls == [1]
    # ... and resuming the diffusion run on the moved-on autoencoder is refused, naming the checkpoint to pin.
    recorded = OmegaConf.load(checkpoint_dirs(again)[-1] / "config.yaml").derived.first_stage.checkpoint
    resumed = compose_train([*LDM, f"first_stage.run={autoencoder}", "name=ldm_again", f"resume={again}", "max_steps=3"], cache)
    with pytest.raises(ConfigError, match=f"pass first_stage.checkpoint={os.path.basename(recorded)}$"):
        train_script.train(resumed)
    shutil.rmtree(checkpoint_dirs(autoencoder)[-1])  # back to the step the other tests' runs recorded


def test_scaling_factor_round_trip(runs):
    autoencoder, _, cache = runs
    first_stage = load_autoencoder(str(autoencoder))
    images = load_shapes(64, 8, cache_dir=str(cache)).images[:32]  # scale_images=32 in TINY_AE
    x = images.float() / 127.5 - 1
    latents = first_stage.encode(x)
    assert latents.std().item() == pytest.approx(1.0, rel=1e-4)
    ae = first_stage.autoencoder
    assert torch.allclose(latents / first_stage.scaling_factor, ae.encode(x).mode())
    assert torch.allclose(first_stage.decode(latents), ae.decode(ae.encode(x).mode()).clamp(-1, 1), atol=1e-5)


def test_evaluate_autoencoder_script_writes_its_figures(runs):
    from scripts.evaluate_autoencoder import evaluate

    autoencoder, _, _ = runs
    with initialize_config_dir(config_dir=str(ROOT / "configs" / "scripts"), version_base="1.3"):
        cfg = compose("evaluate_autoencoder", overrides=[f"run={autoencoder}", "device=cpu"])
    results = evaluate(cfg)
    assert results["image_size"] == 8 and results["held_in/images"] > results["held_out/images"] > 0
    assert (autoencoder / "eval" / f"autoencoder_{checkpoint_dirs(autoencoder)[-1].name}_ema.json").is_file()
    assert 0 < results["held_in/psnr"] < 100  # three training steps: a real, lossy reconstruction


def test_a_latent_run_without_its_autoencoder_folder_fails_in_one_line(in_tmp, cache_dir):
    cfg = compose_train(["+experiment=ldm_shapes64", "max_steps=1"], cache_dir)
    with pytest.raises(ConfigError, match=r"first_stage.run=\?\?\?: expected a string \(required: set first_stage.run=...\)"):
        train_script.train(cfg)
    cfg = compose_train(["+experiment=ldm_shapes64", "max_steps=1", f"first_stage.run={in_tmp / 'nowhere'}"], cache_dir)
    with pytest.raises(ConfigError, match="no autoencoder run folder with a checkpoint there"):
        train_script.train(cfg)


@pytest.mark.parametrize("experiment, size", [("ldm_shapes64", 64), ("xa_cos_64", 64), ("ldm_compose64", 64)])
def test_the_64_pixel_experiments_compose(experiment, size, cache_dir):
    latent = experiment.startswith("ldm")
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"+experiment={experiment}", *(["first_stage.run=runs/ae/x"] if latent else [])])
    assert cfg.name == experiment and cfg.data.dataset.image_size == size
    assert cfg.first_stage._target_.endswith("load_autoencoder") == latent
    validate_config(cfg)  # the pixel U-Net at 64x64
    validate_model(cfg.model, 16, 4)  # the latent U-Net on ae_shapes64's 4x16x16 latents


@pytest.mark.parametrize("experiment, dataset", [("ae_shapes64", "shapes"), ("ae_compose64", "compose")])
def test_ae_experiment_composes_for_the_autoencoder_entry_point(experiment, dataset):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train_autoencoder", overrides=[f"+experiment={experiment}"])
    assert cfg.name == experiment and cfg.data.dataset.image_size == 64
    assert cfg.data.dataset._target_ == f"data.{dataset}.load_{dataset}" and cfg.max_steps == 750
    assert cfg.autoencoder._target_ == "models.autoencoder.AutoencoderKL" and cfg.autoencoder.channel_mults == [1, 2, 2]


def test_the_digits_latent_experiments_compose():
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        ae = compose("train_autoencoder", overrides=["+experiment=ae_digits"])
        ldm = compose("train", overrides=["+experiment=ldm_digits", "first_stage.run=runs/ae_digits/x"])
    assert ae.name == "ae_digits" and ae.data.dataset._target_ == "data.digits.load_digits"
    assert ae.data.dataset.image_size == 32 and ae.loss.l2_weight == 1.0
    assert ldm.name == "ldm_digits" and ldm.first_stage._target_.endswith("load_autoencoder")
    assert ldm.data.evaluator == "digits" and ldm.max_steps == 2000
    validate_model(ldm.model, 8, 4)  # the U-Net on ae_digits's 4x8x8 latents


# --- editing and the studio on a latent run: pixels in, pixels out, chains on the latents ---

PROMPT = "a small red circle in the top left"


def _latent_denoiser(runs):
    _, diffusion, _ = runs
    loaded = load_run(diffusion)
    settings = sampler_settings(loaded.cfg, loaded.schedule.num_timesteps, num_steps=5)
    return loaded, loaded.denoiser(), settings


def _text_to_image(loaded, settings, seed, prompts=(PROMPT,)):
    return sample_images(loaded.model, loaded.schedule, loaded.cfg.prediction_type, loaded.cache, list(prompts), settings,
                         fixed_noise(len(prompts), *loaded.shape, seed, "cpu"), generator=torch.Generator().manual_seed(seed),
                         first_stage=loaded.first_stage)


def test_the_editing_functions_take_and_give_pixels_on_a_latent_run(runs):
    loaded, denoiser, settings = _latent_denoiser(runs)
    assert denoiser.shape == (4, 4) and denoiser.image_shape == (3, 8) == loaded.image_shape
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    expected = _text_to_image(loaded, settings, seed=5)
    # strength 1 and an all-white mask are text-to-image: the same chain on the same latent noise, decoded
    full, params = img2img(denoiser, image, [PROMPT], settings, strength=1.0, seed=5)
    assert torch.equal(full, expected) and params["sampler"]["clip_x0"] is False  # latents are never clipped
    half, _ = img2img(denoiser, image, [PROMPT], settings, strength=0.4, seed=5)
    assert half.shape == (1, 3, 8, 8) and half.dtype == torch.uint8 and not torch.equal(half, expected)
    everywhere, _ = inpaint(denoiser, image, torch.ones(1, 1, 8, 8, dtype=torch.bool), [PROMPT], settings, seed=5)
    assert torch.equal(everywhere, expected)
    # outside the mask the input pixels come back exactly, though the chain ran on the latent grid
    left = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    left[..., :3] = True
    for method in ("blend", "repaint"):
        out, _ = inpaint(denoiser, image, left, [PROMPT], settings, method=method, jump_length=2, jump_n_sample=2, seed=5)
        assert torch.equal(out[..., 3:], to_uint8(image)[..., 3:])
    # the mask on the latent grid: a cell is regenerated if any of its pixels is (f = 2 here)
    assert loaded.first_stage.model_mask(left)[0, 0, 0].tolist() == [True, True, False, False]
    noise = invert(denoiser, image, [PROMPT], settings)
    assert noise.shape == (1, 4, 4, 4)
    reconstruction, params = invert_and_regenerate(denoiser, image, [PROMPT], None, settings)
    assert reconstruction.shape == (1, 3, 8, 8) and 0 < params["psnr_to_input"][0] < 100
    images, maps, per_res = generate_with_maps(denoiser, [PROMPT], settings, seed=5)
    assert torch.equal(images, expected) and maps.shape[-2:] == (8, 8) and maps.shape[0] == 1
    edited, _ = prompt_to_prompt(denoiser, [PROMPT], ["a small blue circle in the top left"], settings, seed=5)
    assert edited.shape == (1, 3, 8, 8)


def test_a_latent_trajectory_decodes_and_rewinds_to_the_same_image(runs, tmp_path):
    loaded, denoiser, settings = _latent_denoiser(runs)
    prompts = [PROMPT, "a large blue square"]
    images, trajectory = sample_with_trajectory(denoiser, prompts, settings, seed=5)
    assert torch.equal(images, _text_to_image(loaded, settings, 5, prompts))
    assert images.shape == (2, 3, 8, 8) and trajectory.x.shape == (5, 2, 4, 4, 4)
    saved, _ = load_trajectory(save_trajectory(trajectory, tmp_path / "trajectory"))
    again, params = rewind(denoiser, saved, 2, index=1)
    assert torch.equal(again, images[1:2]) and params["sampler"]["clip_x0"] is False


def test_the_studio_runs_jobs_on_a_latent_run(runs):
    from studio.jobs import JobRunner
    from studio.spec import JobSpec
    from tests.studio.tiny_run import pixels, png_b64

    _, diffusion, _ = runs
    loaded, _, settings = _latent_denoiser(runs)
    runner = JobRunner(diffusion, device="cpu")
    frames = []
    final = runner.run_job(JobSpec(kind="generate", prompt=PROMPT, num_steps=5, seed=5, progress_every=2), frames.append)
    assert final["event"] == "result", final
    assert np.array_equal(pixels(runner.history.folder(final["entry"]) / "000.png"),
                          _text_to_image(loaded, settings, 5)[0].permute(1, 2, 0).numpy())
    preview = Image.open(io.BytesIO(base64.b64decode(frames[0]["image"])))
    assert preview.size == (8, 8)  # the decoded x0, not the 4x4 latent
    picture = np.zeros((8, 8, 3), dtype=np.uint8)
    picture[2:5, 2:5] = (255, 0, 0)
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[:, :3] = 255
    final = runner.run_job(JobSpec(kind="inpaint", prompt=PROMPT, image=png_b64(picture), mask=png_b64(mask),
                                   num_steps=5, seed=5), lambda event: None)
    assert final["event"] == "result", final
    assert np.array_equal(pixels(runner.history.folder(final["entry"]) / "000.png")[:, 3:], picture[:, 3:])


def test_the_studio_page_shows_a_latent_trajectory_as_pixels(runs):
    pytest.importorskip("gradio")
    from studio.history import History
    from studio.ui.common import Studio
    from studio.ui.generate_tab import strip

    _, diffusion, _ = runs
    loaded, denoiser, settings = _latent_denoiser(runs)
    studio = Studio(None, History(diffusion), diffusion, "ddim", 5, 2.0, 50)
    images, trajectory = sample_with_trajectory(denoiser, [PROMPT], settings, seed=5)
    last = studio.first_stage.decode(trajectory.x0[-1])  # the slider's last predicted x0, decoded
    assert last.shape == (1, 3, 8, 8)
    assert torch.equal(to_uint8(last.clamp(-1, 1)), images)  # DDIM's last x0 is the image
    assert strip(last).mode == "RGB"
