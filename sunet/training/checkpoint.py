"""Epoch checkpoints: everything needed to continue a run exactly where it stopped.

``OUT/checkpoint/`` is replaced as a whole (``atomic_dir``), so it always holds one complete
epoch:

* ``last.safetensors``: the network's weights and buffers after the epoch;
* ``best.safetensors``: the weights of the best validation epoch so far;
* ``optimizer.pt``: AdamW and GradNorm states and every process's RNG states (tensors, ints and
  lists only: read back with ``torch.load(weights_only=True)``, no pickle of objects);
* ``state.json``: epoch, step, early-stopping counters, band statistics, the log so far.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from sunet.atomic import atomic_dir

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state"]


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
