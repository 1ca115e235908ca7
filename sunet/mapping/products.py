"""Everything written for one area (a district or the city) from the mapped cell abundances.

One streamed pass over the area's rows of cells writes the abundance, dominant and uncertainty
rasters, the grid-cell layer and the class tallies; the whole-area products that follow (dissolved
polygons, quicklook) read the dominant raster, one byte per cell. Memory is bounded by a block of
cell rows, never by the imagery.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from sunet.atomic import write_text_atomic
from sunet.lcz import CLASSES, NUM_CLASSES
from sunet.mapping import styles
from sunet.mapping.accumulate import ABUNDANCE_NODATA
from sunet.mapping.quicklook import write_quicklook
from sunet.mapping.rasters import StreamingRaster, lcz_colormap, write_cog
from sunet.mapping.vectors import (
    CELLS_LAYER,
    DOMINANT_LAYER,
    CellsLayerWriter,
    write_dominant_polygons,
    write_layer_styles,
)
from sunet.mapping.windows import MapGrid, cell_mask
from sunet.mapping.wudapt import write_wudapt

__all__ = [
    "PRODUCT_FILES",
    "AreaSummary",
    "ProductFile",
    "dominant_class",
    "normalised_entropy",
    "write_area_products",
]

# The files of an area folder that other stages read by name.
ABUNDANCE = "lcz_abundance.tif"
DOMINANT = "lcz_dominant.tif"
UNCERTAINTY = "lcz_uncertainty.tif"
WUDAPT = "lcz_wudapt_100m.tif"
SUMMARY = "summary.csv"  # per class: dominant and abundance-weighted area (sunet.mapping.report)
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
QML = "application/xml"


@dataclass(frozen=True)
class ProductFile:
    """One file of an area's folder, as the catalogues (STAC, the QGIS project) describe it.

    ``key`` names it among an area's STAC assets; ``roles`` are STAC asset roles; ``styles``
    names the product a ``.qml`` file styles.
    """

    name: str
    key: str
    title: str
    media_type: str
    roles: tuple[str, ...]
    styles: str | None = None


_GPKG = "application/geopackage+sqlite3"
PRODUCT_FILES: tuple[ProductFile, ...] = (
    ProductFile(ABUNDANCE, "abundance", "LCZ abundances", COG, ("data",)),
    ProductFile("lcz_abundance.qml", "abundance_style", "QGIS style of the abundances", QML,
                ("style",), ABUNDANCE),
    ProductFile(DOMINANT, "dominant", "Dominant LCZ", COG, ("data",)),
    ProductFile("lcz_dominant.qml", "dominant_style", "QGIS style of the dominant LCZ", QML,
                ("style",), DOMINANT),
    ProductFile("lcz_dominant.gpkg", "polygons", "Dominant LCZ polygons and grid cells", _GPKG,
                ("data",)),
    ProductFile(UNCERTAINTY, "uncertainty", "Uncertainty (normalised entropy)", COG,
                ("data",)),
    ProductFile("lcz_uncertainty.qml", "uncertainty_style", "QGIS style of the uncertainty", QML,
                ("style",), UNCERTAINTY),
    ProductFile(WUDAPT, "wudapt", "Dominant LCZ, WUDAPT grid (EPSG:4326, ~100 m)",
                COG, ("data",)),
    ProductFile("lcz_wudapt_100m.qml", "wudapt_style", "QGIS style of the WUDAPT raster", QML,
                ("style",), WUDAPT),
    ProductFile(SUMMARY, "summary", "Area and share of each LCZ", "text/csv", ("metadata",)),
    ProductFile("quicklook.png", "quicklook", "Quicklook with legend", "image/png", ("overview",)),
)  # fmt: skip

# Cell rows per block of the product pass.
_BLOCK_ROWS = 64
# Long side of the quicklook image, pixels (larger areas are decimated).
_QUICKLOOK_SIDE = 1600


@dataclass(frozen=True)
class AreaSummary:
    """``cells`` mapped, their ``area_m2``, and ``shares``: code -> share of cells it dominates."""

    cells: int
    area_m2: float
    shares: dict[int, float]


def dominant_class(abundances: np.ndarray) -> np.ndarray:
    """float32 ``(17, ...)`` -> uint8 ``(...)`` raster code of the largest abundance; 0 where the
    abundances are nodata."""
    valid = abundances[0] != ABUNDANCE_NODATA
    return np.where(valid, abundances.argmax(axis=0) + 1, 0).astype(np.uint8)


def normalised_entropy(abundances: np.ndarray) -> np.ndarray:
    """float32 ``(17, ...)`` -> float32 ``(...)``: Shannon entropy of the abundances divided by
    ``ln 17``, 0 for a pure cell, 1 for all classes equal; ``ABUNDANCE_NODATA`` where nodata."""
    valid = abundances[0] != ABUNDANCE_NODATA
    p = np.clip(abundances.astype(np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=0) / np.log(NUM_CLASSES)
    return np.where(valid, np.clip(h, 0.0, 1.0), ABUNDANCE_NODATA).astype(np.float32)


def write_area_products(
    abundance_source: Path,
    source_grid: MapGrid,
    area: MapGrid,
    geometry: BaseGeometry | None,
    out_dir: Path,
    title: str,
    *,
    wudapt_resolution: float,
    cells_layer: bool = True,
) -> AreaSummary:
    """Write every product of one area into ``out_dir`` (which the caller makes atomic).

    Args:
        abundance_source: the mapped cells (work GTiff, 17 float32 bands on ``source_grid``).
        source_grid: its grid; area: the cells of this area (a sub-rectangle of it).
        geometry: the area's polygon (map CRS); cells whose centre is outside become nodata.
            None keeps the source's own mask (the city).
        out_dir: destination folder; title: name shown in the quicklook.

    Returns:
        The area's :class:`AreaSummary`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    row_off, col_off = area.offset_in(source_grid)
    work = {name: out_dir / f".work-{name}.tif" for name in ("abundance", "dominant", "uncert")}
    cells = CellsLayerWriter(
        out_dir / "lcz_dominant.gpkg", area.crs, area.transform, area.rows.start, area.cols.start
    )
    dominant_count = np.zeros(NUM_CLASSES + 1, dtype=np.int64)
    abundance_sum = np.zeros(NUM_CLASSES, dtype=np.float64)
    with (
        rasterio.open(abundance_source) as src,
        _work_raster(
            area, work["abundance"], count=NUM_CLASSES, dtype="float32",
            nodata=ABUNDANCE_NODATA, descriptions=[c.label for c in CLASSES],
            tags={"LCZ_PRODUCT": "abundance", "CELL_SIZE_M": f"{area.cell_size:g}"},
        ) as ab_out,
        _work_raster(
            area, work["dominant"], count=1, dtype="uint8", nodata=0,
            descriptions=["Dominant LCZ (codes 1-17)"], colormap=lcz_colormap(),
            tags={"LCZ_PRODUCT": "dominant", "CELL_SIZE_M": f"{area.cell_size:g}"},
        ) as dom_out,
        _work_raster(
            area, work["uncert"], count=1, dtype="float32", nodata=ABUNDANCE_NODATA,
            descriptions=["Normalised entropy of the LCZ abundances (0 pure - 1 uniform)"],
            tags={"LCZ_PRODUCT": "uncertainty", "CELL_SIZE_M": f"{area.cell_size:g}"},
        ) as unc_out,
    ):  # fmt: skip
        for r0 in range(0, area.height, _BLOCK_ROWS):
            r = min(_BLOCK_ROWS, area.height - r0)
            block = src.read(window=Window(col_off, row_off + r0, area.width, r))
            if geometry is not None:
                inside = cell_mask(area, geometry, range(r0, r0 + r))
                block[:, ~inside] = ABUNDANCE_NODATA
            dominant = dominant_class(block)
            uncertainty = normalised_entropy(block)
            ab_out.write_rows(r0, block)
            dom_out.write_rows(r0, dominant[None])
            unc_out.write_rows(r0, uncertainty[None])
            dominant_count += np.bincount(dominant.ravel(), minlength=NUM_CLASSES + 1)
            valid = dominant > 0
            abundance_sum += block[:, valid].sum(axis=1, dtype=np.float64)
            if cells_layer:
                cells.write(r0, block, dominant, uncertainty)
    write_cog(work["abundance"], out_dir / ABUNDANCE, resampling="average")
    write_cog(work["dominant"], out_dir / DOMINANT, resampling="nearest")
    write_cog(work["uncert"], out_dir / UNCERTAINTY, resampling="average")
    write_wudapt(
        work["abundance"],
        out_dir / WUDAPT,
        out_dir / ".work-wudapt.tif",
        wudapt_resolution,
    )
    for path in work.values():
        path.unlink()

    with rasterio.open(out_dir / DOMINANT) as ds:
        dominant_all = ds.read(1)
        factor = max(1, -(-max(ds.width, ds.height) // _QUICKLOOK_SIDE))
        preview = ds.read(1, out_shape=(max(1, ds.height // factor), max(1, ds.width // factor)))
    gpkg = out_dir / "lcz_dominant.gpkg"
    write_dominant_polygons(gpkg, dominant_all, area.transform, area.crs)
    layer_qml = {DOMINANT_LAYER: styles.categorized_vector_qml("code")}
    if cells_layer:
        layer_qml[CELLS_LAYER] = styles.categorized_vector_qml("dominant")
    write_layer_styles(gpkg, layer_qml)

    cell_area = area.cell_size**2
    mapped = int(dominant_count[1:].sum())
    shares = _write_summary(out_dir / SUMMARY, dominant_count, abundance_sum, cell_area)
    top = int(np.argmax(abundance_sum)) + 1 if mapped else 1
    write_text_atomic(out_dir / "lcz_abundance.qml", styles.pseudocolor_raster_qml(band=top))
    write_text_atomic(out_dir / "lcz_dominant.qml", styles.paletted_raster_qml())
    write_text_atomic(out_dir / "lcz_wudapt_100m.qml", styles.paletted_raster_qml())
    write_text_atomic(
        out_dir / "lcz_uncertainty.qml", styles.pseudocolor_raster_qml(band=1, ramp=styles.MAGMA)
    )
    write_quicklook(
        out_dir / "quicklook.png",
        preview,
        title,
        area.cell_size * area.width / max(preview.shape[1], 1),
        {code: s for code, s in shares.items() if s > 0},
    )
    return AreaSummary(mapped, mapped * cell_area, shares)


def _work_raster(area: MapGrid, path: Path, **bands: Any) -> StreamingRaster:
    return StreamingRaster(
        path, crs=area.crs, transform=area.transform, width=area.width, height=area.height, **bands
    )


def _write_summary(
    path: Path, dominant_count: np.ndarray, abundance_sum: np.ndarray, cell_area: float
) -> dict[int, float]:
    """``summary.csv``: per class, the area where it dominates and its abundance-weighted area,
    each with its share of the mapped area. Returns code -> dominant share."""
    mapped = max(int(dominant_count[1:].sum()), 1)
    total_abundance = max(float(abundance_sum.sum()), 1e-12)
    shares: dict[int, float] = {}
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(
            ["code", "letter", "name", "dominant_cells", "dominant_area_m2", "dominant_share",
             "abundance_area_m2", "abundance_share"]
        )  # fmt: skip
        for c in CLASSES:
            n = int(dominant_count[c.code])
            shares[c.code] = n / mapped
            a = float(abundance_sum[c.index])
            out.writerow(
                [c.code, c.letter, c.name, n, f"{n * cell_area:.1f}", f"{n / mapped:.6f}",
                 f"{a * cell_area:.1f}", f"{a / total_abundance:.6f}"]
            )  # fmt: skip
    return shares
