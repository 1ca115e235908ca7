"""The tiling stage's configuration (saved as ``config.json`` beside the patch store)."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sunet.geo.crs import AUTO, KnownCrs

if TYPE_CHECKING:
    from sunet.geo.raster import Radiometry

__all__ = ["TileConfig", "expand_scene_paths"]


class TileConfig(BaseModel):
    """Scenes + labels -> patch store (docs/DESIGN.md "Patch store")."""

    model_config = ConfigDict(extra="forbid")

    scenes: list[Path] = Field(
        description="Scene files, folders (their *.tif/*.tiff/*.jp2/*.img/*.vrt, and *.jpg/*.jpeg/"
        "*.png with a world file beside them) or glob patterns."
    )
    scene_crs: KnownCrs | None = Field(
        default=None,
        description="CRS of scenes whose files give none, e.g. 'EPSG:3857' for a Google Earth "
        "JPEG/PNG with a world file but no .prj or .aux.xml. A scene with a CRS of its own keeps "
        "it, even when it differs from this.",
    )
    labels: Path = Field(
        description="Label polygons (GeoPackage, shapefile ..., or WUDAPT training areas as "
        "KML/KMZ), any CRS."
    )
    label_field: str = Field(
        default="lcz",
        description="Field holding the LCZ label of each polygon; a KML/KMZ without it takes "
        "the class from its folders, else from the placemark names.",
    )
    label_layer: str | None = Field(
        default=None,
        description="Layer of the label file; default: its only layer, or 'labels' (KML/KMZ: "
        "one folder; default: all).",
    )
    out: Path = Field(description="Output folder of the patch store.")
    crs: str = Field(
        default=AUTO,
        description="Tiling CRS: 'auto' (UTM zone of the scenes) or a metric 'EPSG:NNNN'.",
    )
    gsd: float = Field(
        default=1.0, gt=0, description="Ground sample distance of the patches, metres."
    )
    patch: int = Field(default=256, ge=8, description="Patch side, pixels.")
    bands: list[int] = Field(default=[1, 2, 3], description="1-based scene bands, in output order.")
    scale_range: tuple[float, float] | None = Field(
        default=None,
        description="Fixed [low, high] mapped onto 0-255 for non-uint8 scenes; default: each "
        "scene's 2-98 percentile stretch.",
    )
    stretch: Literal["non-uint8", "all"] = Field(
        default="all",
        description="Scenes that get their own 2-98 percentile stretch per band: all (a "
        "per-scene radiometric normalisation, which made models map other looks far better), "
        "or only those not 8-bit; the model bundle carries the choice to mapping.",
    )
    purity: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="A patch is 'pure' when its dominant class reaches this.",
    )
    min_labelled: float = Field(
        default=0.5, ge=0, le=1, description="Drop patches with a smaller labelled share."
    )
    max_nodata: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Drop patches whose best scene leaves more nodata than this.",
    )
    block: int = Field(
        default=4,
        ge=1,
        description="Side of the spatial blocks (in cells) that go to one split whole.",
    )
    split_ratio: tuple[float, float, float] = Field(
        default=(4.0, 1.0, 1.0), description="Relative sizes of train, val and test."
    )
    seed: int = Field(default=0, description="Seed of the split and sampling order.")
    sample_mixed: int | None = Field(
        default=None, ge=0, description="Keep at most this many mixed patches (after splitting)."
    )
    sample_pure: int | None = Field(
        default=None, ge=0, description="Keep at most this many pure patches (after splitting)."
    )
    shard: int = Field(
        default=64, ge=1, description="Patches per zarr shard (one patch per chunk)."
    )
    workers: int = Field(
        default=0,
        ge=0,
        description="Threads that inspect and tile scenes in parallel (the output is the same "
        "for any number); 0 = one per CPU core, 1 = all in this thread.",
    )

    @field_validator("bands")
    @classmethod
    def _bands_positive(cls, v: list[int]) -> list[int]:
        if not v or any(b < 1 for b in v):
            raise ValueError(f"bands must be 1-based band numbers, got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TileConfig:
        if self.scale_range is not None and not self.scale_range[1] > self.scale_range[0]:
            raise ValueError(f"scale_range needs high > low, got {self.scale_range}")
        if any(r < 0 for r in self.split_ratio) or sum(self.split_ratio) <= 0:
            raise ValueError(f"split_ratio must be non-negative, got {self.split_ratio}")
        return self

    @property
    def radiometry(self) -> Radiometry:
        """How scene values become the stored uint8 (also applied when mapping)."""
        from sunet.geo.raster import Radiometry

        return Radiometry(stretch=self.stretch, scale_range=self.scale_range)

    @property
    def cell_size(self) -> float:
        """Patch side in metres."""
        return self.patch * self.gsd


def expand_scene_paths(specs: list[Path]) -> list[Path]:
    """Files, folders and glob patterns -> sorted unique scene files.

    Raises:
        FileNotFoundError: for a spec matching nothing (named in the message).
    """
    from sunet.geo.raster import scene_files_in

    found: set[Path] = set()
    for spec in specs:
        text = str(spec)
        if spec.is_dir():
            matches = scene_files_in(spec)
        elif spec.exists():
            matches = [spec]
        elif glob.has_magic(text):
            matches = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
        else:
            raise FileNotFoundError(f"{spec}: no such scene file or folder")
        if not matches:
            raise FileNotFoundError(f"{spec}: matches no scene file")
        found.update(p.resolve() for p in matches)
    return sorted(found)
