"""The map on the WUDAPT convention: LCZ codes 1-17 on a ~100 m EPSG:4326 grid.

WRF pre-processing tools (e.g. w2w) read an LCZ GeoTIFF with raster codes 1-17 in band 1, in
EPSG:4326. Each output pixel takes the argmax of the **area-weighted mean abundances** of the cells
it overlaps (GDAL's ``average`` warp weights source cells by overlap and skips nodata), which uses
all the unmixing information, rather than the mode of already-rounded dominant classes.

The grid is global and aligned: pixel edges lie on multiples of the resolution from
(-180, 90), so district rasters and the city raster share pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.crs import CRS as RioCRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from sunet.geo.crs import from_rasterio, to_rasterio
from sunet.mapping.accumulate import ABUNDANCE_NODATA
from sunet.mapping.rasters import StreamingRaster, lcz_colormap, write_cog

__all__ = ["average_abundances", "wudapt_grid", "write_wudapt"]

# Output rows warped per read (bounded memory on large cities).
_BLOCK_ROWS = 256


def wudapt_grid(
    bounds: tuple[float, float, float, float], crs: CRS, resolution: float
) -> tuple[Affine, int, int]:
    """The aligned EPSG:4326 grid covering ``bounds`` (in ``crs``):
    ``(transform, width, height)``, pixels of ``resolution`` degrees."""
    west, south, east, north = transform_bounds(
        to_rasterio(crs), RioCRS.from_epsg(4326), *bounds, densify_pts=21
    )
    col0 = math.floor((west + 180.0) / resolution)
    col1 = math.ceil((east + 180.0) / resolution)
    row0 = math.floor((90.0 - north) / resolution)
    row1 = math.ceil((90.0 - south) / resolution)
    transform = Affine(resolution, 0.0, -180.0 + col0 * resolution, 0.0, -resolution,
                       90.0 - row0 * resolution)  # fmt: skip
    return transform, max(1, col1 - col0), max(1, row1 - row0)


def average_abundances(
    src: rasterio.DatasetReader, transform: Affine, width: int, height: int
) -> Iterator[tuple[int, np.ndarray]]:
    """The area-weighted mean abundances of an abundance raster (17 bands, nodata
    ``ABUNDANCE_NODATA``) on an EPSG:4326 grid (:func:`wudapt_grid`), in row blocks.

    Yields:
        ``(row0, float32 (17, rows, width))``; ``ABUNDANCE_NODATA`` where no mapped cell lies.
    """
    with WarpedVRT(
        src,
        crs=RioCRS.from_epsg(4326),
        transform=transform,
        width=width,
        height=height,
        resampling=Resampling.average,
        src_nodata=ABUNDANCE_NODATA,
        nodata=ABUNDANCE_NODATA,
    ) as vrt:
        for r0 in range(0, height, _BLOCK_ROWS):
            r = min(_BLOCK_ROWS, height - r0)
            yield r0, vrt.read(window=Window(0, r0, width, r))


def write_wudapt(abundance: Path, dst: Path, work: Path, resolution: float) -> None:
    """Aggregate an abundance raster (17 bands, nodata ``ABUNDANCE_NODATA``) to ``dst``: uint8
    codes 1-17, nodata 0, LCZ colour table, EPSG:4326, COG. ``work`` is a scratch GTiff path."""
    with rasterio.open(abundance) as src:
        crs = from_rasterio(src.crs)
        transform, width, height = wudapt_grid(tuple(src.bounds), crs, resolution)
        with StreamingRaster(
            work,
            crs=CRS.from_epsg(4326),
            transform=transform,
            width=width,
            height=height,
            count=1,
            dtype="uint8",
            nodata=0,
            descriptions=["LCZ (WUDAPT codes 1-17)"],
            colormap=lcz_colormap(),
        ) as out:
            for r0, data in average_abundances(src, transform, width, height):
                valid = (data != ABUNDANCE_NODATA).all(axis=0)
                codes = np.where(valid, data.argmax(axis=0) + 1, 0).astype(np.uint8)
                out.write_rows(r0, codes[None])
    write_cog(work, dst, resampling="nearest")
    work.unlink()
