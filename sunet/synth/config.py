"""The synthetic city's configuration and the scene mosaic it implies (pure geometry, no I/O).

Scenes are windows of one global pixel grid in EPSG:3857 (the CRS of Google Earth downloads), with
a pixel size of ``gsd_m / cos(latitude)`` 3857 units so that a pixel is about ``gsd_m`` metres on
the ground. Sharing one grid makes the overlap between neighbouring scenes pixel-identical ground,
as with real tiles cut from one mosaic; only each scene's own look (sun, haze, colour) differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from affine import Affine
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pyproj import Transformer

__all__ = ["IMAGE_CRS", "LABEL_CRS", "LAYOUT_CRS", "Mosaic", "SceneTile", "SynthConfig"]

IMAGE_CRS = "EPSG:3857"
LAYOUT_CRS = "EPSG:32650"  # WGS 84 / UTM zone 50N, the metric frame of Wuhan
LABEL_CRS = "EPSG:4326"
# UTM zone 50N spans 114-120 E; keep a margin so that 'auto' CRS choice can never hesitate.
_LON_RANGE = (114.05, 119.9)


class SynthConfig(BaseModel):
    """How to generate the synthetic city (``lcz-map synth``)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(
        default=0, ge=0, description="Random seed; the same seed gives the same bytes."
    )
    scenes: int = Field(
        default=25,
        ge=1,
        le=400,
        description="Number of scenes, laid out row by row on a near-square grid.",
    )
    size_px: int = Field(default=3500, ge=128, le=12000, description="Scene side in pixels.")
    overlap: float = Field(
        default=0.1,
        ge=0.0,
        le=0.5,
        description="Share of a scene's side that overlaps its neighbour.",
    )
    gsd_m: float = Field(
        default=1.0,
        gt=0.2,
        le=5.0,
        description="Ground size of a pixel in metres (the 3857 pixel size is "
        "gsd_m / cos(latitude)).",
    )
    centre_lon: float = Field(
        default=114.33, description="Longitude of the mosaic centre, degrees E."
    )
    centre_lat: float = Field(
        default=30.58, ge=10.0, le=50.0, description="Latitude of the centre, degrees N."
    )
    zone_size_m: float | None = Field(
        default=None,
        gt=20.0,
        le=3000.0,
        description="Typical width of a city block (one LCZ zone) in "
        "metres; None scales it with the mosaic (400 m for the default 16 km city).",
    )
    river_width_m: float | None = Field(
        default=None,
        gt=5.0,
        le=3000.0,
        description="Width of the main river in metres; None scales it "
        "with the mosaic (about 800 m for the default city, like the Yangtze at Wuhan).",
    )
    nodata_edges: bool = Field(
        default=True,
        description="Clip the outer borders of the mosaic raggedly to nodata, like downloads.",
    )
    preview_px: int = Field(
        default=1200, ge=200, le=6000, description="Width of each preview panel, px."
    )
    truth: bool = Field(
        default=True,
        description="Also write the true building, impervious and pervious surface fractions "
        "and heights that the scenes are drawn from (truth/surface.tif, EPSG:32650); the scenes "
        "are the same either way.",
    )
    truth_cell_m: float | None = Field(
        default=None,
        gt=0.0,
        le=1000.0,
        description="Cell of the truth raster in metres, at least two ground pixels; None: 4 m "
        "(or the smallest of 8, 16, 32 ... m that holds two pixels).",
    )
    looks: list[str] = Field(
        default=["default"],
        min_length=1,
        description="How the scenes are rendered: built-in look names (lcz-map synth "
        "--list-looks), look JSON files, or 'random' (a new random look for every scene). With "
        "several, the scenes are shared out among them evenly (a mosaic of different dates or "
        "sensors); the city itself (plan, labels, districts) is the same in every look.",
    )

    @field_validator("looks")
    @classmethod
    def _known_looks(cls, v: list[str]) -> list[str]:
        from sunet.synth.looks import get_look

        for spec in v:
            get_look(spec)  # one line naming the unknown look or bad file
        return v

    @model_validator(mode="after")
    def _city_inside_utm_50n(self) -> SynthConfig:
        west, _, east, _ = Mosaic(self).lonlat_bounds
        if west < _LON_RANGE[0] or east > _LON_RANGE[1]:
            raise ValueError(
                f"the city spans {west:.3f}-{east:.3f} E, outside {_LON_RANGE[0]}-{_LON_RANGE[1]} E "
                "(UTM zone 50N); move centre_lon or make the city smaller"
            )
        return self

    @model_validator(mode="after")
    def _truth_cells_hold_pixels(self) -> SynthConfig:
        # A cell narrower than two pixels may hold no pixel centre at all: a hole in the truth.
        if self.truth_cell_m is not None and self.truth_cell_m < 2 * self.gsd_m:
            raise ValueError(
                f"truth_cell_m {self.truth_cell_m:g} m is under two ground pixels "
                f"({2 * self.gsd_m:g} m)"
            )
        return self

    def resolved(self) -> SynthConfig:
        """A copy with every automatic (None) value replaced by the value actually used."""
        side = Mosaic(self).ground_side_m
        zone = self.zone_size_m
        if zone is None:
            zone = float(round(min(max(side / 40.0, 70.0), 420.0)))
        river = self.river_width_m
        if river is None:
            river = float(round(min(max(side * 0.05, 45.0), 1000.0)))
        cell = self.truth_cell_m
        if cell is None:
            # 4 m divides the usual map cells (100 m, 128 m, 256 m); coarser pixels double it.
            cell = 4.0 * 2.0 ** max(0, math.ceil(math.log2(2 * self.gsd_m / 4.0)))
        return self.model_copy(
            update={"zone_size_m": zone, "river_width_m": river, "truth_cell_m": cell}
        )


