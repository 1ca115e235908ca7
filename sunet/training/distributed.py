"""Processes and devices: each process's device, agreement between processes, worker start-up.

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

__all__ = [
    "agree",
    "agree_min",
    "backend_for",
    "bf16_native",
    "device_for",
    "free_port",
    "launched_by_torchrun",
    "replica_check",
    "spawn",
]


def device_for(choice: str, local_rank: int) -> torch.device:
    """The device of the process with ``local_rank`` on its machine: ``choice`` is ``cuda``,
    ``cpu`` or ``auto`` (a GPU if there is one); GPUs are shared out by local rank.

    Raises:
        ValueError: ``cuda`` without a CUDA device.
    """
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device is available")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX: there bf16 autocast makes a step faster (see the README, "3. Train,
    evaluate, compare"); on CPUs without them bf16 is emulated and slower than float32."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # torch without these probes: assume not
        return False


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


def replica_check(model: torch.nn.Module, world_size: int) -> dict[str, Any]:
    """Whether every process holds the same weights (DDP keeps the replicas identical; a run
    checks it rather than trusts it). Every process must call this.

    Returns:
        ``{"world_size": ..., "replicas_identical": ...}`` (compared by the sums of the weights
        and of their absolute values, in float64).
    """
    flat = torch.cat([p.detach().flatten() for p in model.parameters()]).double()
    sums: list[Any] = [None] * world_size
    dist.all_gather_object(sums, [float(flat.sum()), float(flat.abs().sum())])
    return {"world_size": world_size, "replicas_identical": all(s == sums[0] for s in sums)}


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
