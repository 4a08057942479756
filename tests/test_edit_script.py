"""scripts/edit.py and evaluate_edits.py end to end on a tiny trained run: files written, bitwise equalities
with sample.py, one-line errors. The bodies run in-process (a subprocess costs seconds of imports);
sample.py and one error go through the command line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from schemas.check import ConfigError
from scripts.edit import edit
from tests.training_harness import ROOT, run_train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    folder, cache = tmp_path_factory.mktemp("edit_run"), tmp_path_factory.mktemp("edit_cache")
    old = os.getcwd()
    os.chdir(folder)
    try:
        return run_train(["name=for_editing", "max_steps=2", "ckpt_every=2"], cache)
    finally:
        os.chdir(old)


def run_edit(*args):
    """scripts/edit.py's body in-process (the subprocess path is checked once, for the exit status)."""
    return edit(compose_edit(list(args)))


def script(name, *args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=cwd, capture_output=True, text=True, env=env)


def pixels(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def sampled(trained_run, tmp_path_factory):
    """Two samples with their trajectory, and a 20x16 input image with a mask of its size."""
    out = tmp_path_factory.mktemp("sampled")
    done = script("sample.py", f"run={trained_run}", 'prompts=["a small red circle in the top left","a large blue square"]',
                  f"out={out}", "save_trajectory=true", "seed=3", cwd=out)
    assert done.returncode == 0, done.stderr
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (16, 20, 3), dtype=np.uint8)).save(out / "in.png")
    mask = np.zeros((16, 20), np.uint8)
    mask[4:12, 6:14] = 255
    Image.fromarray(mask).save(out / "mask.png")
    Image.fromarray(mask[:8]).save(out / "small_mask.png")
    (out / "notes.txt").write_text("not an image")
    return out


def test_img2img_strength_one_and_rewind_reproduce_sample_py_bitwise(trained_run, sampled, tmp_path):
    first = pixels(sampled / "000.png")
    run_edit("mode=img2img", f"run={trained_run}", f"image={sampled / 'in.png'}", "strength=1",
             "prompt=a small red circle in the top left", "seed=3", f"out={tmp_path / 'a'}")
    assert np.array_equal(pixels(tmp_path / "a" / "000.png"), first)
    assert json.loads((tmp_path / "a" / "result.json").read_text())["start_step"] == 0
    run_edit("mode=rewind", f"trajectory={sampled / 'trajectory.safetensors'}", "step=1", "index=1", f"out={tmp_path / 'b'}")
    assert np.array_equal(pixels(tmp_path / "b" / "000.png"), pixels(sampled / "001.png"))
    assert json.loads((tmp_path / "b" / "result.json").read_text())["seed"] == 3


def test_inpaint_keeps_the_unmasked_pixels_and_invert_writes_its_psnr(trained_run, sampled, tmp_path):
    run_edit("mode=inpaint", f"run={trained_run}", f"image={sampled / 'in.png'}", f"mask={sampled / 'mask.png'}",
             "prompt=a large blue square", "method=repaint", "jump_length=1", "jump_n_sample=2", f"out={tmp_path / 'c'}")
    result = json.loads((tmp_path / "c" / "result.json").read_text())
    assert result["method"] == "repaint" and result["paste_back"] and 0 < result["mask_fraction_regenerated"] < 1
    run_edit("mode=invert", f"run={trained_run}", f"image={sampled / 'in.png'}", "source_prompt=a red circle",
             f"out={tmp_path / 'd'}")
    result = json.loads((tmp_path / "d" / "result.json").read_text())
    assert result["method"] == "negative_prompt" and len(result["psnr_to_input"]) == 1


