"""The configuration of a remap (``lcz-map remap``, the ``lcz-map`` flow's map half)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sunet.mapping.config import MapConfig
from sunet.options import options_model, same_field

__all__ = ["RUNTIME_OPTIONS", "MapOptions", "RemapConfig"]

# Options that change where or how fast the map is made, not the map (kept out of the inputs record).
RUNTIME_OPTIONS = ("progress", "workers", "scheduler", "batch_size", "read_ahead")
# MapConfig fields a remap sets itself; the rest are the user's mapping options.
_MAP_INPUTS = (
    "model", "scenes", "districts", "district_layer", "district_field", "out", "crs", "base",
    "update_area", "resume_dir",
)  # fmt: skip
if TYPE_CHECKING:  # a model made at import time; type checkers see its base
    MapOptions = BaseModel
else:
    MapOptions = options_model(MapConfig, exclude=_MAP_INPUTS, name="MapOptions")


class RemapConfig(BaseModel):
    """One city kept up to date under ``out`` (versions, ``latest``)."""

    model_config = ConfigDict(extra="forbid")

    out: Path = Field(description="Map root: versions/vNNNN/, latest.json and the latest link.")
    scenes_dir: Path = Field(
        description="Folder of the city's scenes (every scene file inside; see "
        "sunet.geo.raster.SCENE_SUFFIXES)."
    )
    districts: Path = Field(description="District polygons (any CRS).")
    district_field: str = same_field(MapConfig, "district_field")
    district_layer: str | None = same_field(MapConfig, "district_layer")
    district_names: list[str] | None = Field(
        default=None,
        description="Map only these districts (matched ignoring case, punctuation and a "
        "'District' suffix); None = all.",
    )
    model: Path = Field(description="Model bundle (.safetensors).")
    crs: str = same_field(MapConfig, "crs")
    inbox: Path | None = Field(
        default=None,
        description="Folder where new scenes arrive; moved into scenes_dir when settled.",
    )
    settle_seconds: float = Field(
        default=30.0,
        ge=0,
        description="An inbox file must be unchanged this long before it is taken.",
    )
    full: bool = Field(
        default=False, description="Remap everything even if only some scenes changed."
    )
    keep_versions: int | None = Field(
        default=None,
        ge=1,
        description="Delete all but this many newest versions (None = keep all).",
    )
    mapping: MapOptions = Field(
        default_factory=MapOptions, description="Mapping options (see MapConfig)."
    )
