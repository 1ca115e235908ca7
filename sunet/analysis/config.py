"""The analysis stage's configuration: urban canopy parameters of a map (``parameters``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ParametersConfig"]


class ParametersConfig(BaseModel):
    """Which map to derive urban canopy parameters from, and where to write them."""

    model_config = ConfigDict(extra="forbid")

    map: Path = Field(
        description="The map: a `lcz-map map` output folder (or a map version), holding city/ "
        "and one folder per district."
    )
    out: Path | None = Field(
        default=None,
        description="Output folder, one subfolder per area of the map (None = into the map's "
        "own area folders, beside lcz_abundance.tif).",
    )
