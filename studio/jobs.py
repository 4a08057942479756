"""The job code every queue runs: a JobSpec in, progress frames and one final event out, the result saved
in the run's studio history.

The runner keeps the checkpoints it has loaded (a studio session asks the same one again and again) and
turns every user error (ConfigError, CheckpointError, ValueError) into one error event with a one-line
message, so a bad request never stops the server or a worker. A job is saved once (studio/history.py): run
again after its worker died, it announces the entry already saved instead of running a second time.
"""
from __future__ import annotations

import datetime
import time
from dataclasses import asdict
from pathlib import Path

import torch

from generation.loading import LoadedRun, load_run, sampler_settings, sampling_precision
from generation.sampling import SamplerSettings, observe_steps, to_uint8
from runfolder.checkpoint import CheckpointError
from runfolder.device import select_device
from schemas.check import ConfigError
from studio import events
from studio.codec import encode_png
from studio.history import History
from studio.kinds import KINDS
from studio.spec import JobSpec

USER_ERRORS = (ConfigError, CheckpointError, ValueError)


class Frames:
    """The step observer that emits a progress event with the predicted x0 every `every` steps and at the
    last step; a batch is shown side by side in one frame. decode: the run's first stage's, from the chain's
    space to pixels (a latent run's previews are decoded latents)."""

    def __init__(self, job: str, steps: int, every: int, emit, worker: str, decode=lambda x0: x0):
        self.job, self.steps, self.every, self.emit, self.worker = job, steps, every, emit, worker
        self.decode = decode

    def __call__(self, step: int, t: int, xt: torch.Tensor, x0: torch.Tensor) -> None:
        if self.every and (step % self.every == 0 or step == self.steps - 1):
            strip = torch.cat(list(to_uint8(self.decode(x0.float()).clamp(-1, 1))), dim=-1)
            self.emit(events.progress(self.job, step, self.steps, int(t), encode_png(strip), self.worker))


class JobRunner:
    """Runs JobSpecs against one run folder. device: auto | cpu | cuda ...; worker: the name in events."""

    def __init__(self, run: str | Path, device: str = "auto", precision: str = "fp32", worker: str = "local"):
        self.run, self.worker = Path(run), worker
        self.device = select_device(device)
        self.history = History(self.run)
        self.history.remove_stale_staging()
        self._loaded: dict[tuple[str, str | None], LoadedRun] = {}
        self.precision = precision
        if precision == "auto":  # measured on the run's own network where the CPU has bf16 instructions
            loaded = self.loaded(self.run, None)
            self.precision = sampling_precision(precision, loaded, self.settings(loaded, JobSpec(kind="generate")), 16)
            print(f"studio: precision auto -> {self.precision} (runfolder/precision.py)", flush=True)

    def loaded(self, run: str | Path, checkpoint: str | None) -> LoadedRun:
        key = (str(run), None if checkpoint is None else str(checkpoint))
        if key not in self._loaded:
            self._loaded[key] = load_run(run, checkpoint, "ema", self.device)
        return self._loaded[key]

    def settings(self, loaded: LoadedRun, spec: JobSpec):
        return sampler_settings(loaded.cfg, loaded.schedule.num_timesteps, sampler=spec.sampler,
                                num_steps=spec.num_steps, guidance_scale=spec.guidance_scale, binding=spec.binding)

    def run_job(self, spec: JobSpec, emit) -> dict:
        """Run spec, calling emit(event) for each progress frame and once for the final event, which it returns."""
        try:
            final = events.result(spec.id, *self._run(spec, emit), worker=self.worker)
        except events.EventLost:
            raise
        except USER_ERRORS as error:
            final = events.error(spec.id, str(error).splitlines()[0], self.worker)
        except Exception as error:  # a bug must not take the server or the worker down with it
            final = events.error(spec.id, f"job failed: {type(error).__name__}: {error}".splitlines()[0], self.worker)
        emit(final)
        return final

    def _run(self, spec: JobSpec, emit) -> tuple[str, dict, float]:
        begin = time.perf_counter()
        entry = self.history.entry_for(spec)
        if self.history.exists(entry):  # saved by a worker that died before announcing it
            return entry, self.history.params(entry), round(time.perf_counter() - begin, 4)
        if spec.kind == "branch" and spec.parent:  # a rewind continues the parent's chain: its weights and sampler
            parent = self.history.params(spec.parent)
            loaded = self.loaded(self.run, Path(parent["checkpoint"]).name)
            settings = SamplerSettings(**parent["sampler"])
        else:
            loaded = self.loaded(self.run, spec.checkpoint)
            settings = self.settings(loaded, spec)
        loaded_at = time.perf_counter()
        steps = settings.num_steps or loaded.schedule.num_timesteps
        with self.history.staging(entry) as folder:
            with observe_steps(Frames(spec.id, steps, spec.progress_every, emit, self.worker, loaded.first_stage.decode)):
                images, params = KINDS[spec.kind](self, spec, loaded, settings, folder)
            done = time.perf_counter()
            params = self._parameters(spec, loaded, settings, params, params.get("steps_run", steps), begin, loaded_at, done)
            self.history.save(folder, entry, images, params)
        return entry, params, round(time.perf_counter() - begin, 4)

    def _parameters(self, spec, loaded, settings, params, steps, begin, loaded_at, done) -> dict:
        """What result.json keeps: the request, the checkpoint, the sampler, where and how fast, and the kind's own."""
        return {"kind": spec.kind, "spec": spec.parameters(), "run": str(self.run), "checkpoint": str(loaded.checkpoint),
                "checkpoint_step": loaded.step, "sampler": asdict(settings), "device": str(self.device),
                "worker": self.worker, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "timings": {"load_s": round(loaded_at - begin, 4), "run_s": round(done - loaded_at, 4),
                            "steps": steps, "ms_per_step": round(1000 * (done - loaded_at) / max(steps, 1), 2)},
                **params}
