"""Reading, validating and repairing polygon layers (LCZ labels, districts); GPKG 1.3 writing.

Invalid polygons (self-intersections, bow-ties, wrong ring order ...) are repaired with shapely's
``make_valid`` and only their polygonal parts are kept; a repair counts as safe when some area
remains. Features left with no area (null, empty, or collapsing to lines/points) are dropped.
Both are counted in :class:`PolygonLayer` so the caller can report them; nothing is dropped
silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS

from sunet.atomic import atomic_path
from sunet.lcz import parse_lcz_values

__all__ = ["PolygonLayer", "read_labels", "read_polygons", "repair_polygons", "write_gpkg"]

_POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass
class PolygonLayer:
    """A polygon layer as read from a file.

    Attributes:
        path: the source file; layer: the layer read.
        frame: one row per kept feature, geometry valid and polygonal, in the file's CRS. For label
            layers it has a ``code`` column (uint8 LCZ raster code 1-17).
        repaired: features whose invalid geometry was repaired with ``make_valid``.
        dropped: features dropped, by reason (``"empty"``, ``"no_area_after_repair"``,
            ``"not_polygon"``).
    """

    path: Path
    layer: str
    frame: gpd.GeoDataFrame
    repaired: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def crs(self) -> CRS:
        return CRS.from_user_input(self.frame.crs)


def _pick_layer(path: Path, layer: str | None, preferred: str) -> str:
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as e:  # pyogrio raises DataSourceError with a multi-line GDAL text
        raise ValueError(f"{path}: not a readable vector file ({str(e).splitlines()[0]})") from e
    if layer is not None:
        if layer not in names:
            raise ValueError(f"{path}: no layer {layer!r} (layers: {', '.join(names)})")
        return layer
    if len(names) == 1:
        return names[0]
    if preferred in names:
        return preferred
    raise ValueError(f"{path}: several layers ({', '.join(names)}); name one")


def repair_polygons(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, dict[str, int]]:
    """Repair and filter an array of shapely geometries.

    Returns:
        ``(geoms, keep, repaired, dropped)``: the repaired geometries (same length), a bool mask of
        the features to keep, the number repaired and the drop counts by reason.
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    keep = np.ones(len(geoms), dtype=bool)
    dropped = {"empty": 0, "no_area_after_repair": 0, "not_polygon": 0}
    repaired = 0
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            keep[i] = False
            dropped["empty"] += 1
            continue
        if geom.geom_type not in _POLYGONAL and not geom.geom_type == "GeometryCollection":
            keep[i] = False
            dropped["not_polygon"] += 1
            continue
        if geom.is_valid and geom.geom_type in _POLYGONAL:
            continue
        fixed = shapely.make_valid(geom)
        parts = [p for p in shapely.get_parts(fixed) if p.geom_type in _POLYGONAL and p.area > 0]
        if not parts:
            keep[i] = False
            dropped["no_area_after_repair"] += 1
            continue
        geoms[i] = shapely.union_all(parts)
        repaired += 1
    return geoms, keep, repaired, {k: v for k, v in dropped.items() if v}


def read_polygons(
    path: str | Path, layer: str | None = None, preferred_layer: str = ""
) -> PolygonLayer:
    """Read a polygon layer, require a CRS, repair invalid geometries (see module docstring).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: one line naming the file: unreadable, ambiguous layer, no CRS, no polygon.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such vector file")
    name = _pick_layer(path, layer, preferred_layer)
    try:
        frame = gpd.read_file(path, layer=name, engine="pyogrio")
    except Exception as e:
        raise ValueError(f"{path}: cannot read layer {name!r} ({str(e).splitlines()[0]})") from e
    if frame.crs is None:
        raise ValueError(f"{path}: layer {name!r} has no CRS")
    geoms, keep, repaired, dropped = repair_polygons(frame.geometry.to_numpy())
    frame = frame.set_geometry(gpd.GeoSeries(geoms, crs=frame.crs, index=frame.index))
    frame = frame[keep].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"{path}: layer {name!r} has no polygon with an area")
    return PolygonLayer(path=path, layer=name, frame=frame, repaired=repaired, dropped=dropped)


def read_labels(path: str | Path, label_field: str, layer: str | None = None) -> PolygonLayer:
    """Read an LCZ label layer: polygons with a label field parsed into raster codes.

    The ``code`` column holds uint8 raster codes 1-17 (``sunet.lcz`` order); values are parsed
    with :func:`sunet.lcz.parse_lcz_values`, so ``'5'``, ``5``, ``'LCZ 5'``, ``'E'`` all work.

    Raises:
        ValueError: (besides :func:`read_polygons`' errors) missing field, or unknown label
            values, listed in one line.
    """
    labels = read_polygons(path, layer=layer, preferred_layer="labels")
    frame = labels.frame
    if label_field not in frame.columns:
        fields = [c for c in frame.columns if c != frame.geometry.name]
        raise ValueError(f"{labels.path}: no field {label_field!r} (fields: {', '.join(fields)})")
    frame["code"] = parse_lcz_values(frame[label_field].tolist(), source=str(labels.path))
    return labels


def write_gpkg(frame: gpd.GeoDataFrame, path: str | Path, layer: str, **kwargs: Any) -> Path:
    """Write a GeoPackage atomically, as GPKG 1.3 so that QGIS 3.22 opens it without a warning."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_file(
            tmp,
            layer=layer,
            driver="GPKG",
            engine="pyogrio",
            dataset_options={"VERSION": "1.3"},
            **kwargs,
        )
    return path
