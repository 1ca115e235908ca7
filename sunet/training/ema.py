"""An exponential moving average of the model's weights (Polyak averaging).

Late in training the weights wander around a minimum from batch to batch; their running average
sits nearer its centre and usually validates better than any single iterate (timm trains its
Swin models with one). The average starts at the initial weights and its decay warms up as
``min(decay, (1 + t) / (10 + t))`` at step ``t``, so that the early, poor weights are forgotten
quickly. Buffers (Swin's relative-position tables) are copied, not averaged.
"""

from __future__ import annotations

import copy
from typing import Generic, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)

__all__ = ["WeightAverage"]


class WeightAverage(Generic[M]):
    """Running average of ``model``'s floating-point parameters.

    Args:
        model: the network being trained (not a DDP wrapper).
        decay: the long-run decay per step, e.g. 0.998 (an average over about 500 steps).
    """

    def __init__(self, model: M, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight-average decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.steps = 0
        self.model: M = copy.deepcopy(model).eval().requires_grad_(False)
        self._pairs = [
            (a, p)
            for a, p in zip(self.model.parameters(), model.parameters(), strict=True)
            if p.dtype.is_floating_point
        ]
        self._buffers = list(zip(self.model.buffers(), model.buffers(), strict=True))

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.steps) / (10 + self.steps))

    @torch.no_grad()
    def update(self) -> None:
        """Fold in the model's current weights (after an optimiser step)."""
        weight = 1.0 - self.current_decay()
        averaged: list[torch.Tensor] = [a for a, _ in self._pairs]
        torch._foreach_lerp_(averaged, [p.detach() for _, p in self._pairs], weight)
        for a, b in self._buffers:
            a.copy_(b)
        self.steps += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged model's tensors (with the step count, for checkpoints)."""
        state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        state["__steps__"] = torch.tensor(self.steps)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        state = dict(state)
        self.steps = int(state.pop("__steps__"))
        self.model.load_state_dict(state)
