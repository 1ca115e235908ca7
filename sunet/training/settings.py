"""The training settings a run uses, resolved: plain values instead of ``TrainConfig``'s optionals.

``TrainConfig`` leaves ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``warmup_steps``,
``patience`` and ``max_minutes`` as ``None`` until its validator fills them from the preset (or,
when fine-tuning, from the fine-tuning schedule); two are filled only once the training data is
known (:func:`resolve_from_data`): ``epochs`` when fine-tuning (counted in optimiser steps) and
``pure_fraction``. :class:`Settings` is built once from the fully resolved config, so that the
training code reads ``settings.batch_size`` and never has to allow for a value that is missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeVar

from sunet.training.config import PURE_FRACTION, TrainConfig

__all__ = ["Settings", "resolve_from_data", "train_splits"]

T = TypeVar("T")

# A split's own pure share above which batches follow it instead of the configured minimum.
_MAX_PURE_FRACTION = 0.95


@dataclass(frozen=True)
class Settings:
    """A run's resolved schedule and batch settings.

    Attributes:
        epochs: epochs configured (a time budget may end the schedule earlier, see
            :mod:`~sunet.training.schedule`).
        batch_size: global batch size, patches per optimiser step (summed over processes).
        lr: AdamW learning rate after warm-up.
        weight_decay: AdamW weight decay (on parameters of two or more dimensions).
        warmup_steps: linear learning-rate warm-up, optimiser steps.
        lr_schedule: after the warm-up, a half cosine down to ``min_lr_ratio * lr``, or constant.
        min_lr_ratio: the cosine's final learning rate, as a share of ``lr``.
        patience: early stopping, epochs without an improvement of ``val_score``.
        max_minutes: wall-clock budget of this invocation, minutes; 0 = none.
        pure_fraction: share of pure patches in every batch, in (0, 1).
        train_splits: the store's splits that train the model.
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_steps: int
    lr_schedule: Literal["cosine", "constant"]
    min_lr_ratio: float
    patience: int
    max_minutes: float
    pure_fraction: float
    train_splits: tuple[str, ...]

    @property
    def budget_s(self) -> float:
        """The wall-clock budget in seconds; 0 = none."""
        return self.max_minutes * 60

    @classmethod
    def of(cls, config: TrainConfig) -> Settings:
        """The settings of a validated config that :func:`resolve_from_data` has completed.

        Raises:
            ValueError: a setting is still unresolved (a config that skipped either step).
        """
        return cls(
            epochs=_given(config.epochs, "epochs"),
            batch_size=_given(config.batch_size, "batch_size"),
            lr=_given(config.lr, "lr"),
            weight_decay=_given(config.weight_decay, "weight_decay"),
            warmup_steps=_given(config.warmup_steps, "warmup_steps"),
            lr_schedule=config.lr_schedule,
            min_lr_ratio=config.min_lr_ratio,
            patience=_given(config.patience, "patience"),
            max_minutes=_given(config.max_minutes, "max_minutes"),
            pure_fraction=_given(config.pure_fraction, "pure_fraction"),
            train_splits=tuple(train_splits(config)),
        )


def _given(value: T | None, name: str) -> T:
    if value is None:
        raise ValueError(f"training setting not resolved yet: {name}")
    return value


def train_splits(config: TrainConfig) -> list[str]:
    """The splits that train the model (needed to load the data, before :class:`Settings`).

    Raises:
        ValueError: the config was not validated (its validator always fills them).
    """
    return list(_given(config.train_splits, "train_splits"))


def resolve_from_data(config: TrainConfig, patches: int, pure_share: float) -> TrainConfig:
    """Fill in the settings that depend on the training data; the others are kept as given.

    Args:
        patches: training patches (after any replay is mixed in).
        pure_share: their share of pure patches, in [0, 1].

    Returns:
        ``config`` with ``epochs`` (fine-tuning: enough epochs for ``fine_tune_steps`` optimiser
        steps) and ``pure_fraction`` (a third, or the data's own pure share where that is larger:
        a fixed third would draw the few mixed patches of a mostly pure store over and over).
    """
    update: dict[str, object] = {}
    if config.epochs is None:  # fine-tuning: the schedule is counted in steps
        batches = max(patches // _given(config.batch_size, "batch_size"), 1)
        update["epochs"] = max(1, math.ceil(config.fine_tune_steps / batches))
    if config.pure_fraction is None:
        update["pure_fraction"] = (
            PURE_FRACTION if pure_share <= PURE_FRACTION else min(pure_share, _MAX_PURE_FRACTION)
        )
    return config.model_copy(update=update) if update else config
