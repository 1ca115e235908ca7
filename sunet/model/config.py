"""Model configuration and the named presets (``paper``, ``cpu-small``).

A preset fixes the architecture (backbone size, input size, decoder width, dropout) and the
training defaults that go with it (batch size, learning rate, epochs). Names follow timm: the
backbone is a registered timm Swin-V2 variant, optionally shrunk with ``embed_dim``/``depths``/
``num_heads`` overrides, so that ``cpu-small`` is the same code as ``paper``, only smaller.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sunet.lcz import NUM_CLASSES

__all__ = ["SUNetConfig", "PresetName", "PRESETS", "TrainingDefaults", "Preset", "get_preset"]

PresetName = Literal["paper", "cpu-small"]


class SUNetConfig(BaseModel):
    """Architecture of one SU-Net: everything needed to rebuild it from a bundle."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backbone: str = Field(
        default="swinv2_tiny_window8_256", description="Registered timm Swin-V2 variant name."
    )
    embed_dim: int | None = Field(
        default=None,
        description="Override of the variant's stage-1 width (None = the variant's own).",
    )
    depths: tuple[int, int, int, int] | None = Field(
        default=None, description="Override of the blocks per stage (None = the variant's own)."
    )
    num_heads: tuple[int, int, int, int] | None = Field(
        default=None,
        description="Override of the attention heads per stage (None = the variant's own).",
    )
    window_size: int = Field(default=8, description="Attention window, tokens per side.")
    input_size: int = Field(
        default=256, description="Model input side in pixels; patches are resized to it.", ge=32
    )
    in_chans: int = Field(default=3, description="Input bands (RGB).")
    num_classes: int = Field(default=NUM_CLASSES, description="Output classes (17 LCZ).")
    drop_path_rate: float = Field(
        default=0.1, description="Stochastic depth rate of the backbone.", ge=0
    )
    head_dropout: float = Field(
        default=0.2,
        description="Dropout before the PSC and abundance heads' linear layer.",
        ge=0,
        lt=1,
    )
    decoder_channels: int = Field(default=256, description="Width of the UperNet decoder.", ge=8)
    pure_stream: bool = Field(
        default=True,
        description="Build the PSC (pure scene classification) head; False = MSU only.",
    )

    def timm_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``timm.create_model`` (architecture only, never weights)."""
        kw: dict[str, Any] = {
            "img_size": self.input_size,
            "window_size": self.window_size,
            "in_chans": self.in_chans,
            "drop_path_rate": self.drop_path_rate,
        }
        for name in ("embed_dim", "depths", "num_heads"):
            value = getattr(self, name)
            if value is not None:
                kw[name] = value
        return kw


class TrainingDefaults(BaseModel):
    """Training settings that belong to a preset (overridable per run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(description="Global batch size (patches per optimiser step).")
    lr: float = Field(description="AdamW learning rate after warm-up.")
    weight_decay: float = Field(description="AdamW weight decay.")
    epochs: int = Field(description="Maximum epochs.")
    warmup_steps: int = Field(description="Linear learning-rate warm-up, optimiser steps.")
    patience: int = Field(description="Early stopping: epochs without validation improvement.")
    max_minutes: float | None = Field(description="Wall-clock budget (None = unlimited).")


class Preset(BaseModel):
    """A named architecture plus its training defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    model: SUNetConfig
    training: TrainingDefaults


PRESETS: dict[str, Preset] = {
    # The paper (section 3.2): Swin-V2 tiny at 256 px, AdamW 1e-4, batch 32, dropout.
    "paper": Preset(
        name="paper",
        model=SUNetConfig(
            backbone="swinv2_tiny_window8_256",
            input_size=256,
            drop_path_rate=0.2,
            head_dropout=0.2,
            decoder_channels=256,
        ),
        training=TrainingDefaults(
            batch_size=32,
            lr=1e-4,
            weight_decay=0.05,
            epochs=100,
            warmup_steps=500,
            patience=10,
            max_minutes=None,
        ),
    ),
    # Same code, a small Swin-V2 (two blocks in stages 1-3) at 128 px with a 32-channel decoder:
    # trains on 2 CPU cores in ~14 minutes on a few thousand patches (bf16 where the CPU has it
    # natively, two single-thread DDP processes; see README "Results"). A larger learning rate
    # suits the small, unpretrained model; the cosine schedule ends where the budget does.
    "cpu-small": Preset(
        name="cpu-small",
        model=SUNetConfig(
            backbone="swinv2_tiny_window8_256",
            embed_dim=32,
            depths=(2, 2, 2, 1),
            num_heads=(1, 2, 4, 8),
            input_size=128,
            drop_path_rate=0.05,
            head_dropout=0.1,
            decoder_channels=32,
        ),
        training=TrainingDefaults(
            batch_size=32,
            lr=2e-3,
            weight_decay=0.05,
            epochs=30,
            warmup_steps=50,
            patience=10,
            max_minutes=15.0,
        ),
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}") from None
