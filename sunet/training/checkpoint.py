"""Epoch checkpoints: everything needed to continue a run exactly where it stopped.

``OUT/checkpoint/`` is replaced as a whole (``atomic_dir``), so it always holds one complete
epoch:

* ``last.safetensors``: the network's weights and buffers after the epoch;
* ``best.safetensors``: the weights of the best validation epoch so far;
* ``optimizer.pt``: AdamW and GradNorm states and every process's RNG states (tensors, ints and
  lists only: read back with ``torch.load(weights_only=True)``, no pickle of objects);
* ``state.json``: epoch, step, early-stopping counters, band statistics, the log so far
  (:class:`~sunet.training.state.RunState`).

:class:`Checkpointer` saves one after every epoch (every process gives its random states, rank 0
writes) and reads it back on ``--resume``; :func:`check_run_folder` keeps two runs out of one
folder and refuses to resume a run under a changed configuration.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from sunet.atomic import atomic_dir
from sunet.training.config import RESOLVED_FROM_DATA, RUNTIME_FIELDS, TrainConfig, load_saved_config

__all__ = [
    "Checkpoint",
    "Checkpointer",
    "check_run_folder",
    "load_checkpoint",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
]


@dataclass
class Checkpoint:
    """A checkpoint as read back."""

    model: dict[str, torch.Tensor]
    best: dict[str, torch.Tensor] | None
    extra: dict[str, Any]
    state: dict[str, Any]


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def save_checkpoint(
    folder: Path,
    model: dict[str, torch.Tensor],
    best: dict[str, torch.Tensor] | None,
    extra: dict[str, Any],
    state: dict[str, Any],
) -> None:
    """Write one complete checkpoint to ``folder`` (replacing the previous one atomically)."""
    with atomic_dir(folder) as tmp:
        save_file(_cpu(model), str(tmp / "last.safetensors"))
        if best is not None:
            save_file(_cpu(best), str(tmp / "best.safetensors"))
        torch.save(extra, tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")


def load_checkpoint(folder: Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: no checkpoint in ``folder``.
        ValueError: an unreadable checkpoint file.
    """
    state_path = folder / "state.json"
    if not state_path.is_file():
        _recover(folder)
    if not state_path.is_file():
        raise FileNotFoundError(f"{state_path}: no checkpoint to resume from")
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        model = load_file(str(folder / "last.safetensors"))
        best_path = folder / "best.safetensors"
        best = load_file(str(best_path)) if best_path.is_file() else None
        extra = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    except (OSError, ValueError, RuntimeError) as e:
        raise ValueError(f"{folder}: unreadable checkpoint ({type(e).__name__}: {e})") from e
    return Checkpoint(model=model, best=best, extra=extra, state=state)


_PARTS = ("state.json", "last.safetensors", "optimizer.pt")


def _recover(folder: Path) -> None:
    """A crash between the two renames of :func:`save_checkpoint` leaves no ``folder`` but a
    complete checkpoint beside it (the previous one moved aside as ``.old-*``, the new one still
    ``.tmp-*``): put the newest complete one back in its place."""
    found = []
    for pattern in (f".tmp-*-{folder.name}", f".old-*-{folder.name}"):
        for candidate in folder.parent.glob(pattern):
            if all((candidate / part).is_file() for part in _PARTS):
                try:
                    step = json.loads((candidate / "state.json").read_text())["step"]
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                found.append((int(step), candidate))
    if found and not folder.exists():
        os.replace(max(found, key=lambda f: f[0])[1], folder)


def rng_state(augment_state: torch.Tensor) -> dict[str, Any]:
    """This process's random states: torch (dropout, drop-path), CUDA, the augmenter's."""
    out: dict[str, Any] = {"torch": torch.get_rng_state(), "augment": augment_state}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state()
    return out


def set_rng_state(state: dict[str, Any]) -> torch.Tensor:
    """Restore torch/CUDA states; return the augmenter's state for the caller to set."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    return state["augment"]


class Checkpointer:
    """The checkpoint of one run folder, as one process of the run sees it.

    Args:
        out: the run folder (the checkpoint is ``out/checkpoint``).
        rank, world_size: this process and the number of processes; every process takes part in
            :meth:`save`, rank 0 writes.
    """

    def __init__(self, out: Path, rank: int, world_size: int) -> None:
        self.folder = out / "checkpoint"
        self.rank, self.world_size = rank, world_size

    def load(self) -> Checkpoint | None:
        """The checkpoint to resume from; None when the run stopped before its first one (there
        is nothing to continue: it starts from the top)."""
        try:
            return load_checkpoint(self.folder)
        except FileNotFoundError:
            if self.rank == 0:
                print(f"resume: no checkpoint in {self.folder.parent} yet; starting from epoch 1")
            return None

    def save(
        self,
        model: dict[str, torch.Tensor],
        best: dict[str, torch.Tensor] | None,
        extra: dict[str, Any],
        augment_state: torch.Tensor,
        state: dict[str, Any],
    ) -> None:
        """Write a checkpoint (every process must call this: the random states are gathered).

        Args:
            model, best: the last and the best epoch's weights.
            extra: optimiser and GradNorm states (tensors, ints and lists).
            augment_state: this process's augmenter state (empty without augmentation).
            state: the run's state (:meth:`RunState.to_json`).
        """
        rngs = [rng_state(augment_state)]
        if self.world_size > 1:
            gathered: list[Any] = [None] * self.world_size
            dist.all_gather_object(gathered, rngs[0])
            rngs = gathered
        if self.rank == 0:
            save_checkpoint(self.folder, model, best, {**extra, "rng": rngs}, state)


def check_run_folder(config: TrainConfig) -> None:
    """Refuse to mix two runs in one folder; on resume, refuse a changed configuration.

    Raises:
        ValueError: a new run in a folder that holds one, or a changed configuration on resume.
        FileNotFoundError: ``--resume`` in a folder without a run.
    """
    saved_path = config.out / "config.json"
    if not config.resume:
        if (config.out / "checkpoint").exists():
            raise ValueError(
                f"{config.out}: already holds a training run; pass --resume to continue it "
                "or choose another --out"
            )
        return
    if not saved_path.is_file():
        raise FileNotFoundError(f"{saved_path}: no run to resume in {config.out}")
    saved = load_saved_config(saved_path)
    now, before = config.model_dump(mode="json"), saved.model_dump(mode="json")
    changed = sorted(
        k
        for k in now
        if k not in RUNTIME_FIELDS
        and now[k] != before.get(k)
        and not (k in RESOLVED_FROM_DATA and now[k] is None)  # resolved as it was the first time
    )
    if changed:
        raise ValueError(
            f"{saved_path}: cannot resume with a changed configuration ({', '.join(changed)})"
        )
