"""Pure grid maths: the metric tiling CRS and the patch grid fixed in it (no I/O).

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

__all__ = ["PatchGrid", "resolve_crs", "utm_crs", "window_transform"]

# Cell index arithmetic is done on coordinates divided by the cell size; a coordinate within this
# many cells of an edge counts as on it, so float noise (1e-9 m) never adds a sliver row or column.
_EDGE_TOL = 1e-6


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM zone CRS containing ``(lon, lat)`` (degrees): EPSG:326NN north, 327NN south.

    Uses the regular 6-degree zones; the Norway/Svalbard exceptions are ignored on purpose, since
    any zone near the data is metric enough for tiling and the plain rule is reproducible by hand.
    """
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"({lon}, {lat}) is not a longitude/latitude in degrees")
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def resolve_crs(spec: str, lonlat_bounds: tuple[float, float, float, float]) -> CRS:
    """The metric CRS to tile or map in.

    Args:
        spec: ``"auto"`` for the UTM zone of the centre of ``lonlat_bounds``, or any CRS string
            pyproj understands (``"EPSG:32650"``).
        lonlat_bounds: ``(west, south, east, north)`` of the data in degrees (EPSG:4326).

    Raises:
        ValueError: if the spec is not a CRS, or names a CRS that is not projected in metres.
    """
    if spec.strip().lower() == "auto":
        west, south, east, north = lonlat_bounds
        return utm_crs((west + east) / 2.0, (south + north) / 2.0)
    try:
        crs = CRS.from_user_input(spec)
    except Exception as e:  # pyproj raises CRSError, whose text is long; keep the message one line
        raise ValueError(f"--crs {spec!r}: not a known CRS") from e
    if not crs.is_projected:
        raise ValueError(f"--crs {spec!r}: {crs.name} is not a projected CRS; use a metric one")
    units = {axis.unit_name for axis in crs.axis_info}
    if units != {"metre"}:
        raise ValueError(f"--crs {spec!r}: {crs.name} has units {sorted(units)}, not metres")
    return crs


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
        epsg = self.crs.to_epsg()
        return {
            "crs": f"EPSG:{epsg}" if epsg else self.crs.to_wkt(),
            "gsd": self.gsd,
            "patch": self.patch,
        }
