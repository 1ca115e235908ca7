"""Pure grid maths: the patch grid fixed in the metric tiling CRS (no I/O; the CRS itself is
chosen by :func:`sunet.geo.crs.resolve_crs`).

The patch grid is anchored at the CRS origin: cell ``(row, col)`` spans
``x in [col * S, (col + 1) * S)`` and ``y in (-(row + 1) * S, -row * S]`` with ``S = patch * gsd``
metres, so rows grow southwards and every cell edge lies on a multiple of ``S``. Two scenes that
overlap therefore produce exactly the same cells, whatever their own pixel grids, and a rerun or a
later map of the same area lines up with earlier ones. North of the CRS's y origin (the equator for
UTM north zones) row indices are negative; that is harmless since rows only name cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from pyproj import CRS

from sunet.geo.crs import crs_name

__all__ = ["PatchGrid", "window_transform"]

# Cell index arithmetic is done on coordinates divided by the cell size; a coordinate within this
# many cells of an edge counts as on it, so float noise (1e-9 m) never adds a sliver row or column.
_EDGE_TOL = 1e-6


def window_transform(left: float, top: float, gsd: float) -> Affine:
    """North-up pixel grid with its upper-left corner at ``(left, top)`` and square pixels of
    ``gsd`` CRS units."""
    return Affine(gsd, 0.0, left, 0.0, -gsd, top)


@dataclass(frozen=True)
class PatchGrid:
    """The fixed grid of square patches in a metric CRS.

    Attributes:
        crs: the tiling CRS (projected, metres).
        gsd: ground sample distance, metres per pixel.
        patch: patch side in pixels.
    """

    crs: CRS
    gsd: float
    patch: int

    def __post_init__(self) -> None:
        if not self.gsd > 0:
            raise ValueError(f"gsd must be positive, got {self.gsd}")
        if self.patch < 1:
            raise ValueError(f"patch must be at least 1 px, got {self.patch}")

    @property
    def cell_size(self) -> float:
        """Side of one cell in metres (``patch * gsd``)."""
        return self.patch * self.gsd

    def cell_bounds(self, row: int, col: int) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of a cell in the grid CRS (metres)."""
        s = self.cell_size
        return (col * s, -(row + 1) * s, (col + 1) * s, -row * s)

    def cell_transform(self, row: int, col: int) -> Affine:
        """Affine transform of the ``(patch, patch)`` pixel grid of a cell."""
        left, _, _, top = self.cell_bounds(row, col)
        return window_transform(left, top, self.gsd)

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """``(row, col)`` of the cell containing point ``(x, y)`` (grid CRS); a point on an edge
        belongs to the cell east / south of it."""
        s = self.cell_size
        return math.floor(-y / s), math.floor(x / s)

    def cells_covering(self, bounds: tuple[float, float, float, float]) -> list[tuple[int, int]]:
        """Every ``(row, col)`` whose cell overlaps ``(left, bottom, right, top)`` with positive
        area, row-major from the north-west."""
        rows, cols = self.index_ranges(bounds)
        return [(r, c) for r in rows for c in cols]

    def index_ranges(self, bounds: tuple[float, float, float, float]) -> tuple[range, range]:
        """The row and column ranges of :meth:`cells_covering` (empty if the bounds have no
        area)."""
        left, bottom, right, top = bounds
        if not (right > left and top > bottom):
            return range(0), range(0)
        s = self.cell_size
        col0 = math.floor(left / s + _EDGE_TOL)
        col1 = math.ceil(right / s - _EDGE_TOL)
        row0 = math.floor(-top / s + _EDGE_TOL)
        row1 = math.ceil(-bottom / s - _EDGE_TOL)
        return range(row0, max(row0, row1)), range(col0, max(col0, col1))

    def block_transform(self, rows: range, cols: range) -> tuple[Affine, int, int]:
        """Pixel grid spanning a rectangle of cells: ``(transform, width_px, height_px)``."""
        left, _, _, top = self.cell_bounds(rows.start, cols.start)
        return window_transform(left, top, self.gsd), len(cols) * self.patch, len(rows) * self.patch

    def to_json(self) -> dict[str, object]:
        """A JSON-ready description (CRS as ``EPSG:NNNN`` where it has one, else WKT)."""
        return {
            "crs": crs_name(self.crs),
            "gsd": self.gsd,
            "patch": self.patch,
        }
