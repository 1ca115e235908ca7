"""Where a training run stands: :class:`RunState`, saved in every checkpoint as ``state.json``.

The state is what the loop needs to continue a run exactly where it stopped, besides the
weights and optimiser states (see :mod:`~sunet.training.checkpoint`): the epoch and step reached,
early stopping's counters, the band statistics the inputs are normalised with, the per-epoch log
and the schedule's end if a time budget moved it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sunet.training.report import finite_or_none
from sunet.training.schedule import Horizon

__all__ = ["RunState"]


@dataclass
class RunState:
    """A run's progress after its last complete epoch.

    Attributes:
        mean, std: per-band normalisation, 0-255 scale (of the training split, or the bundle's
            when fine-tuning).
        epoch: complete epochs; step: optimiser steps taken (global, over every process).
        best_score, best_epoch: the best validation score and its epoch (1-based); the score is
            None while no epoch was validated with a finite score.
        bad_epochs: epochs since the best one (early stopping).
        history: one log row per epoch (``train_log.csv``), JSON values only.
        pretrained: what loading ImageNet backbone weights reported, if the run started from them.
        horizon: where a time budget ended the schedule (None: the configured epochs).
    """

    mean: list[float]
    std: list[float]
    epoch: int = 0
    step: int = 0
    best_score: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    pretrained: str | None = None
    horizon: Horizon | None = None

    def end_epoch(self, row: dict[str, Any], improved: bool) -> None:
        """Count the epoch of log row ``row`` (its ``epoch``, ``val_score`` if validated) and
        keep the row, with NaN and infinities as None (JSON has none)."""
        self.epoch = int(row["epoch"])
        if improved:
            self.best_score = finite_or_none(row.get("val_score", math.nan))
            self.best_epoch = self.epoch
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self.history.append(
            {k: finite_or_none(v) if isinstance(v, float) else v for k, v in row.items()}
        )

    def to_json(self) -> dict[str, Any]:
        """The ``state.json`` layout (``horizon`` only once a budget planned one)."""
        saved: dict[str, Any] = {
            "epoch": self.epoch,
            "step": self.step,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "mean": self.mean,
            "std": self.std,
            "history": self.history,
            "pretrained": self.pretrained,
        }
        if self.horizon is not None:
            saved["horizon"] = self.horizon.to_json()
        return saved

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> RunState:
        """Read back :meth:`to_json`'s layout."""
        horizon = saved.get("horizon")
        return cls(
            mean=list(saved["mean"]),
            std=list(saved["std"]),
            epoch=int(saved["epoch"]),
            step=int(saved["step"]),
            best_score=saved.get("best_score"),
            best_epoch=saved.get("best_epoch"),
            bad_epochs=int(saved.get("bad_epochs", 0)),
            history=list(saved.get("history", [])),
            pretrained=saved.get("pretrained"),
            horizon=Horizon.from_json(horizon) if horizon else None,
        )
