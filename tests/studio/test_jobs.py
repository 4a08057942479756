"""The studio's job code on a tiny trained run: progress frames, results equal to generation/'s own
functions bitwise (watching a chain changes nothing), rewinds, edits, history, one-line errors."""
import json

import numpy as np
import pytest
import torch

from generation.loading import load_run, sampler_settings
from generation.sampling import fixed_noise, sample_images
from schemas.check import ConfigError
from studio.history import History
from studio.jobs import JobRunner
from studio.queues import make_queue
from studio.spec import JobSpec
from tests.studio.tiny_run import pixels, png_b64

PROMPT = "a small red circle in the top left"


@pytest.fixture(scope="module")
def runner(tiny_run):
    return JobRunner(tiny_run, device="cpu")


def run(runner, **spec):
    seen = []
    final = runner.run_job(JobSpec(**spec), seen.append)
    assert seen[-1] is final and all(e["event"] == "progress" for e in seen[:-1])
    return final, seen[:-1]


def output(runner, final, i=0):
    assert final["event"] == "result", final
    return pixels(runner.history.folder(final["entry"]) / f"{i:03d}.png")


def test_generate_streams_frames_and_equals_text_to_image_bitwise(runner, tiny_run):
    final, frames = run(runner, kind="generate", prompt=PROMPT, num_steps=5, seed=3, batch=2, progress_every=2)
    assert [f["step"] for f in frames] == [0, 2, 4] and all(f["steps"] == 5 for f in frames)
    loaded = load_run(tiny_run)
    settings = sampler_settings(loaded.cfg, loaded.schedule.num_timesteps, num_steps=5)
    expected = sample_images(loaded.model, loaded.schedule, loaded.cfg.prediction_type, loaded.cache, [PROMPT] * 2,
                             settings, fixed_noise(2, *loaded.shape, 3, "cpu"), generator=torch.Generator().manual_seed(3))
    for i in range(2):
        assert np.array_equal(output(runner, final, i), expected[i].permute(1, 2, 0).numpy())
    saved = runner.history.params(final["entry"])
    assert saved["checkpoint"].endswith("step_00000002") and saved["spec"]["seed"] == 3
    assert saved["timings"]["steps"] == 5 and (runner.history.folder(final["entry"]) / "trajectory.safetensors").is_file()


def test_branch_with_the_parents_prompt_and_seed_is_its_image_and_another_seed_is_not(runner):
    parent, _ = run(runner, kind="generate", prompt=PROMPT, num_steps=5, seed=3, sampler="ddpm")  # a 2-step model hardly reads its prompt: the step noise makes branches differ
    same, frames = run(runner, kind="branch", parent=parent["entry"], step=2, prompt=PROMPT, seed=3)
    other, _ = run(runner, kind="branch", parent=parent["entry"], step=2, prompt="a large blue square", seed=9)
    assert np.array_equal(output(runner, same), output(runner, parent))
    assert not np.array_equal(output(runner, other), output(runner, parent))
    assert [f["step"] for f in frames] == [2, 3, 4]  # the branch runs from the chosen step only


def test_img2img_at_strength_one_is_text_to_image_and_inpainting_keeps_the_unmasked_pixels(runner):
    generated, _ = run(runner, kind="generate", prompt=PROMPT, num_steps=4, seed=5)
    picture = np.random.default_rng(0).integers(0, 256, (8, 8, 3))
    final, _ = run(runner, kind="img2img", prompt=PROMPT, num_steps=4, seed=5, strength=1.0, image=png_b64(picture))
    assert np.array_equal(output(runner, final), output(runner, generated))
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    for method in ("blend", "repaint"):
        final, _ = run(runner, kind="inpaint", prompt=PROMPT, num_steps=4, image=png_b64(picture), mask=png_b64(mask), method=method)
        out, keep = output(runner, final), mask == 0
        assert np.array_equal(out[keep], picture[keep]) and not np.array_equal(out, picture), method


def test_invert_attention_and_compare_make_their_images(runner):
    picture = np.random.default_rng(1).integers(0, 256, (8, 8, 3))
    final, _ = run(runner, kind="invert", prompt="a large blue square", source_prompt=PROMPT, num_steps=3, image=png_b64(picture))
    assert len(runner.history.images(final["entry"])) == 3 and np.array_equal(output(runner, final, 0), picture)
    final, _ = run(runner, kind="attention", prompt=PROMPT, num_steps=3)
    assert len(runner.history.images(final["entry"])) == 2 and final["params"]["tokens"][1:-1] == PROMPT.split()
    final, _ = run(runner, kind="attention", source_prompt="a large blue square", num_steps=3, image=png_b64(picture))
    assert final["params"]["tokens"][1:-1] == "a large blue square".split()  # an image's maps are its source prompt's
    final, _ = run(runner, kind="compare", prompt=PROMPT, num_steps=3, checkpoint="1", other_checkpoint="2")
    assert [c[-8:] for c in final["params"]["checkpoints"]] == ["00000001", "00000002"]
    assert not np.array_equal(output(runner, final, 0), output(runner, final, 1))


