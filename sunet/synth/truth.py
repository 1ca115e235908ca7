"""The synthetic city's truth: the building, impervious and pervious surface fractions and the
heights it was drawn with, cell by cell in the layout's metric frame (EPSG:32650).

Zones draw their building fraction, paved share and heights from Stewart & Oke's Table 3 ranges
(:mod:`sunet.synth.morphology`), but what a cell holds is what the renderer drew there: lots that
lost their building at a zone edge, roads, bridges, street trees. So the drawing layers record
what each pixel is (:class:`~sunet.synth.canvas.Surfaces`) as they paint it, and every imaged
pixel of the mosaic is binned once, by its centre, into square cells of ``truth_cell_m`` metres
anchored at multiples of the cell, so that 4 m cells nest in a map's 100 m or 128 m cells.

``truth/surface.tif``: float32, nodata -1 where a cell holds no imaged pixel; per cell

* ``building``: share of the imaged area under roofs (plan view), 0-1;
* ``impervious``: share of paved ground (paving, roads, sidewalks, bridge decks, slabs, rock);
* ``pervious``: share of the other ground (vegetation, soil, fields, dirt tracks, water);
* ``water``: share of open water (rivers, lakes, ponds), a part of ``pervious``;
* ``building_height``: mean roof height over the building area, m (0 without buildings);
* ``tree_cover``: share under tree crowns, over ground that keeps its own kind;
* ``tree_height``: mean crown top over the crown area, m (0 without trees);
* ``imaged``: share of the cell's pixels that some scene holds (not nodata).

Conventions: building + impervious + pervious = 1, water counted as pervious as Stewart & Oke
count it (subtract ``water`` to leave it out). Plan view: roofs at their footprint, rooftop
equipment in their height; facades and shadows that the view and the sun lay over neighbouring
ground are not surfaces. Whatever the renderer draws as a roofed structure (with height, shadow and
facade) counts as a building, boats on the river and the stacks and huts of building sites
included. Tree crowns stand over the ground and do not change its kind. The truth is the city's,
the same in every look: crowns are those of a leaf-on acquisition, and rice paddies flooded in a
monsoon look stay fields.

:func:`read_truth` reads the raster back, :func:`aggregate_truth` sums it onto any grid of cells
and :func:`truth_on_map_grid` onto the cells of a map of the city.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.transform import array_bounds
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from sunet.synth.canvas import (
    SURFACE_BUILDING,
    SURFACE_IMPERVIOUS,
    SURFACE_PERVIOUS,
    SURFACE_WATER,
    Surfaces,
)
from sunet.synth.config import LAYOUT_CRS, Mosaic, SceneTile
from sunet.synth.layout import CityLayout
from sunet.synth.render import pixel_plan_xy

__all__ = [
    "BANDS",
    "NODATA",
    "SURFACE_TIF",
    "TruthAccumulator",
    "TruthGrid",
    "TruthRaster",
    "aggregate_truth",
    "read_truth",
    "taken_pixels",
    "truth_on_map_grid",
]

SURFACE_TIF = "truth/surface.tif"
NODATA = -1.0
# (name, unit, meaning), in band order.
BANDS: tuple[tuple[str, str, str], ...] = (
    ("building", "1", "share of the imaged area under roofs, plan view"),
    ("impervious", "1", "share of paved ground: paving, roads, bridge decks, slabs, rock"),
    ("pervious", "1", "share of other ground: vegetation, soil, fields, dirt tracks, water"),
    ("water", "1", "share of open water (rivers, lakes, ponds), included in pervious"),
    ("building_height", "m", "mean roof height over the building area, 0 without buildings"),
    ("tree_cover", "1", "share under leaf-on tree crowns, over the ground bands"),
    ("tree_height", "m", "mean crown top over the crown area, 0 without trees"),
    ("imaged", "1", "share of the cell's pixels that some scene holds"),
)
NAMES = tuple(name for name, _, _ in BANDS)
# The map product that holds one pixel per map cell (written by sunet.mapping, which the
# synthetic city does not import).
MAP_GRID_RASTER = "lcz_abundance.tif"

# Planes of TruthAccumulator.counts: one per surface code, then crowns, then every pixel centre.
_TREE, _LATTICE = 4, 5
_STRIP = 1000


@dataclass(frozen=True)
class TruthGrid:
    """North-up square cells of ``cell`` metres in EPSG:32650, edges on multiples of ``cell``;
    ``(left, top)`` is the upper-left corner, ``height`` x ``width`` cells."""

    cell: float
    left: float
    top: float
    height: int
    width: int

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], cell: float) -> TruthGrid:
        """The cells overlapping ``(left, bottom, right, top)`` (metres)."""
        left, bottom, right, top = bounds
        c0, c1 = math.floor(left / cell), math.ceil(right / cell)
        r0, r1 = math.floor(-top / cell), math.ceil(-bottom / cell)
        return cls(cell, c0 * cell, -r0 * cell, r1 - r0, c1 - c0)

    @property
    def transform(self) -> Affine:
        return Affine(self.cell, 0.0, self.left, 0.0, -self.cell, self.top)


def taken_pixels(
    mosaic: Mosaic,
    tile: SceneTile,
    nodata: np.ndarray,
    nodata_of: Callable[[SceneTile], np.ndarray],
) -> np.ndarray:
    """Boolean ``(size, size)``: the pixels of ``tile`` the truth takes from it, so that each
    pixel of the mosaic counts once: those no earlier scene covers, and that some scene holds
    (not nodata in ``tile`` itself, or else in a later scene over them).

    Args:
        nodata: the scene's own nodata mask.
        nodata_of: the nodata mask of any other scene (called only where it matters).
    """
    size = tile.size
    own = np.ones((size, size), dtype=bool)
    held = ~nodata
    k = mosaic.tiles.index(tile)
    later = []
    for j, other in enumerate(mosaic.tiles):
        r0, r1 = max(tile.row0, other.row0), min(tile.row0 + size, other.row0 + other.size)
        c0, c1 = max(tile.col0, other.col0), min(tile.col0 + size, other.col0 + other.size)
        if j == k or r0 >= r1 or c0 >= c1:
            continue
        mine = (slice(r0 - tile.row0, r1 - tile.row0), slice(c0 - tile.col0, c1 - tile.col0))
        theirs = (slice(r0 - other.row0, r1 - other.row0), slice(c0 - other.col0, c1 - other.col0))
        if j < k:
            own[mine] = False
        else:
            later.append((other, mine, theirs))
    for other, mine, theirs in later:
        if (own[mine] & ~held[mine]).any():
            held[mine] |= ~nodata_of(other)[theirs]
    return own & held


class TruthAccumulator:
    """Pixel counts per truth cell, gathered scene by scene (:meth:`add_scene`), then every pixel
    centre of the mosaic grid around the imagery (:meth:`count_lattice`, the denominator of the
    ``imaged`` share, binned exactly as the scenes' pixels are), then :meth:`write`."""

    def __init__(self, plan: CityLayout, cell: float) -> None:
        self.plan = plan
        self.grid = TruthGrid.covering(plan.footprint.bounds, cell)
        per_cell = (cell / plan.mosaic.gsd_m + 2) ** 2
        dtype = np.uint16 if per_cell < 2**16 else np.uint32
        shape = (self.grid.height, self.grid.width)
        self.counts = np.zeros((6, *shape), dtype=dtype)
        self.sums = np.zeros((2, *shape), dtype=np.float32)  # roof and crown heights, m

    def _cells(self, row0: int, col0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Truth cell ``(row, col)`` (int64 ``(h, w)``) of each pixel centre of a mosaic window."""
        x, y = pixel_plan_xy(self.plan, row0, col0, h, w, anchored=True)
        g, (ox, oy) = self.grid, self.plan.origin
        cols = np.floor((x.astype(np.float64) + (ox - g.left)) / g.cell).astype(np.int64)
        rows = np.floor(((g.top - oy) - y.astype(np.float64)) / g.cell).astype(np.int64)
        return rows, cols

    def _block(self, rows: np.ndarray, cols: np.ndarray) -> tuple[tuple[slice, slice], np.ndarray]:
        """The bounding block of cells ``rows``/``cols`` and their flat indices in it: binning
        over that block only, not the whole grid, keeps each scene's work to its own size."""
        r0, c0 = int(rows.min()), int(cols.min())
        ww = int(cols.max()) - c0 + 1
        block = (slice(r0, int(rows.max()) + 1), slice(c0, c0 + ww))
        return block, (rows - r0) * ww + (cols - c0)

    def _add(self, plane: int, block: tuple[slice, slice], local: np.ndarray) -> None:
        shape = self.counts[plane][block].shape
        counts = np.bincount(local, minlength=shape[0] * shape[1]).reshape(shape)
        self.counts[plane][block] += counts.astype(self.counts.dtype)

    def add_scene(self, tile: SceneTile, surfaces: Surfaces, take: np.ndarray) -> None:
        """Bin the pixels ``take`` (bool ``(size, size)``) of a rendered scene."""
        for r in range(0, tile.size, _STRIP):
            hh = min(_STRIP, tile.size - r)
            sel = take[r : r + hh]
            if not sel.any():
                continue
            rows, cols = self._cells(tile.row0 + r, tile.col0, hh, tile.size)
            part = surfaces.rows(r, r + hh)
            block, local = self._block(rows[sel], cols[sel])
            code, roof, crown = part.surface[sel], part.roof[sel], part.crown[sel]
            for plane in (SURFACE_PERVIOUS, SURFACE_IMPERVIOUS, SURFACE_BUILDING, SURFACE_WATER):
                self._add(plane, block, local[code == plane])
            self._add(_TREE, block, local[crown > 0])
            n = self.sums[0][block].size
            for i, heights in enumerate((roof, crown)):
                summed = np.bincount(local, heights, minlength=n)
                self.sums[i][block] += summed.reshape(self.sums[i][block].shape)

    def count_lattice(self) -> None:
        """Count every pixel centre of the mosaic grid, imaged or not, in each cell near the
        imagery (a margin of more than a cell's diagonal around the grid)."""
        m = self.plan.mosaic
        pad = math.ceil(1.5 * self.grid.cell / m.gsd_m) + 2
        width = m.width + 2 * pad
        for r in range(-pad, m.height + pad, _STRIP):
            hh = min(_STRIP, m.height + pad - r)
            rows, cols = self._cells(r, -pad, hh, width)
            g = self.grid
            inside = (rows >= 0) & (rows < g.height) & (cols >= 0) & (cols < g.width)
            if inside.any():
                self._add(_LATTICE, *self._block(rows[inside], cols[inside]))

    def bands(self, rows: slice) -> np.ndarray:
        """float32 ``(len(BANDS), h, width)`` of the truth raster's rows ``rows``."""
        counts = self.counts[:, rows].astype(np.float64)
        sums = self.sums[:, rows].astype(np.float64)
        imaged = counts[:4].sum(axis=0)
        has = imaged > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            share = counts / imaged
            building = counts[SURFACE_BUILDING]
            out = np.stack(
                [
                    share[SURFACE_BUILDING],
                    share[SURFACE_IMPERVIOUS],
                    share[SURFACE_PERVIOUS] + share[SURFACE_WATER],
                    share[SURFACE_WATER],
                    np.where(building > 0, sums[0] / building, 0.0),
                    share[_TREE],
                    np.where(counts[_TREE] > 0, sums[1] / counts[_TREE], 0.0),
                    imaged / counts[_LATTICE],
                ]
            )
        out[:, ~has] = NODATA
        return out.astype(np.float32)

    def write(self, path: Path) -> None:
        """Write the truth raster (see the module docstring)."""
        g = self.grid
        profile = {
            "driver": "GTiff",
            "width": g.width,
            "height": g.height,
            "count": len(BANDS),
            "dtype": "float32",
            "crs": LAYOUT_CRS,
            "transform": g.transform,
            "nodata": NODATA,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "interleave": "band",
            "compress": "deflate",
            "predictor": 3,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", **profile) as dst:
            for r in range(0, g.height, 256):
                rows = slice(r, min(r + 256, g.height))
                dst.write(self.bands(rows), window=Window(0, r, g.width, rows.stop - r))
            for b, (name, unit, meaning) in enumerate(BANDS, start=1):
                dst.set_band_description(b, name)
                dst.set_band_unit(b, unit)
                dst.update_tags(b, meaning=meaning)
            dst.update_tags(
                cell_m=f"{g.cell:g}",
                water="pervious (Stewart & Oke); the water band is its part",
                trees="crowns over the ground, which keeps its own kind; leaf-on",
                source="synthetic city (lcz-map synth), binned from the rendered pixels",
            )


@dataclass(frozen=True)
class TruthRaster:
    """The truth raster in memory: ``values[name]`` float32 ``(h, w)`` for each of
    :data:`BANDS` (NaN where the cell holds no imaged pixel), on ``transform`` in ``crs``."""

    values: dict[str, np.ndarray]
    transform: Affine
    crs: str


def read_truth(
    city_dir: str | Path, bounds: tuple[float, float, float, float] | None = None
) -> TruthRaster:
    """Read ``truth/surface.tif`` of a synthetic city, whole or the cells overlapping ``bounds``
    (``(left, bottom, right, top)`` in EPSG:32650) and a one-cell margin.

    Raises:
        FileNotFoundError: if the city has no truth (generated with ``--no-truth``).
        ValueError: if the file's bands are not :data:`BANDS`.
    """
    path = Path(city_dir) / SURFACE_TIF
    if not path.exists():
        raise FileNotFoundError(f"{path}: no truth; generate the city with truth on")
    with rasterio.open(path) as src:
        if tuple(src.descriptions) != NAMES:
            raise ValueError(f"{path}: bands {src.descriptions}, expected {NAMES}")
        window = Window(0, 0, src.width, src.height)
        if bounds is not None:
            left, bottom, right, top = bounds
            c0, r0 = ~src.transform @ (left, top)
            c1, r1 = ~src.transform @ (right, bottom)
            col0, row0 = max(0, math.floor(c0) - 1), max(0, math.floor(r0) - 1)
            col1, row1 = min(src.width, math.ceil(c1) + 1), min(src.height, math.ceil(r1) + 1)
            window = Window(col0, row0, max(0, col1 - col0), max(0, row1 - row0))
        data = src.read(window=window, masked=True).astype(np.float32).filled(np.nan)
        transform = src.transform @ Affine.translation(window.col_off, window.row_off)
    return TruthRaster(dict(zip(NAMES, data, strict=True)), transform, LAYOUT_CRS)


def aggregate_truth(
    truth: TruthRaster, transform: Affine, shape: tuple[int, int], crs: str | CRS
) -> dict[str, np.ndarray]:
    """The truth on a grid of cells (``shape`` cells on ``transform`` in the projected ``crs``).

    Areas are summed, not sampled: each truth cell's imaged area and its building, impervious,
    pervious, water and crown areas (and roof and crown volumes) are spread over the target
    cells in proportion to their overlap, so every square metre lands somewhere once; where the
    target cells are unions of truth cells (EPSG:32650, edges on multiples of the truth cell)
    the sums are exact.

    Returns:
        float64 ``shape`` arrays: ``building``, ``impervious``, ``pervious``, ``water``,
        ``tree_cover`` (shares of the cell's imaged area), ``building_height``,
        ``tree_height`` (m: area-weighted over the building or crown area, 0 without), all
        NaN where the cell holds no truth; and ``coverage``, the share of the cell that holds
        truth (imaged area over cell area, at most 1).

    Raises:
        ValueError: if ``crs`` is not projected (a cell area must be in square metres).
    """
    if not CRS.from_user_input(crs).is_projected:
        raise ValueError(f"target CRS {crs} is not projected; cell areas must be in metres")
    v = {name: np.nan_to_num(a.astype(np.float64), nan=0.0) for name, a in truth.values.items()}
    imaged = v["imaged"] * abs(truth.transform.a * truth.transform.e)
    areas = {
        "imaged": imaged,
        **{k: v[k] * imaged for k in ("building", "impervious", "pervious", "water", "tree_cover")},
        "roof_volume": v["building"] * imaged * v["building_height"],
        "crown_volume": v["tree_cover"] * imaged * v["tree_height"],
    }
    summed = {}
    for name, src in areas.items():
        dst = np.zeros(shape, dtype=np.float64)
        reproject(
            src,
            dst,
            src_transform=truth.transform,
            src_crs=truth.crs,
            dst_transform=transform,
            dst_crs=crs,
            resampling=Resampling.sum,
        )
        summed[name] = dst
    held = summed["imaged"]
    has = held > 0
    out = {
        "coverage": np.minimum(
            held / abs(transform.a * transform.e - transform.b * transform.d), 1.0
        )
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in ("building", "impervious", "pervious", "water", "tree_cover"):
            out[name] = np.where(has, summed[name] / held, np.nan)
        for name, area, volume in (
            ("building_height", "building", "roof_volume"),
            ("tree_height", "tree_cover", "crown_volume"),
        ):
            height = np.where(summed[area] > 0, summed[volume] / summed[area], 0.0)
            out[name] = np.where(has, height, np.nan)
    return out


def truth_on_map_grid(city_dir: str | Path, map_dir: str | Path) -> dict[str, np.ndarray]:
    """The synthetic city's truth on the cells of a map of it (:func:`aggregate_truth`).

    Args:
        city_dir: the city folder (``lcz-map synth --out``).
        map_dir: one area folder of a map (``OUT/city`` or a district's), whose
            ``lcz_abundance.tif`` holds one pixel per cell.

    Returns:
        ``(rows, cols)`` arrays of the map raster, as :func:`aggregate_truth` gives them.
    """
    grid_file = Path(map_dir) / MAP_GRID_RASTER
    if not grid_file.exists():
        raise FileNotFoundError(f"{grid_file}: not found; give a map's area folder, e.g. OUT/city")
    with rasterio.open(grid_file) as src:
        transform, shape, crs = src.transform, (src.height, src.width), src.crs
    bounds = transform_bounds(crs, LAYOUT_CRS, *array_bounds(*shape, transform), densify_pts=21)
    return aggregate_truth(read_truth(city_dir, bounds), transform, shape, crs)
