"""The typed configuration of one mapping run (``lcz-map map``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sunet.geo.crs import AUTO, KnownCrs
from sunet.options import same_field
from sunet.tiling.config import TileConfig

__all__ = ["MapConfig", "SuggestConfig"]


class MapConfig(BaseModel):
    """Everything that decides a map: inputs, grid, window placement, outputs and compute.

    The resolved form (paths absolute, CRS and grid filled in by :func:`map_districts`) is saved
    as ``DIR/config.json`` beside the outputs.
    """

    model_config = ConfigDict(extra="forbid")

    model: Path | None = Field(
        default=None,
        description="Model bundle (.safetensors). None only when a predictor object is passed "
        "to map_districts directly (tests, notebooks).",
    )
    scenes: list[Path] = Field(
        description="Scene files or folders (folders: every .tif/.tiff/.jp2/.img/.vrt inside, and "
        ".jpg/.jpeg/.png with a world file beside them, sorted by name). "
        "The order given is the mosaic priority: where scenes overlap, the first valid pixel wins.",
        min_length=1,
    )
    scene_crs: KnownCrs | None = same_field(TileConfig, "scene_crs")
    districts: Path = Field(
        description="Vector file of district polygons (any CRS, must have one)."
    )
    district_layer: str | None = Field(
        default=None, description="Layer of the districts file (None = its first layer)."
    )
    district_field: str = Field(
        default="name",
        description="Attribute naming each district; its slug names the output folder.",
    )
    out: Path = Field(description="Output folder; one sub-folder per district plus 'city'.")
    stride: int | None = Field(
        default=None,
        description="Window step in pixels; also the output cell size (stride * gsd metres). "
        "None = half the patch size. Must divide the patch size.",
        ge=1,
    )
    bands: list[int] | None = Field(
        default=None,
        description="1-based scene bands fed to the model, in the model's band order "
        "(None = the scene bands the model was trained on, as its bundle records them; 1, 2, "
        "... for bundles that do not).",
    )
    crs: str = Field(
        default=AUTO,
        description="Metric CRS of the map: 'auto' = UTM zone of the centre of all districts, "
        "or e.g. 'EPSG:32650'.",
    )
    batch_size: int = Field(default=16, description="Windows per model call.", ge=1)
    workers: int = Field(
        default=0,
        description="Dask worker processes for inference (0 = run in this process). Results are "
        "identical either way.",
        ge=0,
    )
    read_ahead: bool = Field(
        default=False,
        description="Read the next batches in background threads (every CPU core but one) while "
        "the model runs (single process); the output is the same. Worth it with a GPU; on CPU "
        "the readers compete with torch's threads (no faster on 2 cores), so off by default.",
    )
    torch_threads: int | None = Field(
        default=None,
        description="Torch threads of every process that runs the model (None = this "
        "process's count, used on every Dask worker too: equal counts keep a Dask run "
        "bit-identical to a single-process one; lower it to 1 per core per worker for speed).",
        ge=1,
    )
    scheduler: str | None = Field(
        default=None,
        description="Address of a running Dask scheduler to use instead of a local cluster.",
    )
    weighting: Literal["tent", "uniform"] = Field(
        default="tent",
        description="Weight of a window's abundances in a cell it covers: 'tent' = separable "
        "triangle peaking at the window centre (equals 'uniform' at stride = patch/2).",
    )
    min_window_valid: float = Field(
        default=0.5,
        description="A window is run only if at least this share of its pixels has imagery.",
        gt=0,
        le=1,
    )
    min_cell_valid: float = Field(
        default=0.5,
        description="A cell is mapped only if at least this share of its own pixels has imagery.",
        gt=0,
        le=1,
    )
    max_gsd_ratio: float = Field(
        default=1.5,
        description="Refuse scenes whose ground pixel is coarser than this many times the "
        "model's GSD (upsampling would feed the model detail it never saw).",
        ge=1,
    )
    wudapt_resolution_deg: float = Field(
        default=0.0009,
        description="Pixel size of the WUDAPT-convention raster, degrees (EPSG:4326); 0.0009 deg "
        "is ~100 m of latitude.",
        gt=0,
    )
    cells_layer: bool = Field(
        default=True,
        description="Write the grid-cell layer (all 17 abundances) into lcz_dominant.gpkg.",
    )
    novelty_windows: int = Field(
        default=32,
        ge=0,
        description="Windows per scene measured for how unlike the training data the scene "
        "looks (sunet.mapping.novelty); 0 = do not measure.",
    )
    base: Path | None = Field(
        default=None,
        description="An earlier map of the same districts, grid and model (its output folder). "
        "With update_area, only the cells that imagery inside that area can change are "
        "inferred; every other cell is copied from the base. The result equals a full run.",
    )
    update_area: Path | None = Field(
        default=None,
        description="Vector file (any CRS) of where the imagery changed since `base`: new, "
        "changed and removed scenes' footprints.",
    )
    resume_dir: Path | None = Field(
        default=None,
        description="Keep each finished batch of windows here; a rerun of the same map after a "
        "crash reads them back instead of running the model again (emptied when the inputs "
        "differ; see sunet.mapping.resume).",
    )
    progress: bool = Field(default=True, description="Show a progress bar (tqdm, on stderr).")

    @model_validator(mode="after")
    def _base_with_area(self) -> MapConfig:
        if (self.base is None) != (self.update_area is None):
            raise ValueError("base and update_area go together: give both or neither")
        return self

    @field_validator("bands")
    @classmethod
    def _bands_positive(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) == 0 or any(b < 1 for b in v)):
            raise ValueError(f"bands must be 1-based band numbers, got {v}")
        return v


class SuggestConfig(BaseModel):
    """Where to suggest labels, how many, and how."""

    model_config = ConfigDict(extra="forbid")

    map: Path = Field(description="A `lcz-map map` output folder (config.json, city/).")
    n: int = Field(default=50, ge=1, description="Number of places to suggest.")
    out: Path = Field(description="Output GeoPackage.")
    spacing: float | None = Field(
        default=None,
        gt=0,
        description="Least distance between suggestions, metres (None: half the side of a "
        "square holding n equal shares of the mapped area, at least two windows).",
    )
    avoid: list[Path] = Field(
        default_factory=list,
        description="Polygons to stay away from (labels one has, reference kept for assessment).",
    )
    model: Path | None = Field(
        default=None,
        description="Model bundle for the disagreement and novelty terms (None: the map's own, "
        "as recorded in its config.json).",
    )
    use_model: bool = Field(
        default=True, description="Measure disagreement and novelty (re-reads the scenes)."
    )
    candidates: int = Field(
        default=10, ge=1, description="Windows measured with the model, per suggestion."
    )
    strategy: Literal["informative", "random"] = Field(
        default="informative", description="Score-driven, or random (the baseline)."
    )
    seed: int = Field(default=0, description="Seed of the random strategy.")