@pytest.mark.parametrize("spec,message", [
    (dict(kind="img2img", prompt="x", image="bm90IGFuIGltYWdl"), "image: not an image file PIL can read"),
    (dict(kind="img2img", prompt="x", image="%%%"), "image: not base64 image data"),
    (dict(kind="inpaint", prompt="x", image=png_b64(np.zeros((8, 8, 3))), mask=png_b64(np.zeros((4, 4)))), "mask is 4x4 pixels"),
    (dict(kind="generate", prompt="x", sampler="euler"), "unknown sampler 'euler'; valid choices"),
    (dict(kind="branch", prompt="x", parent="../../etc"), "is not a studio entry name"),
    (dict(kind="generate", prompt=""), "kind=generate needs prompt"),
])
def test_bad_requests_end_in_one_line_error_events(runner, spec, message):
    final, _ = run(runner, **spec)
    assert final["event"] == "error" and message in final["message"] and "\n" not in final["message"]


def test_history_lists_newest_first_across_instances_and_stays_inside_its_folder(runner, tiny_run):
    first, _ = run(runner, kind="generate", prompt=PROMPT, num_steps=2)
    second, _ = run(runner, kind="generate", prompt=PROMPT, num_steps=2)
    entries = History(tiny_run).entries()  # a fresh instance: what a restarted server sees
    assert entries.index(second["entry"]) < entries.index(first["entry"])
    with pytest.raises(ConfigError, match="bare name"):
        History(tiny_run).file(second["entry"], "../../checkpoints")


def test_job_specs_round_trip_through_json_and_reject_unknown_kinds_and_keys():
    spec = JobSpec(kind="inpaint", prompt="p", mask="abc", seed=7)
    assert JobSpec.from_json(spec.to_json()) == spec and "mask" not in spec.parameters()
    with pytest.raises(ConfigError, match="unknown job kind 'paint'; valid choices: generate, branch"):
        JobSpec(kind="paint")
    with pytest.raises(ConfigError, match=r"unknown job spec keys \['colour'\]"):
        JobSpec.from_json(json.dumps({"kind": "generate", "colour": 1}))


def test_the_local_queue_yields_the_runners_events(runner):
    seen = list(make_queue(None, runner).submit(JobSpec(kind="generate", prompt=PROMPT, num_steps=3), timeout=120))
    assert [e["event"] for e in seen] == ["progress"] * 3 + ["result"]
    with pytest.raises(ConfigError, match="valid choices: null"):
        make_queue("amqp://x")


def test_a_job_run_again_announces_its_saved_entry_instead_of_saving_a_second(runner, tiny_run):
    """What a worker does with a job whose first worker died after saving it and before announcing it."""
    spec = JobSpec(kind="generate", prompt=PROMPT, num_steps=3, seed=4)
    first, frames = [], []
    runner.run_job(spec, first.append)
    runner.run_job(JobSpec.from_json(spec.to_json()), frames.append)
    again = frames[-1]
    assert [e["event"] for e in frames] == ["result"]  # nothing run: no frames
    assert again["entry"] == first[-1]["entry"] == History.entry_for(spec)
    assert again["params"]["spec"]["id"] == spec.id
    assert [e for e in History(tiny_run).entries() if e.endswith(spec.id)] == [again["entry"]]


def test_a_job_that_fails_midway_leaves_no_entry_and_no_staging_folder(runner, tiny_run):
    picture = png_b64(np.zeros((8, 8, 3)))
    spec = JobSpec(kind="inpaint", prompt=PROMPT, num_steps=2, image=picture, mask=png_b64(np.zeros((4, 4))))
    final = runner.run_job(spec, lambda event: None)
    assert final["event"] == "error" and "mask is 4x4 pixels" in final["message"]
    assert not History(tiny_run).folder(History.entry_for(spec)).exists()
    assert not list(History(tiny_run).root.glob(".staging-*"))


def test_a_damaged_entry_is_left_out_of_the_listing_and_named(runner, tmp_path):
    from studio.ui.history_tab import listing
    history = History(tmp_path)
    good, bad = (JobSpec(kind="generate", prompt=PROMPT) for _ in range(2))
    for spec in (good, bad):
        with history.staging(History.entry_for(spec)) as folder:
            history.save(folder, History.entry_for(spec), torch.zeros(1, 3, 8, 8, dtype=torch.uint8),
                         {"kind": "generate", "spec": spec.parameters()})
    damaged = history.folder(History.entry_for(bad)) / "result.json"
    damaged.write_text(damaged.read_text()[:40])  # a write cut short, as by a kill before atomic writes
    with pytest.raises(ConfigError, match="result.json cannot be read"):
        history.params(History.entry_for(bad))
    items, entries, broken = listing(history)
    assert entries == [History.entry_for(good)] and items[0][1] == f"generate: {PROMPT}"
    assert items[0][0].endswith("thumb.png") and len(broken) == 1 and History.entry_for(bad) in broken[0]


def test_a_dead_workers_staging_folder_is_never_listed_and_is_cleared_when_stale(tmp_path):
    history = History(tmp_path)
    staged = history.root / ".staging-20261207-101010-000000-abcdef-123"
    staged.mkdir(parents=True)
    (staged / "000.png").write_bytes(b"half")
    assert history.entries() == []
    history.remove_stale_staging(older_than_s=3600)
    assert staged.exists()
    history.remove_stale_staging(older_than_s=0)
    assert not staged.exists()


@pytest.mark.parametrize("field,value", [("id", "../../x"), ("id", "ABC"), ("created", "yesterday")])
def test_a_job_names_its_entry_with_a_checked_id_and_time(field, value):
    with pytest.raises(ConfigError, match=f"job {field}"):
        JobSpec(kind="generate", prompt=PROMPT, **{field: value})
