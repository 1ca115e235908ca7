"""Raster writing: streamed tiled GTiffs, converted to Cloud-Optimized GeoTIFFs at the end.

GDAL's COG driver writes a whole dataset at once (it cannot be written window by window), so each
product is first streamed row by row into a plain tiled GTiff work file, then copied with
``rasterio.shutil.copy(driver="COG")``, which carries band descriptions, colour table and tags.
Everything runs inside :func:`gdal_env`, which keeps the bytes reproducible: no PAM ``.aux.xml``
side files, a fixed date in GeoPackages, and GDAL never adds a ``TIFFTAG_DATETIME`` unless asked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyogrio
import rasterio
import rasterio.shutil
from affine import Affine
from pyproj import CRS
from rasterio.windows import Window

from sunet.geo.crs import to_rasterio
from sunet.lcz import CLASSES

__all__ = ["StreamingRaster", "gdal_env", "lcz_colormap", "write_cog"]

# A fixed "now" for the GeoPackage driver's last_change columns, so reruns are byte-identical.
_FIXED_DATE = "2000-01-01T00:00:00Z"


_OPTIONS = {"GDAL_PAM_ENABLED": "NO", "OGR_CURRENT_DATE": _FIXED_DATE}


# pyogrio's GDAL options are process-global: the first gdal_env in (any thread) sets them, the
# last out restores them, so areas written in parallel threads all run under them.
_PYOGRIO_LOCK = threading.Lock()
_pyogrio_users = 0
_pyogrio_before: dict[str, Any] = {}


@contextmanager
def gdal_env() -> Iterator[None]:
    """The GDAL settings every mapping write runs under (reproducible output, no side files).

    rasterio and pyogrio each ship their own GDAL, so both are configured: rasterio's per thread,
    pyogrio's process-wide while any thread is inside (restored when the last one leaves).
    """
    global _pyogrio_users, _pyogrio_before
    with _PYOGRIO_LOCK:
        if _pyogrio_users == 0:
            _pyogrio_before = {k: pyogrio.get_gdal_config_option(k) for k in _OPTIONS}
            pyogrio.set_gdal_config_options(_OPTIONS)
        _pyogrio_users += 1
    try:
        with rasterio.Env(**_OPTIONS):
            yield
    finally:
        with _PYOGRIO_LOCK:
            _pyogrio_users -= 1
            if _pyogrio_users == 0:
                pyogrio.set_gdal_config_options(_pyogrio_before)


def lcz_colormap() -> dict[int, tuple[int, int, int, int]]:
    """The standard LCZ palette as a GDAL colour table: code -> RGBA; 0 (nodata) transparent."""
    cmap = {0: (0, 0, 0, 0)}
    cmap.update({c.code: (*c.rgb, 255) for c in CLASSES})
    return cmap


class StreamingRaster:
    """A tiled GTiff written in row blocks (the work file before COG conversion).

    Args:
        path: work file; crs, transform, width, height: its grid;
        count, dtype, nodata: bands.
        descriptions: per-band descriptions; colormap: for band 1; tags: dataset tags;
        band_tags: per-band tags; units: per-band units (GDAL's unit type, e.g. ``'m'``).
    """

    def __init__(
        self,
        path: Path,
        *,
        crs: CRS,
        transform: Affine,
        width: int,
        height: int,
        count: int,
        dtype: str,
        nodata: float,
        descriptions: list[str] | None = None,
        colormap: dict[int, tuple[int, int, int, int]] | None = None,
        tags: dict[str, str] | None = None,
        band_tags: list[dict[str, str]] | None = None,
        units: list[str] | None = None,
    ) -> None:
        self.path = path
        self.height, self.width, self.count = height, width, count
        self.dtype = np.dtype(dtype)
        self.nodata = nodata
        profile: dict[str, Any] = {
            "driver": "GTiff",
            "crs": to_rasterio(crs),
            "transform": transform,
            "width": width,
            "height": height,
            "count": count,
            "dtype": dtype,
            "nodata": nodata,
            "tiled": True,
            # Short tiles: the rows being filled occupy GDAL's block cache for one tile height.
            "blockxsize": 256,
            "blockysize": 16,
            "interleave": "band",
        }
        self._ds = rasterio.open(path, "w", **profile)
        # Blocks never written stay nodata without being materialised.
        for b, text in enumerate(descriptions or [], start=1):
            self._ds.set_band_description(b, text)
        if colormap is not None:
            self._ds.write_colormap(1, colormap)
        if tags:
            self._ds.update_tags(**tags)
        for b, band in enumerate(band_tags or [], start=1):
            self._ds.update_tags(b, **band)
        for b, unit in enumerate(units or [], start=1):
            self._ds.set_band_unit(b, unit)

    def write_rows(self, row0: int, data: np.ndarray) -> None:
        """Write ``(count, rows, width)`` starting at row ``row0``."""
        self._ds.write(
            data.astype(self.dtype, copy=False), window=Window(0, row0, self.width, data.shape[1])
        )

    def close(self) -> None:
        self._ds.close()

    def __enter__(self) -> StreamingRaster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_cog(src: Path, dst: Path, *, resampling: str) -> None:
    """Copy a finished work GTiff to a COG (DEFLATE, 256 px tiles, overviews while larger than
    one tile). ``resampling`` is the overview resampling: ``nearest`` for class codes,
    ``average`` for abundances."""
    rasterio.shutil.copy(
        str(src),
        str(dst),
        driver="COG",
        COMPRESS="DEFLATE",
        PREDICTOR="YES",
        BLOCKSIZE=256,
        OVERVIEWS="AUTO",
        OVERVIEW_RESAMPLING=resampling.upper(),
        BIGTIFF="IF_SAFER",
    )
