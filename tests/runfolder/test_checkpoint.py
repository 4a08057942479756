import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from runfolder.checkpoint import (
    CheckpointError,
    checkpoint_dirs,
    load_state,
    load_weights,
    remove_partial_checkpoints,
    save_checkpoint,
)


def _save(run, step, keep=3, value=1.0):
    weights = {"w": torch.full((3, 3), value)}
    return save_checkpoint(run, step, weights, weights, {"step": step, "optimizer": {"state": {}}}, "a: 1\n", keep)


def test_round_trip_and_only_the_newest_are_kept(tmp_path):
    for step in (10, 20, 30, 40):
        _save(tmp_path, step, keep=2, value=step)
    assert [p.name for p in checkpoint_dirs(tmp_path)] == ["step_00000030", "step_00000040"]
    latest = checkpoint_dirs(tmp_path)[-1]
    assert torch.equal(load_weights(latest / "model.safetensors")["w"], torch.full((3, 3), 40.0))
    assert load_state(latest / "state.pt")["step"] == 40
    assert (latest / "config.yaml").read_text() == "a: 1\n"


def test_partial_write_is_invisible_and_cleaned_up(tmp_path):
    _save(tmp_path, 10)
    partial = tmp_path / "checkpoints" / ".tmp_step_00000020_999"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half a fi")
    assert [p.name for p in checkpoint_dirs(tmp_path)] == ["step_00000010"]
    remove_partial_checkpoints(tmp_path)
    assert not partial.exists()


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_crafted_pickle_is_refused_and_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = _Payload()
    payload.path = marker
    evil = tmp_path / "state.pt"
    with open(evil, "wb") as f:
        pickle.dump({"step": 1, "x": payload}, f)
    torch.save({"step": 1, "x": payload}, tmp_path / "state2.pt")
    for path in (evil, tmp_path / "state2.pt"):
        with pytest.raises(CheckpointError, match=str(path)):
            load_state(path)
    assert not marker.exists()


def test_truncated_and_corrupted_files_name_the_file(tmp_path):
    folder = _save(tmp_path, 10)
    weights, state = folder / "model.safetensors", folder / "state.pt"
    weights.write_bytes(weights.read_bytes()[:40])
    state.write_bytes(state.read_bytes()[: len(state.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match=f"cannot read checkpoint file {weights}"):
        load_weights(weights)
    with pytest.raises(CheckpointError, match=f"cannot read checkpoint file {state}"):
        load_state(state)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state(folder / "missing.pt")
    save_file({"w": torch.ones(2)}, folder / "ok.safetensors")
    (folder / "ok.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError):
        load_weights(folder / "ok.safetensors")