@dataclass(frozen=True)
class SceneTile:
    """One scene: a ``size`` x ``size`` window of the global mosaic grid at ``(row0, col0)``."""

    row: int
    col: int
    row0: int
    col0: int
    size: int

    @property
    def name(self) -> str:
        return f"scene_{self.row:03d}_{self.col:03d}"


class Mosaic:
    """The global EPSG:3857 pixel grid and the scenes cut from it.

    Attributes:
        pixel: pixel size in 3857 units (``gsd_m / cos(centre_lat)``).
        left, top: upper-left corner of the grid, 3857 metres.
        height, width: grid size in pixels.
        tiles: the scenes, row by row.
    """

    def __init__(self, config: SynthConfig) -> None:
        n = config.scenes
        nrows = max(1, math.floor(math.sqrt(n)))
        ncols = math.ceil(n / nrows)
        size = config.size_px
        step = max(1, round(size * (1.0 - config.overlap)))
        self.nrows, self.ncols, self.step, self.size = nrows, ncols, step, size
        self.pixel = config.gsd_m / math.cos(math.radians(config.centre_lat))
        self.height = (nrows - 1) * step + size
        self.width = (ncols - 1) * step + size
        cx, cy = Transformer.from_crs(LABEL_CRS, IMAGE_CRS, always_xy=True).transform(
            config.centre_lon, config.centre_lat
        )
        self.left = cx - self.width * self.pixel / 2.0
        self.top = cy + self.height * self.pixel / 2.0
        self.gsd_m = config.gsd_m
        self.tiles = tuple(
            SceneTile(
                row=i // ncols,
                col=i % ncols,
                row0=(i // ncols) * step,
                col0=(i % ncols) * step,
                size=size,
            )
            for i in range(n)
        )

    @property
    def transform(self) -> Affine:
        """Affine of the global grid (3857)."""
        return Affine(self.pixel, 0.0, self.left, 0.0, -self.pixel, self.top)

    def window_transform(self, row0: int, col0: int) -> Affine:
        """Affine of a window whose upper-left pixel is global ``(row0, col0)``."""
        return self.transform @ Affine.translation(col0, row0)

    def tile_bounds(self, tile: SceneTile) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of a scene in 3857 metres."""
        left = self.left + tile.col0 * self.pixel
        top = self.top - tile.row0 * self.pixel
        return left, top - tile.size * self.pixel, left + tile.size * self.pixel, top

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the whole grid in 3857 metres."""
        return (
            self.left,
            self.top - self.height * self.pixel,
            self.left + self.width * self.pixel,
            self.top,
        )

    @property
    def ground_side_m(self) -> float:
        """Ground size of the mosaic's shorter side in metres."""
        return min(self.height, self.width) * self.gsd_m

    @cached_property
    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of the mosaic in degrees."""
        left, bottom, right, top = self.bounds
        lon, lat = Transformer.from_crs(IMAGE_CRS, LABEL_CRS, always_xy=True).transform(
            [left, right], [bottom, top]
        )
        return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])
