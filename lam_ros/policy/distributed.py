"""Training under torchrun: joining the process group, the device of each rank, and the few
agreements between ranks the loop needs. Without torchrun all of it is a one-process no-op."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist

from lam_ros.policy.train_config import TrainingError

T = TypeVar("T")


def is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def setup_distributed() -> tuple[int, torch.device]:
    """(rank, device); joins the process group (gloo on CPU, nccl on GPU) when launched by
    torchrun, and shares the CPU cores between the ranks on this machine."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = torch.device("cpu")
    if torch.cuda.is_available():
        local_rank, visible = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local_rank >= visible:
            raise TrainingError(f"LOCAL_RANK {local_rank} but only {visible} GPU(s) visible; "
                                f"use --nproc_per_node <= {visible}")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    return rank, device


def rank0_first(work: Callable[[], T], what: str) -> T:
    """``work()`` (which does ``what``) on rank 0, then on the other ranks, which then find what
    rank 0 left (such as its cache entries); if rank 0 fails, every rank stops with its error
    instead of waiting for it forever."""
    if not dist.is_initialized():
        return work()
    result, failure, error = None, [""], None
    if is_main():
        try:
            result = work()
        except Exception as exc:  # told to every rank below, then raised here
            failure, error = [f"{type(exc).__name__}: {exc}"], exc
    dist.broadcast_object_list(failure, src=0)  # the other ranks wait here for rank 0
    if error is not None:
        raise error
    if failure[0]:
        raise RuntimeError(f"rank 0 could not {what}: {failure[0]}")
    return result if is_main() else work()


def agreed_seconds(seconds: float, device: torch.device) -> float:
    """Rank 0's ``seconds`` on every rank (``device``: nccl only moves GPU tensors)."""
    value = torch.tensor([seconds], dtype=torch.float64, device=device)
    if dist.is_initialized():
        dist.broadcast(value, src=0)
    return float(value)
