"""Data-parallel plumbing: process groups, agreement between processes, worker start-up.

CPU training uses the gloo backend, GPU training nccl (one process per GPU). Processes are
started with ``torch.multiprocessing.spawn``, or by ``torchrun`` (its environment is then used).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

__all__ = ["agree", "agree_min", "backend_for", "free_port", "launched_by_torchrun", "spawn"]


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def free_port() -> int:
    """A free TCP port on the loopback interface for the rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def agree(flag: bool, world_size: int, device: torch.device) -> bool:
    """True if any process says True, so that all processes stop (or improve) together."""
    if world_size == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def agree_min(value: int, world_size: int, device: torch.device) -> int:
    """The smallest of every process's ``value``."""
    if world_size == 1:
        return value
    t = torch.tensor([float(value)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def _worker(
    rank: int,
    world_size: int,
    port: int,
    backend: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group(backend, rank=rank, world_size=world_size)
    try:
        fn(*args, rank, world_size)
    finally:
        dist.destroy_process_group()


def spawn(fn: Callable[..., Any], args: tuple[Any, ...], world_size: int, backend: str) -> None:
    """Run ``fn(*args, rank, world_size)`` in ``world_size`` processes joined in one group.

    An exception in any process stops all of them and is raised here.
    """
    mp.spawn(
        _worker,
        args=(world_size, free_port(), backend, fn, args),
        nprocs=world_size,
        join=True,
    )
