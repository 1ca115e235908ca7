"""Map folders with abundances set by hand, written by the map's own product writer.

``write_map(root, abundances)`` writes ``(17, H, W)`` abundances (16 m cells, UTM 50N near
Wuhan) as the work raster a mapping run streams its cells into, and lets
:func:`sunet.mapping.products.write_area_products` write ``root/city`` and, for each district
box, ``root/<slug>`` from it, as ``lcz-map map`` does; ``root/config.json`` marks the map
complete. Every value a test expects is then computable by hand. ``example_map(root)`` is the
map the parameter tests share.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import CRS

from sunet.lcz import NUM_CLASSES
from sunet.mapping.accumulate import ABUNDANCE_NODATA
from sunet.mapping.districts import CITY, slugify
from sunet.mapping.products import write_area_products
from sunet.mapping.rasters import gdal_env
from sunet.mapping.windows import MapGrid

UTM = CRS.from_epsg(32650)
LEFT, TOP = 240_000.0, 3_390_000.0  # multiples of the cell size
CELL = 16.0
WUDAPT_DEG = 0.0009


def one_hot(code: int) -> np.ndarray:
    """float32 ``(17,)``: a pure cell of raster code ``code``."""
    a = np.zeros(NUM_CLASSES, dtype=np.float32)
    a[code - 1] = 1.0
    return a


def mix(shares: dict[int, float]) -> np.ndarray:
    """float32 ``(17,)``: raster code -> share."""
    a = np.zeros(NUM_CLASSES, dtype=np.float32)
    for code, share in shares.items():
        a[code - 1] = share
    return a


def cell_box(r0: int, c0: int, r1: int, c1: int) -> tuple[float, float, float, float]:
    """``(left, bottom, right, top)`` of cells ``[r0, r1) x [c0, c1)`` of :func:`write_map`."""
    return LEFT + c0 * CELL, TOP - r1 * CELL, LEFT + c1 * CELL, TOP - r0 * CELL


def write_map(
    root: Path, abundances: np.ndarray, districts: dict[str, tuple[float, ...]] | None = None
) -> Path:
    """Write a complete map folder from float32 ``(17, H, W)`` abundances (``ABUNDANCE_NODATA``
    = not mapped); ``districts``: name -> box ``(left, bottom, right, top)`` in UTM metres."""
    _, height, width = abundances.shape
    grid = MapGrid.covering(
        UTM, 1.0, int(CELL), 2 * int(CELL), (LEFT, TOP - height * CELL, LEFT + width * CELL, TOP)
    )
    assert (grid.height, grid.width) == (height, width)
    root.mkdir(parents=True, exist_ok=True)
    source = root / ".work-abundance.tif"
    with rasterio.open(
        source, "w", driver="GTiff", width=width, height=height, count=NUM_CLASSES,
        dtype="float32", nodata=ABUNDANCE_NODATA, crs=UTM.to_wkt(), transform=grid.transform,
    ) as dst:  # fmt: skip
        dst.write(abundances.astype(np.float32))
    areas: list[tuple[str, MapGrid, shapely.Geometry | None]] = [(CITY, grid, None)]
    for name, bounds in (districts or {}).items():
        areas.append((name, grid.sub(bounds), shapely.box(*bounds)))
    with gdal_env():
        for name, area, geometry in areas:
            write_area_products(
                source, grid, area, geometry, root / slugify(name), name,
                wudapt_resolution=WUDAPT_DEG, cells_layer=False,
            )  # fmt: skip
    source.unlink()
    (root / "config.json").write_text(json.dumps({"grid": {"cell_size_m": CELL}}) + "\n")
    return root


# The example map: 24 x 24 cells; row 0 the 17 pure classes (code = column + 1), row 1 60 % LCZ 2
# + 40 % LCZ D, the first four cells of row 2 unmapped, LCZ 6 elsewhere; a district "East Side"
# over the 12 eastern columns.
PURE_ROW, MIX_ROW, NODATA_ROW = 0, 1, 2
EXAMPLE_MIX = {2: 0.6, 14: 0.4}


def example_abundances() -> np.ndarray:
    """float32 ``(17, 24, 24)``: the example map's abundances."""
    a = np.broadcast_to(one_hot(6)[:, None, None], (NUM_CLASSES, 24, 24)).copy()
    for code in range(1, NUM_CLASSES + 1):
        a[:, PURE_ROW, code - 1] = one_hot(code)
    a[:, MIX_ROW, :] = mix(EXAMPLE_MIX)[:, None]
    a[:, NODATA_ROW, :4] = ABUNDANCE_NODATA
    return a


def example_map(root: Path) -> Path:
    """Write the example map (city and the district "East Side", folder ``east-side``)."""
    return write_map(root, example_abundances(), {"East Side": cell_box(0, 12, 24, 24)})
