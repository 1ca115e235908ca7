"""Coordinate reference systems: the one place that names, resolves, compares and converts them.

Inside the package a CRS is a pyproj :class:`~pyproj.CRS`; rasterio's CRS type is made only at
the boundary with GDAL (:func:`to_rasterio`, :func:`from_rasterio`). Configs, manifests, patch
stores and bundles record a CRS as text (:func:`crs_name`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator
from pyproj import CRS

if TYPE_CHECKING:  # GDAL is loaded only where a rasterio CRS is made
    from rasterio.crs import CRS as RioCRS

__all__ = [
    "AUTO",
    "KnownCrs",
    "crs_name",
    "from_rasterio",
    "known_crs",
    "parse_crs",
    "resolve_crs",
    "same_crs",
    "to_rasterio",
    "utm_crs",
]


# The CRS spec that means "the UTM zone of the data" (the default of every stage's `crs`).
AUTO = "auto"


def crs_name(crs: CRS) -> str:
    """A CRS as recorded in files: ``"EPSG:NNNN"`` when it has an EPSG code, else its WKT."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def parse_crs(text: str) -> CRS:
    """Any CRS text pyproj reads: ``"EPSG:3857"``, OGC or ESRI WKT (a ``.prj`` file), a PROJ string.

    Raises:
        ValueError: ``"not a known CRS"`` (one line; the caller names where the text came from).
    """
    try:
        return CRS.from_user_input(text.strip())
    except Exception as e:  # pyproj raises CRSError, whose text is long; keep the message one line
        raise ValueError("not a known CRS") from e


def known_crs(text: str | None) -> str | None:
    """``text`` unchanged if it is a CRS :func:`parse_crs` reads (or ``None``), for a config
    field's validator.

    Raises:
        ValueError: ``"'text' is not a known CRS"``.
    """
    if text is not None:
        try:
            parse_crs(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a known CRS") from None
    return text


# A config field holding a CRS as the user writes it ('EPSG:3857', WKT ...), checked on validation.
KnownCrs = Annotated[str, AfterValidator(known_crs)]


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
    if spec.strip().lower() == AUTO:
        west, south, east, north = lonlat_bounds
        return utm_crs((west + east) / 2.0, (south + north) / 2.0)
    try:
        crs = parse_crs(spec)
    except ValueError as e:
        raise ValueError(f"--crs {spec!r}: {e}") from e
    if not crs.is_projected:
        raise ValueError(f"--crs {spec!r}: {crs.name} is not a projected CRS; use a metric one")
    units = {axis.unit_name for axis in crs.axis_info}
    if units != {"metre"}:
        raise ValueError(f"--crs {spec!r}: {crs.name} has units {sorted(units)}, not metres")
    return crs


@functools.lru_cache(maxsize=16)
def same_crs(a: CRS | str, b: CRS | str) -> bool:
    """Whether two CRSs (pyproj CRSs or any text pyproj reads, e.g. a :func:`crs_name`) are
    the same. Cached: comparing exports both to WKT."""
    return CRS.from_user_input(a) == CRS.from_user_input(b)


@functools.lru_cache(maxsize=16)
def to_rasterio(crs: CRS) -> RioCRS:
    """pyproj CRS -> rasterio CRS, by EPSG code when it has one, else by WKT.

    The code is the same rule as :func:`crs_name`, so a raster carries exactly the CRS its
    records name: GDAL's own definition of that code, written into GeoTIFF keys and GeoPackage
    srs as the code. WKT is the fallback for a CRS without a code. (For a CRS made from a code
    both routes agree, as pyproj's WKT names the code.) Cached: the EPSG lookup searches
    pyproj's database.
    """
    from rasterio.crs import CRS as RioCRS

    epsg = crs.to_epsg()
    return RioCRS.from_epsg(epsg) if epsg else RioCRS.from_wkt(crs.to_wkt())


def from_rasterio(crs: RioCRS) -> CRS:
    """rasterio CRS (e.g. a dataset's ``.crs``) -> pyproj CRS, through its WKT."""
    return CRS.from_user_input(crs.to_wkt())
