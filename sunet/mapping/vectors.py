"""The GeoPackage product: dissolved dominant-class polygons, grid cells, and their styles.

``lcz_dominant.gpkg`` (GeoPackage 1.3, map CRS) holds two layers:

* ``lcz_dominant``: one multipolygon per LCZ present, dissolved from the dominant raster
  (``code``, ``letter``, ``name``, ``colour``, ``area_m2``);
* ``lcz_cells``: one square per mapped cell (``row``, ``col`` of the aligned grid, ``dominant``,
  ``uncertainty``, ``lcz_1`` ... ``lcz_G``), appended row block by row block as the raster is
  written.

Both layers' styles go into the file's ``layer_styles`` table, which QGIS applies as the default
style when a layer is opened.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.features import shapes

from sunet.lcz import abundance_columns, by_code

__all__ = [
    "CELLS_LAYER",
    "DOMINANT_LAYER",
    "GPKG_OPTIONS",
    "CellsLayerWriter",
    "read_layer_styles",
    "write_dominant_polygons",
    "write_layer_styles",
]

DOMINANT_LAYER = "lcz_dominant"
CELLS_LAYER = "lcz_cells"
# QGIS 3.22 (GDAL 3.6) warns on GeoPackage 1.4, which newer GDALs write by default.
GPKG_OPTIONS = {"VERSION": "1.3"}
# Fixed style timestamp: QGIS orders candidate styles by it, and reruns must be byte-identical.
_STYLE_TIME = pd.Timestamp("2000-01-01T00:00:00")


class CellsLayerWriter:
    """Append grid cells to the ``lcz_cells`` layer, block by block.

    Args:
        path: the GeoPackage (created on the first block, with version 1.3).
        crs: map CRS; transform: affine of the cell raster; row0, col0: global grid indices of
            the raster's first cell (so ``row``/``col`` attributes name cells of the aligned grid).
    """

    def __init__(self, path: Path, crs: CRS, transform: Affine, row0: int, col0: int) -> None:
        self.path, self.crs, self.transform = path, crs, transform
        self.row0, self.col0 = row0, col0
        self.count = 0
        self._created = False

    def write(
        self, row: int, abundances: np.ndarray, dominant: np.ndarray, uncertainty: np.ndarray
    ) -> None:
        """Write the valid cells of local rows ``row ...``: abundances float32 ``(17, r, W)``,
        dominant uint8 ``(r, W)`` (0 = nodata), uncertainty float32 ``(r, W)``."""
        rr, cc = np.nonzero(dominant > 0)
        if rr.size == 0 and self._created:
            return
        a, _, c, _, e, f = self.transform[:6]
        x0 = c + cc * a
        y0 = f + (row + rr) * e
        geoms = shapely.box(x0, y0 + e, x0 + a, y0)
        data: dict[str, object] = {
            "row": (self.row0 + row + rr).astype(np.int32),
            "col": (self.col0 + cc).astype(np.int32),
            "dominant": dominant[rr, cc].astype(np.int32),
            "uncertainty": uncertainty[rr, cc].astype(np.float32),
        }
        for i, name in enumerate(abundance_columns()):
            data[name] = abundances[i, rr, cc].astype(np.float32)
        gdf = gpd.GeoDataFrame(data, geometry=geoms, crs=self.crs)
        pyogrio.write_dataframe(
            gdf,
            self.path,
            layer=CELLS_LAYER,
            driver="GPKG",
            append=self._created,
            geometry_type="Polygon",
            **({} if self._created else {"dataset_options": GPKG_OPTIONS}),
        )
        self._created = True
        self.count += int(rr.size)


def write_dominant_polygons(path: Path, dominant: np.ndarray, transform: Affine, crs: CRS) -> int:
    """Dissolve the dominant raster (uint8 ``(H, W)``, 0 = nodata) into one multipolygon per
    class and add it as layer ``lcz_dominant``; returns the number of classes present."""
    parts: dict[int, list[shapely.Geometry]] = {}
    for geom, value in shapes(dominant, mask=dominant > 0, transform=transform, connectivity=4):
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    codes = sorted(parts)
    geoms = [shapely.union_all(parts[code]) for code in codes]
    geoms = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in geoms]
    gdf = gpd.GeoDataFrame(
        {
            "code": np.asarray(codes, dtype=np.int32),
            "letter": [by_code(c).letter for c in codes],
            "name": [by_code(c).name for c in codes],
            "colour": [by_code(c).colour for c in codes],
            "area_m2": np.asarray([g.area for g in geoms], dtype=np.float64),
        },
        geometry=geoms,
        crs=crs,
    )
    pyogrio.write_dataframe(
        gdf,
        path,
        layer=DOMINANT_LAYER,
        driver="GPKG",
        geometry_type="MultiPolygon",
        **({} if path.exists() else {"dataset_options": GPKG_OPTIONS}),
    )
    return len(codes)


def write_layer_styles(path: Path, styles: dict[str, str]) -> None:
    """Store QML styles (layer name -> QML) as the layers' default styles.

    The table follows the layout QGIS itself creates (``f_table_catalog`` ... ``update_time``);
    QGIS picks the row matching the layer's table and geometry column with ``useAsDefault``.
    """
    info = {layer: pyogrio.read_info(path, layer=layer) for layer in styles}
    rows = [
        {
            "f_table_catalog": "",
            "f_table_schema": "",
            "f_table_name": layer,
            "f_geometry_column": info[layer].get("geometry_name") or "geom",
            "styleName": layer,
            "styleQML": qml,
            "styleSLD": "",
            "useAsDefault": True,
            "description": f"LCZ style for {layer}",
            "owner": "",
            "ui": "",
            "update_time": _STYLE_TIME,
        }
        for layer, qml in styles.items()
    ]
    pyogrio.write_dataframe(pd.DataFrame(rows), path, layer="layer_styles", driver="GPKG")


def read_layer_styles(path: Path) -> dict[str, str]:
    """The default styles of a GeoPackage's layers (layer name -> QML), as
    :func:`write_layer_styles` stored them; empty when the file has none."""
    if "layer_styles" not in {name for name, _ in pyogrio.list_layers(path)}:
        return {}
    table = pyogrio.read_dataframe(
        path, layer="layer_styles", columns=["f_table_name", "styleQML", "useAsDefault"]
    )
    default = table[table["useAsDefault"].astype(bool)]
    return dict(zip(default["f_table_name"], default["styleQML"], strict=True))