def test_edit_errors_are_one_line(trained_run, sampled, tmp_path):
    run, image = f"run={trained_run}", f"image={sampled / 'in.png'}"
    cases = [
        (["mode=blur", run], "unknown mode 'blur'; valid choices: img2img, inpaint, invert, rewind, attention"),
        (["mode=img2img", run, image, "prompt=a", "strength=1.5"], "strength must be in [0, 1], got 1.5"),
        (["mode=img2img", run, f"image={sampled / 'notes.txt'}", "prompt=a"], "not an image file"),
        (["mode=img2img", run, f"image={sampled / 'nothing.png'}", "prompt=a"], "no such file"),
        (["mode=img2img", run, image], "mode=img2img needs prompt=..."),
        (["mode=inpaint", run, image, f"mask={sampled / 'small_mask.png'}", "prompt=a"],
         "mask=" + str(sampled / "small_mask.png") + " is 20x8 pixels but image="),
        (["mode=inpaint", run, image, f"mask={sampled / 'mask.png'}", "prompt=a", "method=smear"],
         "unknown method 'smear' for mode=inpaint; valid choices: blend, repaint"),
        (["mode=invert", run, image, "source_prompt=a", "method=null_text"],
         "unknown method 'null_text' for mode=invert; valid choices: plain, negative_prompt"),
        (["mode=rewind", f"trajectory={sampled / 'trajectory.safetensors'}", "step=2"],
         "step=2 is beyond the trajectory's 2 steps; valid steps: 0..1"),
        (["mode=rewind", f"trajectory={sampled / 'none.safetensors'}", "step=0"], "trajectory="),
    ]
    for args, message in cases:
        with pytest.raises(ConfigError) as info:
            edit(compose_edit(args))
        assert message in str(info.value) and "\n" not in str(info.value), (args, str(info.value))
    done = script("edit.py", *cases[1][0], cwd=tmp_path)
    # on the command line the schema (schemas/scripts.py) rejects it before any work
    assert done.returncode == 2 and done.stderr == "error: strength=1.5: expected a number in [0, 1]\n" and not list(tmp_path.iterdir())


def compose_edit(overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs" / "scripts"), version_base="1.3"):
        return compose("edit", overrides=overrides)


def test_attention_mode_writes_the_image_and_a_heat_map_grid(trained_run, sampled, tmp_path):
    run_edit("mode=attention", f"run={trained_run}", "prompt=a small red circle", "attention_steps=[1]", f"out={tmp_path / 'e'}")
    result = json.loads((tmp_path / "e" / "result.json").read_text())
    assert result["tokens"][1:-1] == ["a", "small", "red", "circle"] and result["attention_steps"] == [1]
    assert pixels(tmp_path / "e" / "000.png").shape == (8, 8, 3) and pixels(tmp_path / "e" / "001.png").shape[1] > 4 * 128


def test_evaluate_edits_runs_every_part_and_paste_back_keeps_the_outside(trained_run, tmp_path):
    from scripts.evaluate_edits import evaluate_edits

    with initialize_config_dir(config_dir=str(ROOT / "configs" / "scripts"), version_base="1.3"):
        cfg = compose("evaluate_edits", overrides=[f"run={trained_run}", "images=1", "inversion_steps=[2]", "repaint_steps=2",
                                                    "jump_length=1", "jump_n_sample=2", "strengths=[0.5]",
                                                    f"out={tmp_path / 'edits.json'}"])
    results = evaluate_edits(cfg)
    assert json.loads((tmp_path / "edits.json").read_text()) == results
    inversion = results["inversion/held_in/dataset"]
    assert {(r["guidance"], r["method"]) for r in inversion} == {(1.0, "plain"), (1.0, "negative_prompt"), (2.0, "plain"),
                                                                  (2.0, "negative_prompt")}
    guidance_one = [r["psnr"] for r in inversion if r["guidance"] == 1.0]
    assert guidance_one[0] == guidance_one[1]  # at guidance 1 the two methods are the same chain
    for key in ("inpainting/held_in/samples", "inpainting/held_out/dataset"):
        assert [r["max_abs_diff_outside_mask"] for r in results[key]] == [0, 0]
        assert results[key][0]["model_calls"] == results[key][1]["model_calls"]
    assert {r["method"] for r in results["edits/held_out/samples"]} == {
        "inversion_plain", "inversion_negative_prompt", "negative_prompt+p2p", "img2img_0.5"}
    assert {r["resolution"] for r in results["attention/held_in"]} == {4}


def test_attention_guided_invert_with_the_source_prompt_reconstructs_like_plain_invert(trained_run, sampled, tmp_path):
    """cross_replace with identical prompts is prompt-to-prompt's identity: the same image as the plain
    negative-prompt reconstruction (up to batch-size rounding), and the JSON names the method used."""
    common = (f"run={trained_run}", f"image={sampled / 'in.png'}", "source_prompt=a red circle")
    run_edit("mode=invert", *common, "prompt=a red circle", f"out={tmp_path / 'plain'}")
    run_edit("mode=invert", *common, "prompt=a red circle", "cross_replace=0.8", f"out={tmp_path / 'p2p'}")
    difference = np.abs(pixels(tmp_path / "plain" / "000.png").astype(int) - pixels(tmp_path / "p2p" / "000.png"))
    assert difference.max() <= 1
    result = json.loads((tmp_path / "p2p" / "result.json").read_text())
    assert result["method"] == "negative_prompt+prompt_to_prompt" and result["cross_replace"] == 0.8
