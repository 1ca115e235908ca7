"""``TrainConfig``: one typed configuration for a training run, resolved against a preset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sunet.hashing import file_hash
from sunet.model.config import PresetName, SUNetConfig, get_preset

__all__ = [
    "APPEARANCES",
    "RESOLVED_FROM_DATA",
    "RUNTIME_FIELDS",
    "Appearance",
    "Device",
    "TrainConfig",
    "load_saved_config",
]

# Where a model trains or runs.
Device = Literal["auto", "cpu", "cuda"]

# Radiometric augmentation strengths (see sunet.training.augment).
Appearance = Literal["mild", "looks"]
APPEARANCES: tuple[str, ...] = ("mild", "looks")

# Fields that may differ between a run and its resumption: they change how long or where it
# runs, not what is learned.
RUNTIME_FIELDS = frozenset(
    {"epochs", "max_minutes", "resume", "progress", "device", "num_threads", "patience", "out"}
)
# Fields the trainer fills in from the store when left None (saved resolved in config.json).
RESOLVED_FROM_DATA = frozenset({"pure_fraction"})


# Fields added after runs were first saved, with the value those runs trained with: a run folder
# whose config.json lacks one was made by that behaviour, not by today's default.
EARLIER_BEHAVIOUR: dict[str, object] = {
    "pure_fraction": 1 / 3,
    "train_splits": ["train"],
    "gradnorm_layer": "final-norm",
    "gradnorm_every": 1,
    "weight_average": 0.0,
    "abundances_on_pure": False,
    "appearance": "mild",
    "replay": None,
    "replay_ratio": 2.0,
}

# Batches hold at least this share of pure patches (the paper's data is about 1 pure : 2 mixed).
PURE_FRACTION = 1 / 3

# Fine-tuning from a bundle (`init_from`): what a short schedule means, unless given.
FINE_TUNE_STEPS = 300
FINE_TUNE_LR_SHARE = 0.25  # of the preset's learning rate
FINE_TUNE_MINUTES = 5.0


class TrainConfig(BaseModel):
    """A training run. ``None`` fields take the preset's value when the config is created, so the
    saved ``config.json`` always holds the values actually used."""

    model_config = ConfigDict(extra="forbid")

    patches: Path = Field(description="Patch store folder (index.parquet + patches.zarr).")
    out: Path = Field(description="Run folder: bundle, checkpoints, logs, curves.")
    preset: PresetName = Field(
        default="cpu-small", description="Architecture and training defaults."
    )
    model: SUNetConfig | None = Field(
        default=None,
        description="Architecture; None = the preset's (pure_stream is set from below).",
    )
    epochs: int | None = Field(default=None, description="Maximum epochs (None = preset).", ge=1)
    batch_size: int | None = Field(
        default=None, description="Global batch size (None = preset).", ge=2
    )
    lr: float | None = Field(default=None, description="AdamW learning rate (None = preset).", gt=0)
    weight_decay: float | None = Field(
        default=None, description="AdamW weight decay (None = preset)."
    )
    warmup_steps: int | None = Field(
        default=None, description="Linear LR warm-up steps (None = preset)."
    )
    lr_schedule: Literal["cosine", "constant"] = Field(
        default="cosine",
        description="After warm-up: cosine decay to `min_lr_ratio` x lr over the run's epochs, "
        "or constant.",
    )
    min_lr_ratio: float = Field(
        default=0.01, description="Final learning rate of the cosine, as a share of lr.", ge=0, le=1
    )
    patience: int | None = Field(
        default=None,
        description="Early stopping: epochs without improvement of val_score (None = preset).",
    )
    max_minutes: float | None = Field(
        default=None,
        description="Wall-clock budget of this invocation in minutes; None = preset, 0 = none. "
        "No epoch is started that would not fit (judged from the last epoch's duration).",
    )
    resume: bool = Field(
        default=False, description="Continue the run in `out` from its last checkpoint."
    )
    pretrained: Path | None = Field(
        default=None,
        description="Local ImageNet Swin-V2 weights (.pth/.bin/.safetensors) for the backbone.",
    )
    loss_weights: Literal["gradnorm", "fixed"] = Field(
        default="gradnorm", description="GradNorm task weights, or fixed equal weights (ablation)."
    )
    gradnorm_alpha: float = Field(
        default=0.0,
        description="GradNorm asymmetry alpha (0: equal weighted gradient norms, the paper's "
        "'consistent gradient magnitudes'; Chen et al. use up to 3).",
        ge=0,
    )
    gradnorm_lr: float = Field(
        default=0.025, description="Learning rate of the GradNorm weights.", gt=0
    )
    gradnorm_layer: Literal["final-norm", "first-stage"] = Field(
        default="first-stage",
        description="GradNorm's shared layer W: the backbone's final norm, or the first stage's "
        "last layer (every task's whole gradient crosses it, the decoder's skips included).",
    )
    gradnorm_every: int = Field(
        default=4,
        description="Update the GradNorm weights every N steps (measuring the norms at the "
        "first stage costs more than a plain step; README 'Train' gives the cost).",
        ge=1,
    )
    weight_average: float = Field(
        default=0.0,
        description="Decay of an exponential moving average of the weights, validated and kept "
        "instead of the raw weights (e.g. 0.998); 0 = off.",
        ge=0,
        lt=1,
    )
    pure_stream: bool = Field(
        default=True,
        description="Train the PSC stream. False (ablation): no PSC head or loss; pure patches "
        "then train the abundance head too, with their reference abundances (near one-hot).",
    )
    abundances_on_pure: bool = Field(
        default=False,
        description="Train the abundance head on pure patches too (their near one-hot reference "
        "abundances), not only on mixed ones as in the paper.",
    )
    pure_fraction: float | None = Field(
        default=None,
        description="Share of pure patches in every batch; None = a third (the paper's 1 : 2), "
        "or the training split's own pure share where that is larger (few polygons of a new "
        "city give mostly pure patches: a fixed third would draw its few mixed ones over and "
        "over).",
        gt=0,
        lt=1,
    )
    augment: bool = Field(
        default=True, description="D4 flips/rotations and radiometric jitter (`appearance`)."
    )
    appearance: Appearance = Field(
        default="looks",
        description="Radiometric augmentation: 'looks' (brightness, contrast, band gain, gamma, "
        "saturation, hue, haze, blur/sharpening, noise and JPEG: spans other cities, seasons "
        "and sensors) or 'mild' (the first three, narrower).",
    )
    init_from: Path | None = Field(
        default=None,
        description="Fine-tune: start from this model bundle (its architecture, weights and "
        "normalisation) instead of from scratch; a short schedule unless epochs/lr are given.",
    )
    freeze_backbone_stages: int = Field(
        default=0,
        ge=0,
        le=4,
        description="Keep the patch embedding and the first N backbone stages fixed (with "
        "init_from).",
    )
    train_splits: list[Literal["train", "val", "test"]] | None = Field(
        default=None,
        description="Splits of the store that train the model; None = train (validation on "
        "val picks the epoch kept), or with init_from every split (a few polygons of a new city "
        "are too precious to hold back, and too few to pick an epoch by: the last is kept; "
        "assess the map against independent reference polygons instead).",
    )
    fine_tune_steps: int = Field(
        default=FINE_TUNE_STEPS,
        ge=1,
        description="With init_from and no epochs given: optimiser steps of the schedule "
        "(epochs follow from the store's size).",
    )
    replay: Path | None = Field(
        default=None,
        description="With init_from: a patch store of what the bundle learnt from (its own "
        "store, or any with the same bands, patch size, GSD and radiometry); replay_ratio of its "
        "train patches per new patch are mixed into fine-tuning, so that a few polygons of a new "
        "city add to what the model knew instead of replacing it. Unset: the bundle's own "
        "store when it is still where the bundle records it, unchanged; null: no replay.",
    )
    replay_ratio: float = Field(
        default=2.0,
        gt=0,
        description="With replay: patches drawn from the replay store per patch of the new store.",
    )
    grad_clip: float = Field(default=1.0, description="Gradient-norm clipping (0 = off).", ge=0)
    seed: int = Field(default=0, description="Seed of initialisation, sampling and augmentation.")
    device: Device = Field(default="auto", description="Where to train.")
    amp: bool = Field(
        default=True,
        description="bf16 autocast where it is native: a GPU that supports it, or a CPU with "
        "AVX512-BF16/AMX (elsewhere float32).",
    )
    num_processes: int = Field(
        default=1, description="Data-parallel processes (DDP: gloo on CPU, nccl on GPU).", ge=1
    )
    num_threads: int | None = Field(
        default=None, description="CPU threads per process (None = cores / processes)."
    )
    cache_max_gb: float = Field(
        default=2.0,
        description="Keep a split in memory (at model input size) if it fits this budget.",
    )
    progress: bool = Field(default=True, description="Show a progress bar.")

    @model_validator(mode="after")
    def _resolve(self) -> TrainConfig:
        if self.init_from is not None:
            return self._resolve_fine_tune()
        if self.freeze_backbone_stages:
            raise ValueError("freeze_backbone_stages needs init_from (a model to start from)")
        if self.replay is not None:
            raise ValueError("replay needs init_from (the model whose training data it replays)")
        if self.train_splits is None:
            self.train_splits = ["train"]
        preset = get_preset(self.preset)
        model = self.model or preset.model
        self.model = model.model_copy(update={"pure_stream": self.pure_stream})
        t = preset.training
        for name in ("epochs", "batch_size", "lr", "weight_decay", "warmup_steps", "patience"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(t, name))
        if self.max_minutes is None:
            self.max_minutes = t.max_minutes or 0.0
        return self

    def _resolve_fine_tune(self) -> TrainConfig:
        """Architecture and preset from the bundle; a short schedule: a quarter of the preset's
        learning rate, :data:`FINE_TUNE_STEPS` steps (``epochs`` is filled in by the trainer from
        the store's size), :data:`FINE_TUNE_MINUTES` minutes, no early stopping."""
        from sunet.bundle import read_bundle_meta

        assert self.init_from is not None
        meta = read_bundle_meta(self.init_from)
        if self.model is not None and self.model != meta.model:
            raise ValueError(f"{self.init_from}: fine-tuning keeps the bundle's architecture")
        if "preset" in self.model_fields_set and self.preset != meta.preset:
            raise ValueError(
                f"{self.init_from}: a {meta.preset!r} model; fine-tuning keeps its preset "
                f"(drop --preset {self.preset})"
            )
        self.preset = meta.preset  # type: ignore[assignment]
        self.model = meta.model
        self.pure_stream = meta.model.pure_stream
        if "abundances_on_pure" not in self.model_fields_set:
            # Keep training the abundance head the way the bundle's was trained.
            self.abundances_on_pure = bool(meta.training.get("abundances_on_pure", False))
        if (
            self.freeze_backbone_stages
            and self.loss_weights == "gradnorm"
            and self.gradnorm_layer == "first-stage"
        ):
            raise ValueError(
                "freeze_backbone_stages: GradNorm measures at the first stage, which would be "
                "frozen; use gradnorm_layer final-norm or loss_weights fixed"
            )
        t = get_preset(meta.preset).training
        if self.lr is None:
            self.lr = t.lr * FINE_TUNE_LR_SHARE
        for name in ("batch_size", "weight_decay"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(t, name))
        if self.warmup_steps is None:
            self.warmup_steps = min(t.warmup_steps, 20)
        if self.patience is None:
            self.patience = 10_000  # a few hundred steps: train them all, keep the best epoch
        if self.max_minutes is None:
            self.max_minutes = FINE_TUNE_MINUTES
        if self.train_splits is None:
            self.train_splits = ["train", "val", "test"]
        if "replay" not in self.model_fields_set:
            self.replay = _own_store(meta.training.get("patches"), meta.index_hash)
        return self

    # Narrowed accessors: after validation these are never None.
    @property
    def arch(self) -> SUNetConfig:
        assert self.model is not None
        return self.model

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names in loss order; the reconstruction is last (see GradNorm.backward)."""
        if self.pure_stream:
            return ("psc", "abundance", "reconstruction")
        return ("abundance", "reconstruction")


def _own_store(recorded: object, index_hash: str) -> Path | None:
    """The patch store a bundle was trained on, if it is still where the bundle says and holds
    the same patches (its index hashes as recorded); None otherwise."""
    if not isinstance(recorded, str):
        return None
    from sunet.patch_store import INDEX_NAME  # zarr, pandas: only when fine-tuning

    index = Path(recorded) / INDEX_NAME
    if not index.is_file():
        return None
    return Path(recorded) if file_hash(index, tagged=True) == index_hash else None


def load_saved_config(path: Path) -> TrainConfig:
    """A run folder's ``config.json``; fields it predates take the behaviour it was trained with
    (:data:`EARLIER_BEHAVIOUR`), so that resuming it under today's defaults is refused as a change
    instead of silently switching behaviour mid-run."""
    saved = json.loads(path.read_text(encoding="utf-8"))
    for name, value in EARLIER_BEHAVIOUR.items():
        saved.setdefault(name, value)
    return TrainConfig.model_validate(saved)
