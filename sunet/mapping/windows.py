"""Pure geometry of a map: the cell grid, which windows run, how they batch, how they weigh.

The output grid has one cell per window step: a cell is ``stride x stride`` pixels
(``stride * gsd`` metres) of the aligned grid :class:`sunet.geo.grid.PatchGrid` with
``patch=stride``, so every district of a run, and the city mosaic, share one set of cells. A window
is ``P x P`` pixels, i.e. ``k x k`` cells with ``k = P / stride``, and is named by its upper-left
cell. To cover a rectangle of cells completely, windows start ``k - 1`` cells before it in both
directions: every cell of the rectangle, edge cells included, is covered by exactly ``k * k``
windows, and its abundances are the weighted mean of theirs (:func:`window_weights`).

Nothing here reads pixels; :mod:`sunet.mapping.inference` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.features import rasterize
from shapely.geometry.base import BaseGeometry

from sunet.geo.grid import PatchGrid, window_transform

__all__ = [
    "MapGrid",
    "WindowBatch",
    "WindowRun",
    "affected_cells",
    "box_any",
    "cell_mask",
    "plan_batches",
    "runnable_windows",
    "window_weights",
]


@dataclass(frozen=True)
class MapGrid:
    """A rectangle of cells of the aligned stride grid, plus the window size.

    Attributes:
        cells: the aligned grid (``cells.patch`` = stride in pixels, ``cells.gsd`` metres/pixel).
        rows, cols: global row/column indices of the rectangle (rows grow southwards).
        patch: window side in pixels (a multiple of the stride).
    """

    cells: PatchGrid
    rows: range
    cols: range
    patch: int

    def __post_init__(self) -> None:
        if self.patch % self.cells.patch:
            raise ValueError(
                f"stride {self.cells.patch} px does not divide the patch size {self.patch} px"
            )

    @classmethod
    def covering(
        cls, crs: CRS, gsd: float, stride: int, patch: int, bounds: tuple[float, ...]
    ) -> MapGrid:
        """The cells overlapping ``(left, bottom, right, top)`` (map CRS, metres)."""
        cells = PatchGrid(crs, gsd, stride)
        rows, cols = cells.index_ranges(tuple(bounds))  # type: ignore[arg-type]
        return cls(cells, rows, cols, patch)

    def sub(self, bounds: tuple[float, ...]) -> MapGrid:
        """The cells of this grid overlapping ``bounds`` (a district inside the city)."""
        rows, cols = self.cells.index_ranges(tuple(bounds))  # type: ignore[arg-type]
        rows = range(max(rows.start, self.rows.start), min(rows.stop, self.rows.stop))
        cols = range(max(cols.start, self.cols.start), min(cols.stop, self.cols.stop))
        return MapGrid(self.cells, rows, cols, self.patch)

    @property
    def crs(self) -> CRS:
        return self.cells.crs

    @property
    def stride(self) -> int:
        """Window step and cell side, pixels."""
        return self.cells.patch

    @property
    def k(self) -> int:
        """Cells per window side (``patch / stride``)."""
        return self.patch // self.stride

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return len(self.cols)

    @property
    def cell_size(self) -> float:
        """Cell side, metres."""
        return self.cells.cell_size

    @property
    def transform(self) -> Affine:
        """Affine of the cell raster (one raster pixel per cell)."""
        left, _, _, top = self.cells.cell_bounds(self.rows.start, self.cols.start)
        return window_transform(left, top, self.cell_size)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, _, _, top = self.cells.cell_bounds(self.rows.start, self.cols.start)
        s = self.cell_size
        return left, top - self.height * s, left + self.width * s, top

    def offset_in(self, outer: MapGrid) -> tuple[int, int]:
        """``(row, col)`` of this grid's first cell within ``outer`` (same aligned grid)."""
        return self.rows.start - outer.rows.start, self.cols.start - outer.cols.start

    def pixel_transform(self, row: int, col: int) -> Affine:
        """Pixel grid (``gsd``) whose upper-left corner is local cell ``(row, col)``; negative
        indices reach outside the rectangle (edge windows)."""
        return self.cells.cell_transform(self.rows.start + row, self.cols.start + col)

    def centres(self, row0: int, row1: int) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates ``(x, y)``, each ``(row1 - row0, width)``, of local rows
        ``row0:row1``."""
        s = self.cell_size
        left, _, _, top = self.bounds
        x = left + (np.arange(self.width) + 0.5) * s
        y = top - (np.arange(row0, row1) + 0.5) * s
        return np.broadcast_to(x, (row1 - row0, self.width)), np.broadcast_to(
            y[:, None], (row1 - row0, self.width)
        )


def cell_mask(grid: MapGrid, geometry: BaseGeometry, rows: range | None = None) -> np.ndarray:
    """bool ``(len(rows), width)``: cells (of local ``rows``, default all) whose centre lies in
    ``geometry`` (map CRS).

    The cell-centre rule keeps every cell whole and lets adjacent districts partition the cells
    without gaps or double counting.
    """
    rows = range(grid.height) if rows is None else rows
    shapely.prepare(geometry)
    x, y = grid.centres(rows.start, rows.stop)
    inside = shapely.contains_xy(geometry, x.ravel(), y.ravel())
    return np.asarray(inside, dtype=bool).reshape(len(rows), grid.width)


def box_any(mask: np.ndarray, k: int) -> np.ndarray:
    """bool ``(H - k + 1, W - k + 1)``: entry ``[a, b]`` is whether ``mask[a:a+k, b:b+k]`` holds
    any True (a k x k box filter over a summed-area table)."""
    sat = np.pad(mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    box = sat[k:, k:] - sat[:-k, k:] - sat[k:, :-k] + sat[:-k, :-k]
    return box > 0


def runnable_windows(mask: np.ndarray, k: int) -> np.ndarray:
    """bool ``(H + k - 1, W + k - 1)``: windows that cover at least one masked cell.

    Entry ``[a, b]`` is the window whose upper-left cell is local ``(a - k + 1, b - k + 1)``.
    Windows covering only cells outside the district contribute nothing and are not run.
    """
    h, w = mask.shape
    padded = np.zeros((h + 2 * (k - 1), w + 2 * (k - 1)), dtype=bool)
    padded[k - 1 : k - 1 + h, k - 1 : k - 1 + w] = mask
    return box_any(padded, k)


def affected_cells(grid: MapGrid, area: BaseGeometry) -> np.ndarray:
    """bool ``(H, W)``: the cells whose mapped value can change when the imagery inside ``area``
    (map CRS) changes.

    A window's abundances depend on the pixels of its footprint only, so the windows that can
    change are those whose footprint touches ``area``; a cell's value is the weighted mean of
    the ``k * k`` windows covering it, so the cells that can change are those any such window
    covers. Every other cell keeps its value exactly. ``area`` should already include the
    reach of the resampling kernel (a pixel or two beyond the scenes' footprints).
    """
    k, h, w = grid.k, grid.height, grid.width
    if area.is_empty:
        return np.zeros((h, w), dtype=bool)
    # Cells of the grid grown by k - 1 on every side: all cells of every window of the grid.
    rows = range(grid.rows.start - (k - 1), grid.rows.stop + (k - 1))
    cols = range(grid.cols.start - (k - 1), grid.cols.stop + (k - 1))
    grown = MapGrid(grid.cells, rows, cols, grid.patch)
    touched = rasterize(
        [(area, 1)], out_shape=(grown.height, grown.width), transform=grown.transform,
        fill=0, all_touched=True, dtype="uint8",
    ).astype(bool)  # fmt: skip
    hit = box_any(touched, k)  # (H + k - 1, W + k - 1) windows touching the area
    return box_any(hit, k)  # cell (i, j) is covered by windows [i : i + k, j : j + k]


@dataclass(frozen=True)
class WindowRun:
    """``n`` horizontally consecutive windows of one window row, read as one strip.

    Attributes:
        row: local cell row of the windows' upper edge (``-(k-1)`` ... ``H - 1``).
        col: local cell column of the first window's left edge.
        n: number of windows; window ``t`` starts at column ``col + t``.
    """

    row: int
    col: int
    n: int

    def strip(self, grid: MapGrid) -> tuple[Affine, int, int]:
        """Pixel grid of the strip holding all windows: ``(transform, width_px, height_px)``."""
        return (
            grid.pixel_transform(self.row, self.col),
            (self.n - 1) * grid.stride + grid.patch,
            grid.patch,
        )


@dataclass(frozen=True)
class WindowBatch:
    """One model call: runs of windows in row-major order, ``n`` windows in all."""

    runs: tuple[WindowRun, ...]

    @property
    def n(self) -> int:
        return sum(r.n for r in self.runs)


def plan_batches(runnable: np.ndarray, k: int, batch_size: int) -> Iterator[WindowBatch]:
    """Batches of exactly ``batch_size`` windows (the last may be smaller), in row-major order.

    Consecutive runnable windows of a window row form a run (one strip read); runs are packed
    into batches across rows, so the model always sees full batches whatever the district's
    width. The plan is pure geometry, so a single process and a Dask cluster feed the model
    exactly the same batches (and get the same numbers).
    """
    runs: list[WindowRun] = []
    filled = 0
    for a in range(runnable.shape[0]):
        line = runnable[a]
        # Starts and ends of runs of True.
        edges = np.flatnonzero(np.diff(np.concatenate([[0], line.astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            b = int(start)
            while b < int(stop):
                n = min(batch_size - filled, int(stop) - b)
                runs.append(WindowRun(row=a - (k - 1), col=b - (k - 1), n=n))
                filled += n
                b += n
                if filled == batch_size:
                    yield WindowBatch(tuple(runs))
                    runs, filled = [], 0
    if runs:
        yield WindowBatch(tuple(runs))


def window_weights(k: int, kind: str = "tent") -> np.ndarray:
    """float64 ``(k, k)``: weight of a window's abundances in each of its cells.

    ``tent``: a separable triangle ``1 - |d| / (P/2)`` of the distance ``d`` from the cell centre
    to the window centre. A window's abundances describe its whole footprint, but a cell near
    the window centre is surrounded by that footprint while a cell at the rim is not; so each
    cell leans on the windows centred closest to it, which sharpens boundaries between zones
    without discarding any window. Every cell sees each kernel position exactly once among its
    ``k * k`` windows, so all cells get the same total weight. At the default stride (``k = 2``)
    all four cells are equidistant from the centre and ``tent`` equals ``uniform``.
    """
    if kind == "uniform":
        return np.ones((k, k))
    if kind != "tent":
        raise ValueError(f"unknown window weighting {kind!r}; expected 'tent' or 'uniform'")
    d = (np.arange(k) + 0.5) / k - 0.5  # cell-centre offset from the window centre, in windows
    w = 1.0 - np.abs(d) / 0.5
    return np.outer(w, w)
