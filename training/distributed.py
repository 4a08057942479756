"""Process-group setup for torchrun (DistributedDataParallel), and the plain single-process case.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them this is one process and every collective
below is a no-op. Backend: nccl on CUDA, gloo on CPU.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: torch.device) -> Distributed:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(0, 1, 0)
    if not dist.is_initialized():
        # Rank 0 previews and evaluates while the others wait at a barrier: allow that an hour.
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", timeout=datetime.timedelta(hours=1))
    return Distributed(dist.get_rank(), world_size, int(os.environ.get("LOCAL_RANK", "0")))


def local_device(device: torch.device, local_rank: int) -> torch.device:
    """Each process takes its own GPU (cuda:LOCAL_RANK); CPU processes share the CPU."""
    if device.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return device


def broadcast_from_main(value, d: Distributed):
    """Rank 0's value of a picklable object, on every rank."""
    if not d.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(d: Distributed) -> None:
    if d.enabled:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, d: Distributed) -> torch.Tensor:
    if d.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool, device: torch.device, d: Distributed) -> bool:
    """True on every rank if it is true on any: all ranks stop together."""
    if not d.enabled:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def cleanup(d: Distributed) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def check_in_sync(model: torch.nn.Module, d: Distributed) -> None:
    """Raise if the ranks' weights differ: DDP keeps them bitwise equal, so any difference is a bug."""
    if not d.enabled:
        return
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    low, high = checksum.clone(), checksum.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if low.item() != high.item():
        raise RuntimeError(f"rank {d.rank}: weights differ between ranks (checksums {low.item()} .. {high.item()})")
