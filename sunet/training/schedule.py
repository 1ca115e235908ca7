"""How long a run trains and at what learning rate: the LR schedule, the time budget, early stopping.

* **Learning rate** (:func:`learning_rate`): a linear warm-up, then a half cosine (or a constant)
  to the end of the schedule, which is the configured epochs or, under a time budget, the epochs
  the budget holds (the :class:`Horizon`).
* **Time budget** (:class:`Budget`, ``max_minutes`` of this invocation): no epoch is started that
  the last epoch's duration says will not fit, and a partial epoch is abandoned only once this
  invocation has completed one (whose checkpoint then stands). After every epoch the horizon is
  planned again from the time left at the last epoch's pace (:meth:`Schedule.replan`), so that
  the learning rate has decayed when the budget ends instead of being cut off high, and a slow
  first epoch (start-up, a busy machine) does not fix a short schedule for good.
* **Early stopping** (:func:`out_of_patience`): ``patience`` epochs in a row whose ``val_score``
  did not improve (:func:`improves`) on the best so far.

Everything here is plain arithmetic on numbers the trainer passes in; the trainer makes the data
parallel processes agree on them (:mod:`~sunet.training.distributed`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sunet.training.settings import Settings

__all__ = [
    "Budget",
    "Horizon",
    "Schedule",
    "Stopped",
    "epochs_that_fit",
    "improves",
    "learning_rate",
    "out_of_patience",
]

# Why a run ended: all its epochs, early stopping, or the time budget (which includes a schedule
# the budget shortened).
Stopped = Literal["completed", "early_stopping", "time_budget"]

# A val_score gain below this is noise, not an improvement.
MIN_IMPROVEMENT = 1e-4
# Share of the time left that planning fills: the rest is a margin for validation, the
# checkpoint and an epoch that runs slower than the last.
PLANNED_SHARE = 0.95


def learning_rate(
    step: int,
    base_lr: float,
    warmup_steps: int,
    total_steps: int,
    schedule: str,
    min_ratio: float,
) -> float:
    """Learning rate at optimiser step ``step`` (0-based): linear warm-up over ``warmup_steps``,
    then constant or a half cosine from ``base_lr`` down to ``min_ratio * base_lr`` at
    ``total_steps`` (held there beyond it)."""
    warmup = max(warmup_steps, 1)
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant" or total_steps <= warmup:
        return base_lr
    progress = min((step - warmup) / (total_steps - warmup), 1.0)
    return base_lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass(frozen=True)
class Horizon:
    """Where a time budget ends the schedule: at epoch ``epochs`` of the ``configured`` ones.

    Saved with the run's state: a resumed run with the same configured epochs keeps it, one
    given other epochs plans again.
    """

    epochs: int
    configured: int

    def to_json(self) -> dict[str, int]:
        return {"epochs": self.epochs, "configured": self.configured}

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> Horizon:
        return cls(epochs=int(saved["epochs"]), configured=int(saved["configured"]))


@dataclass(frozen=True)
class Schedule:
    """A run's learning rate over its optimiser steps and the epoch it ends at.

    Attributes:
        settings: the run's resolved settings (epochs, lr, warm-up, schedule shape).
        steps_per_epoch: optimiser steps in one epoch (every epoch has as many).
    """

    settings: Settings
    steps_per_epoch: int

    def last_epoch(self, planned: Horizon | None) -> int:
        """The epoch the schedule ends at: where a time budget ``planned`` it for the epochs
        configured now, else the configured epochs."""
        epochs = self.settings.epochs
        return planned.epochs if planned is not None and planned.configured == epochs else epochs

    def lr_at(self, step: int, planned: Horizon | None) -> float:
        """The learning rate at global optimiser step ``step`` (0-based)."""
        s = self.settings
        total = self.last_epoch(planned) * self.steps_per_epoch
        return learning_rate(step, s.lr, s.warmup_steps, total, s.lr_schedule, s.min_lr_ratio)

    def replan(self, planned: Horizon | None, done: int, fit: int) -> Horizon | None:
        """The schedule's end once ``done`` epochs are complete and the budget holds ``fit``
        (see :func:`epochs_that_fit`): never before ``done``, never beyond the configured epochs.

        Returns:
            The new horizon, or None when the schedule already ends there.
        """
        epochs = self.settings.epochs
        fit = max(done, min(fit, epochs))
        if fit == self.last_epoch(planned):
            return None
        return Horizon(epochs=fit, configured=epochs)


def epochs_that_fit(done: int, left_s: float, epoch_s: float) -> int:
    """``done`` plus the epochs of ``epoch_s`` seconds each that fit in the planned share of the
    ``left_s`` seconds left (no upper bound: :meth:`Schedule.replan` caps it)."""
    return done + int(PLANNED_SHARE * max(left_s, 0.0) / max(epoch_s, 1e-9))


class Budget:
    """This invocation's wall-clock budget, counted from the object's creation.

    Args:
        seconds: the budget; 0 = none.
        agree: makes every process give the same answer (any process's True wins), so that
            data-parallel processes stop together; called on every question, budget or not.
        clock: seconds, monotonic.
    """

    def __init__(
        self,
        seconds: float,
        agree: Callable[[bool], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._agree = agree
        self._clock = clock
        self._started = clock()
        self.last_epoch_s = 0.0  # duration of the last complete epoch
        self.completed = 0  # epochs this invocation completed

    @property
    def limited(self) -> bool:
        return self.seconds > 0

    def elapsed_s(self) -> float:
        return self._clock() - self._started

    def left_s(self) -> float:
        """Seconds of the budget left (negative once spent)."""
        return self.seconds - self.elapsed_s()

    def next_epoch_fits(self) -> bool:
        """Whether an epoch as long as the last one still fits (always, without a budget)."""
        late = self.limited and self.elapsed_s() + self.last_epoch_s > self.seconds
        return not self._agree(late)

    def spent(self) -> bool:
        """Asked before every step: abandon the epoch. Never before this invocation has
        completed an epoch, so that the first one always completes."""
        over = self.limited and self.completed > 0 and self.elapsed_s() > self.seconds
        return self._agree(over)

    def epoch_done(self, seconds: float) -> None:
        """Count a complete epoch that took ``seconds``."""
        self.last_epoch_s = seconds
        self.completed += 1


def improves(score: float, best: float | None) -> bool:
    """Whether validation score ``score`` improves on the ``best`` so far (None = none yet)."""
    return math.isfinite(score) and (best is None or score > best + MIN_IMPROVEMENT)


def out_of_patience(best_epoch: int | None, bad_epochs: int, patience: int) -> bool:
    """Early stopping: ``patience`` epochs in a row without improvement since the best one."""
    return best_epoch is not None and bad_epochs >= patience
