"""Users' own imagery as it comes, generated small: Google Earth / tile-downloader exports.

* :func:`write_jpeg_export` (and :func:`write_png_export`): a plain image of an area with its
  georeferencing beside it, as tile downloaders save Google Earth imagery: EPSG:3857 pixels, a
  world file (six numbers, by hand) and a ``.prj`` (ESRI WKT); optionally rotated, without
  ``.prj``, or with another world-file name;
* :func:`write_world_file`: the world file of an affine transform;
* :func:`write_vrt_mosaic`: a VRT mosaic of north-up GeoTIFF tiles, as ``gdalbuildvrt`` writes it.

Images are written with GDAL's own JPEG and PNG drivers and carry no georeferencing inside, so
that what GDAL finds comes from the files beside them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.errors import NotGeoreferencedWarning

__all__ = [
    "export_transform",
    "write_image_export",
    "write_jpeg_export",
    "write_png_export",
    "write_vrt_mosaic",
    "write_world_file",
]

_DRIVERS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


def export_transform(
    area: tuple[float, float, float, float],
    ground_m: float = 1.0,
    crs: int | str = 3857,
    rotation_deg: float = 0.0,
) -> tuple[Affine, int, int]:
    """``(transform, width, height)`` of an image of ``area`` = ``(west, south, east, north)``
    (degrees) in ``crs``, with pixels of about ``ground_m`` metres on the ground (EPSG:3857 units
    are stretched by 1 / cos(latitude)). ``rotation_deg`` turns the pixel grid counter-clockwise
    about the area's centre (a world file with rotation terms; the corners of the area are then
    cut off)."""
    west, south, east, north = area
    to_crs = Transformer.from_crs(4326, CRS.from_user_input(crs), always_xy=True)
    (x0, x1), (y0, y1) = to_crs.transform([west, east], [north, south])
    lat = (south + north) / 2.0
    res = ground_m / math.cos(math.radians(lat)) if CRS.from_user_input(crs).to_epsg() == 3857 \
        else ground_m  # fmt: skip
    width, height = max(2, round((x1 - x0) / res)), max(2, round((y0 - y1) / res))
    north_up = Affine(res, 0.0, x0, 0.0, -res, y0)
    centre = north_up @ (width / 2, height / 2)
    turn = Affine.rotation(rotation_deg, pivot=centre)
    return turn @ north_up, width, height


def write_world_file(path: Path, transform: Affine) -> Path:
    """Write ``transform`` (of pixel corners, GDAL's convention) as a world file: A, D, B, E, then
    the centre of the upper-left pixel (the world-file convention)."""
    a, b, c, d, e, f = tuple(transform)[:6]
    centre_x, centre_y = transform @ (0.5, 0.5)
    path.write_text("\n".join(f"{v:.10f}" for v in (a, d, b, e, centre_x, centre_y)) + "\n")
    return path


def _smooth(height: int, width: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    bands = [
        125 + 100 * np.sin(rng.uniform(0.05, 0.2) * xx + b) * np.cos(rng.uniform(0.05, 0.2) * yy)
        for b in range(count)
    ]
    return np.clip(np.stack(bands), 1, 250).astype(np.uint8)


def write_image_export(
    path: Path,
    area: tuple[float, float, float, float],
    *,
    ground_m: float = 1.0,
    image: np.ndarray | None = None,
    crs: int | str = 3857,
    prj: bool = True,
    world_suffix: str | None = None,
    rotation_deg: float = 0.0,
    seed: int = 0,
) -> Path:
    """A JPEG or PNG (by ``path``'s suffix) of ``area`` with a world file and a ``.prj`` beside it.

    Args:
        path: the image to write (``.jpg``, ``.jpeg`` or ``.png``).
        area: ``(west, south, east, north)`` in degrees.
        ground_m: pixel size on the ground, metres (see :func:`export_transform`).
        image: uint8 ``(bands, H, W)`` to write (3 bands, or 4 for a PNG with alpha); its size
            then decides the pixel size (the area is kept). Default: a smooth texture.
        crs: the CRS of the pixels, written to the ``.prj`` as ESRI WKT when ``prj``.
        prj: write the ``.prj`` (without it the export needs ``scene_crs``).
        world_suffix: the world file's suffix (default ``.jgw`` / ``.pgw``).
        rotation_deg: rotate the pixel grid (see :func:`export_transform`).
        seed: of the default texture.

    Returns:
        ``path``.
    """
    path = Path(path)
    driver = _DRIVERS[path.suffix.lower()]
    transform, width, height = export_transform(area, ground_m, crs, rotation_deg)
    if image is None:
        image = _smooth(height, width, 3, seed)
    else:
        transform = transform @ Affine.scale(width / image.shape[2], height / image.shape[1])
    count, height, width = image.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # georeferenced beside it
        with rasterio.open(path, "w", driver=driver, width=width, height=height, count=count,
                           dtype="uint8", **({"QUALITY": 95} if driver == "JPEG" else {})) as dst:  # fmt: skip
            dst.write(image)
    suffix = world_suffix or (".jgw" if driver == "JPEG" else ".pgw")
    write_world_file(path.with_suffix(suffix), transform)
    if prj:
        path.with_suffix(".prj").write_text(CRS.from_user_input(crs).to_wkt("WKT1_ESRI"))
    return path


def write_jpeg_export(
    path: Path, area: tuple[float, float, float, float], **options: object
) -> Path:
    """A Google Earth style export of ``area`` (west, south, east, north, degrees): an EPSG:3857
    JPEG with a ``.jgw`` world file and a ``.prj``, as tile downloaders save it. Options: those
    of :func:`write_image_export` (``ground_m``, ``image``, ``prj``, ``rotation_deg`` ...)."""
    path = Path(path)
    path = path if path.suffix.lower() in (".jpg", ".jpeg") else path.with_suffix(".jpg")
    return write_image_export(path, area, **options)  # type: ignore[arg-type]


def write_png_export(
    path: Path, area: tuple[float, float, float, float], **options: object
) -> Path:
    """As :func:`write_jpeg_export`, a lossless PNG with a ``.pgw``."""
    return write_image_export(Path(path).with_suffix(".png"), area, **options)  # type: ignore[arg-type]


def write_vrt_mosaic(path: Path, tiles: Sequence[Path]) -> Path:
    """A VRT mosaic of north-up GeoTIFF tiles of one CRS, pixel size, band count and dtype
    (the XML ``gdalbuildvrt`` writes for them; rasterio has no VRT builder). Tile paths are
    relative to the VRT; a tile's nodata value is carried over, so gaps read as nodata."""
    metas = []
    for tile in tiles:
        with rasterio.open(tile) as src:
            metas.append((Path(tile), src.transform, src.width, src.height, src.crs, src.nodata,
                          src.count, src.dtypes[0]))  # fmt: skip
    res_x, res_y = metas[0][1].a, metas[0][1].e
    left = min(t.c for _, t, *_ in metas)
    top = max(t.f for _, t, *_ in metas)
    right = max(t.c + w * res_x for _, t, w, *_ in metas)
    bottom = min(t.f + h * res_y for _, t, _, h, *_ in metas)
    width, height = round((right - left) / res_x), round((bottom - top) / res_y)
    crs, nodata, count, dtype = metas[0][4], metas[0][5], metas[0][6], metas[0][7]
    gdal_type = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "float32": "Float32"}[dtype]
    gt = ", ".join(repr(v) for v in (left, res_x, 0.0, top, 0.0, res_y))
    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
             f"  <SRS>{escape(crs.to_wkt())}</SRS>", f"  <GeoTransform>{gt}</GeoTransform>"]  # fmt: skip
    for band in range(1, count + 1):
        lines.append(f'  <VRTRasterBand dataType="{gdal_type}" band="{band}">')
        if nodata is not None:
            lines.append(f"    <NoDataValue>{nodata!r}</NoDataValue>")
        for tile, t, w, h, *_ in metas:
            col, row = round((t.c - left) / res_x), round((t.f - top) / res_y)
            rel = Path(tile).resolve().relative_to(Path(path).resolve().parent)
            lines += [
                "    <ComplexSource>",
                f'      <SourceFilename relativeToVRT="1">{escape(str(rel))}</SourceFilename>',
                f"      <SourceBand>{band}</SourceBand>",
                f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}" />',
                f'      <DstRect xOff="{col}" yOff="{row}" xSize="{w}" ySize="{h}" />',
                *([f"      <NODATA>{nodata!r}</NODATA>"] if nodata is not None else []),
                "    </ComplexSource>",
            ]
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)
