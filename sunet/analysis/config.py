"""The analysis stage's configurations: urban canopy parameters of a map (``parameters``) and the
district analysis of a map (``analyse``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ANALYSIS_DIR",
    "ANALYSIS_PAGE",
    "ANALYSIS_RECORD",
    "PARAMETERS_RECORD",
    "AnalyseConfig",
    "ParameterName",
    "ParametersConfig",
]

# The analysis folder inside a map when no output folder is given, its page and its record
# (written last). Here, not with the writer, so that the flows and the map versions can name
# them without importing it.
ANALYSIS_DIR = "analysis"
ANALYSIS_PAGE = "index.html"
ANALYSIS_RECORD = "analysis.json"
PARAMETERS_RECORD = "lcz_parameters.json"  # written last by `lcz-map parameters`

# The names of sunet.analysis.parameters.PARAMETERS, in band order (kept here, in the light
# config module, so the command line can offer them; a test holds the two lists equal).
ParameterName = Literal[
    "sky_view_factor",
    "aspect_ratio",
    "building_surface_fraction",
    "impervious_surface_fraction",
    "pervious_surface_fraction",
    "roughness_element_height",
    "roughness_length",
    "surface_admittance",
    "surface_albedo",
    "anthropogenic_heat",
]


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


class AnalyseConfig(BaseModel):
    """Which map to analyse per district, what to compare it with, and where to write the report."""

    model_config = ConfigDict(extra="forbid")

    map: Path = Field(
        description="The map: a `lcz-map map` output folder or a map version "
        "(OUT/versions/vNNNN, or OUT/latest)."
    )
    previous: Path | None = Field(
        default=None,
        description="An earlier map (or version) of the same districts to compare with (None = "
        "the version before MAP when MAP is a version; no comparison otherwise).",
    )
    out: Path | None = Field(
        default=None, description=f"Output folder (None = MAP/{ANALYSIS_DIR})."
    )
    parameter_maps: list[ParameterName] = Field(
        default=[
            "building_surface_fraction",
            "roughness_element_height",
            "sky_view_factor",
            "anthropogenic_heat",
        ],
        min_length=1,
        description="Urban canopy parameters drawn as maps of the city (from the abundances, "
        "beside the dominant-class lookup).",
    )
    change_map: ParameterName = Field(
        default="building_surface_fraction",
        description="The parameter whose change since PREVIOUS is drawn as a map of the city.",
    )
    building_change: float = Field(
        default=0.05,
        gt=0.0,
        lt=1.0,
        description="A cell's building surface fraction counts as changed since PREVIOUS when "
        "it moved by more than this (0-1).",
    )
    mixed_entropy: float = Field(
        default=0.5,
        ge=0.0,
        lt=1.0,
        description="A cell counts as mixed when the entropy of its abundances, divided by "
        "ln 17, is above this.",
    )
    weak_dominance: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="A cell's dominant class counts as weak when its abundance is below this.",
    )
