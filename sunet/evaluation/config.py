"""The evaluation stage's configurations: scoring a bundle (``evaluate``), assessing a map
against reference polygons (``assess``) and comparing with baselines (``baselines``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sunet.model.config import PresetName, get_preset
from sunet.options import same_field
from sunet.tiling.config import TileConfig
from sunet.training.config import Device

__all__ = ["METHODS", "AssessConfig", "BaselinesConfig", "EvaluateConfig", "Method"]


class EvaluateConfig(BaseModel):
    """What to evaluate, on which patches, and where to write the results."""

    model_config = ConfigDict(extra="forbid")

    model: Path = Field(description="Model bundle file (safetensors) to evaluate.")
    patches: Path = Field(description="Patch store folder (with index.parquet and patches.zarr).")
    split: Literal["train", "val", "test"] = Field(default="test", description="Split to score.")
    out: Path = Field(description="Output folder for metrics, plots and tables.")
    batch_size: int = Field(default=32, ge=1, description="Patches per forward pass.")
    device: str | None = Field(
        default=None, description="Torch device (None = CUDA if available, else CPU)."
    )
    tta: Literal[1, 4, 8] = Field(
        default=1,
        description="Test-time augmentation: views averaged per patch (1 none, 4 rotations, "
        "8 rotations and mirrors).",
    )
    update_bundle: bool = Field(
        default=True, description="Write the headline figures back into the bundle's metadata."
    )


class AssessConfig(BaseModel):
    """One assessment: a map, reference polygons, the bootstrap."""

    model_config = ConfigDict(extra="forbid")

    map: Path = Field(
        description="The map: a `lcz-map map` output folder (its city/), a district folder, or "
        "any GeoTIFF of LCZ codes 1-17 (0 or nodata = unmapped)."
    )
    reference: Path = Field(
        description="Reference polygons (any CRS, any vector format, WUDAPT KML/KMZ too)."
    )
    field: str = same_field(TileConfig, "label_field")
    layer: str | None = Field(
        default=None, description="Layer of the reference file (KML/KMZ: one folder)."
    )
    out: Path = Field(description="Output folder.")
    bootstrap: int = Field(default=1000, ge=0, description="Bootstrap resamples (0 = none).")
    confidence: float = Field(default=0.95, gt=0, lt=1, description="Interval coverage.")
    seed: int = Field(default=0, description="Seed of the bootstrap.")


Method = Literal["prior", "random_forest", "sunet", "sunet_no_pure_stream", "sunet_fixed_weights"]
METHODS: tuple[Method, ...] = get_args(Method)  # in table order
_FAST_SHARE = 0.25  # the fast suite's share of the preset's training budget


class BaselinesConfig(BaseModel):
    """A comparison run. ``None`` budgets are resolved from the suite and preset on creation,
    so the saved ``config.json`` holds the values actually used."""

    model_config = ConfigDict(extra="forbid")

    patches: Path = Field(description="Patch store folder shared by every method.")
    out: Path = Field(description="Output folder for the table and each method's evaluation.")
    suite: Literal["fast", "full"] = Field(
        default="fast",
        description="fast = a quarter of the preset's training budget; full = all of it.",
    )
    split: Literal["val", "test"] = Field(
        default="test", description="Split every method is scored on."
    )
    methods: list[Method] = Field(
        default_factory=lambda: list(METHODS), description="Methods to run, in table order."
    )
    preset: PresetName = Field(
        default="cpu-small", description="SU-Net preset shared by the three SU-Net variants."
    )
    epochs: int | None = Field(
        default=None, ge=1, description="SU-Net epochs (None = preset's, a quarter of it for fast)."
    )
    max_minutes: float | None = Field(
        default=None,
        ge=0,
        description="SU-Net wall-clock budget per variant, minutes (None = from the preset; 0 = none).",
    )
    rf_trees: int | None = Field(
        default=None, ge=1, description="Random-forest trees (None = 100 for fast, 500 for full)."
    )
    seed: int = Field(default=0, description="Seed of every method.")
    device: Device = Field(default="auto", description="Where SU-Net runs.")
    num_threads: int | None = Field(
        default=None, ge=1, description="CPU threads for the random forest (None = all cores)."
    )
    batch_size: int = Field(default=64, ge=1, description="Patches per feature / inference batch.")
    num_processes: int = Field(
        default=1, ge=1, description="Data-parallel processes each SU-Net variant trains with."
    )
    sunet_model: Path | None = Field(
        default=None,
        description="A bundle trained already (e.g. by `lcz-map train` with the same preset) "
        "to score as the `sunet` row instead of training one.",
    )

    @model_validator(mode="after")
    def _resolve(self) -> BaselinesConfig:
        training = get_preset(self.preset).training
        share = _FAST_SHARE if self.suite == "fast" else 1.0
        if self.epochs is None:
            self.epochs = max(1, math.ceil(training.epochs * share))
        if self.max_minutes is None:
            self.max_minutes = training.max_minutes * share if training.max_minutes else 0.0
        if self.rf_trees is None:
            self.rf_trees = 100 if self.suite == "fast" else 500
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods listed twice: {self.methods}")
        return self
