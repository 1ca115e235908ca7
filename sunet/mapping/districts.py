"""District polygons: reading, validation, names and output folder slugs."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from sunet.geo.vector import read_polygons

__all__ = ["CITY", "District", "districts_in", "read_districts", "slugify"]

# Folder of the city-wide mosaic; no district may take this slug.
CITY = "city"


@dataclass(frozen=True)
class District:
    """One district: ``name`` from the district field, ``slug`` its folder name, ``geometry``
    (multi)polygon in the map CRS."""

    name: str
    slug: str
    geometry: BaseGeometry


def slugify(name: str) -> str:
    """Folder-safe form of a district name: ASCII, lower case, runs of other characters -> '-'
    (``'Jiang'an / Hankou'`` -> ``'jiang-an-hankou'``)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def read_districts(path: Path, field: str, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read and validate the district layer, in its own CRS.

    Reading, CRS check and polygon repair are :func:`sunet.geo.vector.read_polygons`' (layer
    ``districts`` when the file has several and none is named). Rows that share a name are one
    district (their polygons are merged).

    Returns:
        GeoDataFrame with columns ``name``, ``slug``, ``geometry``, sorted by slug.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: one line naming the file: unreadable, no CRS, no polygon, missing field,
            an empty name, or two names with the same slug.
    """
    layer_read = read_polygons(path, layer=layer, preferred_layer="districts")
    gdf, path = layer_read.frame, layer_read.path
    if field not in gdf.columns:
        fields = ", ".join(c for c in gdf.columns if c != gdf.geometry.name)
        raise ValueError(f"{path}: no district field {field!r} (fields: {fields})")
    names = gdf[field].astype("string")
    if names.isna().any() or (names.str.strip() == "").any():
        raise ValueError(f"{path}: a district has an empty {field!r}")
    gdf = gpd.GeoDataFrame(
        {"name": names.str.strip().astype(str)}, geometry=gdf.geometry.values, crs=gdf.crs
    ).dissolve(by="name", as_index=False)
    gdf["slug"] = [slugify(n) for n in gdf["name"]]
    bad = gdf[(gdf["slug"] == "") | (gdf["slug"] == CITY)]
    if not bad.empty:
        raise ValueError(
            f"{path}: district name {bad['name'].iloc[0]!r} gives no usable folder name"
        )
    dup = gdf[gdf["slug"].duplicated(keep=False)]
    if not dup.empty:
        raise ValueError(
            f"{path}: districts {sorted(dup['name'])} share the folder name {dup['slug'].iloc[0]!r}"
        )
    return gdf.sort_values("slug").reset_index(drop=True)[["name", "slug", "geometry"]]


def districts_in(gdf: gpd.GeoDataFrame, crs: CRS) -> list[District]:
    """The districts reprojected to the map CRS."""
    projected = gdf.to_crs(crs)
    return [
        District(str(r.name), str(r.slug), r.geometry) for r in projected.itertuples(index=False)
    ]
