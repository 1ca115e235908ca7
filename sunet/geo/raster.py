"""The only module that opens scenes: validation, band selection, scaling to uint8 and a
reprojected read of any target-grid window.

Scenes are any raster GDAL georeferences: GeoTIFF, JPEG 2000, ERDAS .img, a VRT mosaic, or a JPEG
or PNG with a world file beside it (:mod:`sunet.geo.sidecars`; its CRS from the file, an
``.aux.xml``, a ``.prj``, or else the caller's ``scene_crs``).

Reading goes through a rasterio ``WarpedVRT`` onto the caller's pixel grid (bilinear), so a scene
of any CRS, pixel size or rotation can be read window by window without a mosaic in memory.
Validity always comes from an alpha band of the warped dataset, which GDAL derives from the source's
nodata value or internal mask, and which is 0 outside the source footprint; a source with an alpha
band of its own has that band warped instead, and then its alpha alone decides (a nodata value it
also declares is ignored: see :class:`SceneReader`). Pixel values therefore never decide validity
by themselves, and nodata never reads as data. A source with neither counts as valid wherever it
has pixels.

Scaling to uint8 (the default :class:`Radiometry`):
  * uint8 data is passed through unchanged;
  * any other dtype (uint16, int16, float32 ...) gets a per-scene, per-band linear stretch of the
    2nd-98th percentile of its valid pixels onto 0-255, clipped. The percentiles are computed once
    per scene and band set from a decimated read (overviews when present, at most ~1024 px on the
    long side), so every window of a scene is scaled the same way.
A fixed range (``Radiometry(scale_range=(0, 10000))``) replaces the stretch of non-uint8 scenes,
which keeps values comparable across scenes.

:class:`Radiometry` is the one description of these choices that tiling writes into the patch
store, training copies into the model bundle and mapping applies, so that a scene is scaled the
same way whether it is tiled or mapped. ``stretch="all"`` stretches 8-bit scenes too: a
per-scene radiometric normalisation that takes out differences of gain, contrast, colour cast and
haze between acquisitions.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
import shapely
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field
from pyproj import CRS, Transformer
from rasterio.crs import CRS as RioCRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from shapely.geometry import Polygon

from sunet.geo.crs import from_rasterio, parse_crs, same_crs, to_rasterio, utm_crs
from sunet.geo.sidecars import (
    IMAGE_SUFFIXES,
    georeferenced_image,
    image_sidecars,
    prj_crs,
    world_file_problem,
)
from sunet.threads import each

__all__ = [
    "check_bands",
    "SCENE_FILES",
    "SCENE_SUFFIXES",
    "ByteScaling",
    "Radiometry",
    "SceneInfo",
    "SceneReader",
    "inspect_scene",
    "inspect_scenes",
    "open_scene",
    "read_reprojected",
    "scene_companions",
    "scene_files_in",
    "scene_footprint",
    "scene_stretch",
]

# The raster files taken as scenes from a folder, by every stage (tile, map, remap, the inbox);
# JPEG and PNG images (sidecars.IMAGE_SUFFIXES) too, when georeferencing lies beside them.
SCENE_SUFFIXES = (".tif", ".tiff", ".jp2", ".img", ".vrt")
# The same, in words, for messages about a folder without scenes.
SCENE_FILES = f"{'/'.join(SCENE_SUFFIXES)}, or {'/'.join(IMAGE_SUFFIXES)} with a world file"


def scene_files_in(folder: str | os.PathLike[str]) -> list[Path]:
    """The scene files directly in ``folder``, sorted by name.

    Scenes are files with a :data:`SCENE_SUFFIXES` suffix (any case), and JPEG/PNG images with a
    world file or a georeferencing ``.aux.xml`` beside them (an image without, such as a preview or
    a legend, is not a scene). Hidden and temporary files (a leading dot, as ``.tmp-*``) are not
    scenes, nor are the tiles of a VRT in the folder (the VRT is the scene: see
    :func:`scene_companions`).
    """
    found = sorted(
        p
        for p in Path(folder).iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and (p.suffix.lower() in SCENE_SUFFIXES or georeferenced_image(p))
    )
    tiles = {c.resolve() for p in found if p.suffix.lower() == ".vrt" for c in scene_companions(p)}
    return [p for p in found if p.resolve() not in tiles]


def scene_companions(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The files besides ``path`` that a scene is read from: the world file, ``.prj`` and
    ``.aux.xml`` of a JPEG/PNG, the source files of a VRT; none for other formats (a GeoTIFF's
    ``.aux.xml`` or ``.ovr`` does not change what is read). Whoever moves or fingerprints a scene
    takes these along. A VRT that does not open has none (reading it reports why)."""
    path = Path(path)
    if path.suffix.lower() != ".vrt":
        return tuple(image_sidecars(path))
    try:
        with rasterio.open(path) as src:
            files = [Path(f) for f in src.files]
    except RasterioError:
        return ()
    own = path.resolve()
    return tuple(dict.fromkeys(f for f in files if f.resolve() != own and f.is_file()))


# Long side, in pixels, of the decimated reads used for valid-data bounds and percentile stretches.
_OVERVIEW_SIDE = 1024


@dataclass(frozen=True)
class SceneInfo:
    """What the pipeline needs to know about one scene file (picklable, hashable).

    Attributes:
        path: the file.
        crs: the scene's CRS.
        transform: pixel -> CRS affine transform.
        width, height: size in pixels; count: number of bands.
        dtype: numpy dtype name of the bands (``'uint8'``, ``'uint16'`` ...).
        nodata: the declared nodata value, or ``None``.
        bounds: ``(left, bottom, right, top)`` of the whole raster in the scene CRS.
        valid_window: ``(col_off, row_off, width, height)`` in pixels of the box around the
            scene's valid data (the whole raster if it has no nodata/alpha/mask).
        alpha: 1-based index of the alpha band (the validity mask, never read as data), or
            ``None``.
        companions: see :func:`scene_companions`.
        crs_assigned: the CRS is the caller's ``scene_crs``, not one the scene's files give.
    """

    path: Path
    crs: CRS
    transform: Affine
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None
    bounds: tuple[float, float, float, float]
    valid_window: tuple[int, int, int, int]
    alpha: int | None = None
    companions: tuple[Path, ...] = ()
    crs_assigned: bool = False

    @property
    def name(self) -> str:
        """The scene's name in outputs: its file stem."""
        return self.path.stem


@dataclass(frozen=True)
class ByteScaling:
    """Linear map of ``[low, high]`` (per band, source units) onto 0-255, clipped."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    @classmethod
    def fixed(cls, low: float, high: float, nbands: int = 3) -> ByteScaling:
        """The same range for every band, e.g. ``ByteScaling.fixed(0, 10000)`` for reflectance."""
        if not high > low:
            raise ValueError(f"scaling range must have high > low, got [{low}, {high}]")
        return cls((float(low),) * nbands, (float(high),) * nbands)

    def apply(self, data: np.ndarray) -> np.ndarray:
        """``(B, H, W)`` any dtype -> ``(B, H, W)`` uint8.

        Integer data of up to 16 bits goes through a per-band table of every possible value (the
        same numbers as the arithmetic, several times faster: every patch and strip of a
        stretched scene passes here)."""
        if data.dtype.kind in "iu" and data.dtype.itemsize <= 2:
            table = _scaling_table(self, data.dtype.str)
            offset = -int(np.iinfo(data.dtype).min)
            out = np.empty(data.shape, dtype=np.uint8)
            for b in range(data.shape[0]):
                index = data[b] if offset == 0 else data[b].astype(np.int32) + offset
                np.take(table[b], index, out=out[b])
            return out
        return self._scaled(data)

    def _scaled(self, data: np.ndarray) -> np.ndarray:
        low = np.asarray(self.low, dtype=np.float64)[:, None, None]
        span = np.asarray(self.high, dtype=np.float64)[:, None, None] - low
        span[span <= 0] = 1.0  # a constant band maps to 0 rather than dividing by zero
        scaled = (data.astype(np.float64) - low) / span * 255.0
        return np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=64)
def _scaling_table(scaling: ByteScaling, dtype: str) -> np.ndarray:
    """uint8 ``(B, 2**bits)``: ``scaling`` of every value of an integer ``dtype``, in order from
    its minimum."""
    info = np.iinfo(np.dtype(dtype))
    values = np.arange(info.min, info.max + 1, dtype=np.float64)
    return scaling._scaled(np.broadcast_to(values, (len(scaling.low), 1, values.size)))[:, 0]


def _error(path: Path, problem: str, err: BaseException | None = None) -> ValueError:
    detail = f" ({str(err).splitlines()[0]})" if err is not None and str(err) else ""
    return ValueError(f"{path}: {problem}{detail}")


def _alpha_band(src: rasterio.DatasetReader) -> int | None:
    """The last band GDAL labels alpha, as rasterio's ``WarpedVRT`` finds it (GDAL's mask flags
    would miss it when a nodata value is declared too, or beside more than three bands)."""
    alpha = [
        i for i, ci in zip(src.indexes, src.colorinterp, strict=True) if ci == ColorInterp.alpha
    ]
    return alpha[-1] if alpha else None


def _validity(
    src: rasterio.DatasetReader,
    alpha: int | None,
    window: Window | None = None,
    out_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """bool ``(H, W)``: True where the scene has data. An alpha band decides alone (> 0), as it
    does in the warp; otherwise GDAL's dataset mask (nodata, internal mask), which, like the
    warp's alpha, counts a pixel as nodata only where every band is nodata."""
    if alpha is not None:
        return src.read(alpha, window=window, out_shape=out_shape) > 0
    return src.dataset_mask(window=window, out_shape=out_shape) > 0


def _decimated_shape(width: int, height: int) -> tuple[int, int]:
    factor = max(1, math.ceil(max(width, height) / _OVERVIEW_SIDE))
    return max(1, math.ceil(height / factor)), max(1, math.ceil(width / factor))


def _scene_crs(
    path: Path, src: rasterio.DatasetReader, scene_crs: CRS | str | None
) -> tuple[CRS, bool]:
    """``(CRS, assigned)``: the scene's own CRS (in the file or its ``.aux.xml``, else its
    ``.prj``), or else ``scene_crs`` (``assigned``). An own CRS is never overridden."""
    if src.crs is not None:
        return from_rasterio(src.crs), False
    own = prj_crs(path)
    if own is not None:
        return own, False
    if scene_crs is None:
        hint = "no .prj or .aux.xml beside it; " if path.suffix.lower() in IMAGE_SUFFIXES else ""
        raise _error(path, f"scene has no CRS ({hint}georeference it, or give --scene-crs)")
    if isinstance(scene_crs, CRS):
        return scene_crs, True
    try:
        return parse_crs(scene_crs), True
    except ValueError as e:
        raise _error(path, f"--scene-crs {scene_crs!r}: {e}") from e


def _check_geotransform(path: Path, transform: Affine) -> None:
    if transform.is_identity:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            raise _error(path, world_file_problem(path))
        raise _error(path, "scene has no geotransform (georeference it before tiling)")
    # GDAL accepts a world file whose axes are parallel (a zero-area pixel); nothing can be read
    # from it onto a grid.
    if not abs(transform.determinant) > 0 or not math.isfinite(transform.determinant):
        raise _error(path, f"geotransform {tuple(transform)[:6]} has a zero pixel size")


def _decimated_validity(
    path: Path, src: rasterio.DatasetReader, alpha: int | None, threads: int
) -> np.ndarray:
    """The validity mask of a whole scene at most ~1024 px on the long side, read in ``threads``
    bands of rows at once, each from its own handle (one handle decodes one block at a time).

    Identical to one read: band ``i`` reads the (fractional) source rows its output rows cover,
    so GDAL samples the same source pixels for every output row.
    """
    shape = _decimated_shape(src.width, src.height)
    rows, cols = shape
    if threads <= 1 or rows < 2 * threads:
        return _validity(src, alpha, out_shape=shape)
    cuts = [round(i * rows / threads) for i in range(threads + 1)]
    scale = src.height / rows

    def band(span: tuple[int, int]) -> np.ndarray:
        j0, j1 = span
        window = Window(0, j0 * scale, src.width, (j1 - j0) * scale)
        with rasterio.open(path) as part:
            return _validity(part, alpha, window=window, out_shape=(j1 - j0, cols))

    return np.concatenate(each(band, list(zip(cuts[:-1], cuts[1:], strict=True)), threads))


def inspect_scenes(
    paths: Sequence[str | Path],
    *,
    threads: int = 1,
    min_extent_m: float | None = None,
    scene_crs: CRS | str | None = None,
) -> list[SceneInfo]:
    """:func:`inspect_scene` of every path, in order, using up to ``threads`` threads: scenes in
    parallel, and threads left over split each scene's mask read. The first scene (in order) that
    fails raises its error."""
    per_scene = max(1, threads // max(1, len(paths)))
    return each(
        lambda p: inspect_scene(
            p, min_extent_m=min_extent_m, scene_crs=scene_crs, threads=per_scene
        ),
        list(paths),
        threads,
    )


def inspect_scene(
    path: str | Path,
    *,
    min_extent_m: float | None = None,
    scene_crs: CRS | str | None = None,
    threads: int = 1,
) -> SceneInfo:
    """Open, validate and describe a scene.

    Reads a decimated validity mask (which touches every block of a file without overviews, so a
    truncated file is caught here rather than halfway through tiling), in ``threads`` threads.

    Args:
        path: a raster file GDAL can read, or a JPEG/PNG with a world file beside it.
        min_extent_m: if given, the scene's valid data must span at least this many metres on the
            ground in both directions (measured in the UTM zone of the scene).
        scene_crs: the CRS of a scene whose files give none (e.g. ``"EPSG:3857"`` for a JPEG
            with a world file but no ``.prj``); a scene's own CRS is never overridden.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: one line naming the file, if it is unreadable or truncated, has no
            georeferencing (no world file, a malformed one, a zero pixel size), has no CRS, has
            no valid pixel, or is smaller than ``min_extent_m``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such scene file")
    try:
        # A missing geotransform is reported below, in one line naming the problem.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
        with src:
            _check_geotransform(path, src.transform)
            crs, assigned = _scene_crs(path, src, scene_crs)
            if src.width < 2 or src.height < 2:
                raise _error(path, f"scene is only {src.width}x{src.height} px")
            alpha = _alpha_band(src)
            mask = _decimated_validity(path, src, alpha, threads)
            # Read the last block too: a decimated read may skip the final rows of a file.
            bh, bw = src.block_shapes[0]
            last = Window(
                ((src.width - 1) // bw) * bw, ((src.height - 1) // bh) * bh, bw, bh
            ).intersection(Window(0, 0, src.width, src.height))
            src.read(window=last)
            info = SceneInfo(
                path=path,
                crs=crs,
                transform=src.transform,
                width=src.width,
                height=src.height,
                count=src.count,
                dtype=src.dtypes[0],
                nodata=src.nodata,
                bounds=_bounds(src),
                valid_window=_valid_window(mask, src.width, src.height, path),
                alpha=alpha,
                companions=scene_companions(path),
                crs_assigned=assigned,
            )
    except ValueError:
        raise
    except RasterioError as e:
        raise _error(path, "not a readable raster or truncated", e) from e
    if min_extent_m is not None:
        west, south, east, north = scene_footprint(info, CRS.from_epsg(4326)).bounds
        local = scene_footprint(info, utm_crs((west + east) / 2, (south + north) / 2))
        x0, y0, x1, y1 = local.bounds
        if min(x1 - x0, y1 - y0) < min_extent_m:
            raise _error(
                path,
                f"scene covers only {x1 - x0:.0f} x {y1 - y0:.0f} m of valid data, "
                f"less than one patch ({min_extent_m:.0f} m)",
            )
    return info


def _bounds(src: rasterio.DatasetReader) -> tuple[float, float, float, float]:
    """``(left, bottom, right, top)`` around the raster; of a rotated one, around its corners
    (rasterio's own ``bounds`` would warn of a deprecated operator there)."""
    if src.transform.is_rectilinear:
        return tuple(src.bounds)
    corners = [src.transform @ (c, r) for c in (0, src.width) for r in (0, src.height)]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    return min(xs), min(ys), max(xs), max(ys)


def _valid_window(
    mask: np.ndarray, width: int, height: int, path: Path
) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise _error(path, "scene has no valid pixel (all nodata)")
    # Map decimated indices back to full-resolution pixels, widened by one decimated pixel so the
    # box never cuts valid data off.
    fy, fx = height / mask.shape[0], width / mask.shape[1]
    c0 = max(0, math.floor((cols[0] - 1) * fx))
    r0 = max(0, math.floor((rows[0] - 1) * fy))
    c1 = min(width, math.ceil((cols[-1] + 2) * fx))
    r1 = min(height, math.ceil((rows[-1] + 2) * fy))
    return c0, r0, c1 - c0, r1 - r0


def scene_footprint(info: SceneInfo, dst_crs: CRS, densify: int = 16) -> Polygon:
    """The box around a scene's valid data, as a polygon in ``dst_crs``.

    Edges are densified to ``densify`` segments before reprojection, so curved edges (e.g. a
    EPSG:4326 box seen in UTM) stay within a fraction of a pixel of the true outline.
    """
    c0, r0, w, h = info.valid_window
    corners = [
        info.transform @ xy for xy in ((c0, r0), (c0 + w, r0), (c0 + w, r0 + h), (c0, r0 + h))
    ]
    poly = Polygon(corners)
    side = max(poly.length / 4.0, 1e-12)
    poly = shapely.segmentize(poly, side / densify)
    if same_crs(info.crs, dst_crs):
        return poly
    to_dst = _transformer(info.crs, dst_crs, threading.get_ident())
    return shapely.transform(poly, lambda xy: np.column_stack(to_dst.transform(xy[:, 0], xy[:, 1])))


def _affine_xy(t: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(x, y)`` (arrays) through the affine ``t``."""
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


# How far (scene pixels) an affine grid in the scene's CRS may stray from the projected window
# for a warp to use it instead of the projection (see SceneReader._in_scene_crs).
_AFFINE_TOLERANCE_PX = 0.02
# Side (target pixels) of the blocks a window is warped by, each through its own affine grid.
_AFFINE_BLOCK = 256
# Warped blocks a scene reader keeps (~0.26 MB each for 8-bit RGB): more than a row of blocks
# across a 4096 px scene, so a map's next strip finds the blocks it shares with the last one.
_BLOCKS_KEPT = 32


@dataclass(frozen=True)
class _BlockPart:
    """Where one block of the target grid meets a window: the block (``key``), its affine grid
    in the scene's CRS (``local``; None when the block is kept already), the part of the block
    (``inside``) and of the window (``window``) as ``(rows, cols)`` slices."""

    key: tuple[object, ...]
    local: Affine | None
    inside: tuple[slice, slice]
    window: tuple[slice, slice]


@functools.lru_cache(maxsize=32)
def _transformer(src: CRS, dst: CRS, thread: int) -> Transformer:
    """An ``always_xy`` transformer, built once per CRS pair and thread (building one costs
    milliseconds; keyed by thread so that no transformer is shared between threads)."""
    return Transformer.from_crs(src, dst, always_xy=True)


@functools.lru_cache(maxsize=64)
def scene_stretch(
    info: SceneInfo, bands: tuple[int, ...], percentiles: tuple[float, float] = (2.0, 98.0)
) -> ByteScaling:
    """Per-band percentile stretch of a scene's valid pixels, from one decimated read (cached per
    process, so each scene is measured once)."""
    check_bands(info, bands)
    shape = _decimated_shape(info.width, info.height)
    try:
        with rasterio.open(info.path) as src:
            # Per-band nodata is left out too, unless an alpha band decides validity alone.
            masked = info.alpha is None
            data = src.read(list(bands), out_shape=(len(bands), *shape), masked=masked)
            valid = _validity(src, info.alpha, out_shape=shape)
    except RasterioError as e:
        raise _error(info.path, "read failed", e) from e
    low, high = [], []
    for b in range(len(bands)):
        values = np.ma.getdata(data[b])[valid & ~np.ma.getmaskarray(data[b])]
        values = values[np.isfinite(values)]
        if values.size == 0:
            low.append(0.0)
            high.append(1.0)
            continue
        lo, hi = np.percentile(values.astype(np.float64), percentiles)
        low.append(float(lo))
        high.append(float(hi) if hi > lo else float(lo) + 1.0)
    return ByteScaling(tuple(low), tuple(high))


class Radiometry(BaseModel):
    """How scene values become the uint8 a model sees (the same at tiling and mapping).

    * uint8 scenes pass through unchanged, unless ``stretch="all"``;
    * other dtypes get ``scale_range`` when given, else the scene's 2-98 percentile stretch;
    * ``stretch="all"``: every scene, uint8 too, gets its own 2-98 percentile stretch per band.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stretch: Literal["non-uint8", "all"] = Field(
        default="non-uint8",
        description="Which scenes get their own 2-98 percentile stretch per band: only those not "
        "already 8-bit, or all (a per-scene radiometric normalisation).",
    )
    scale_range: tuple[float, float] | None = Field(
        default=None,
        description="Fixed [low, high] mapped onto 0-255 for non-uint8 scenes instead of their "
        "stretch (keeps values comparable across scenes).",
    )

    def scaling(self, info: SceneInfo, bands: Sequence[int]) -> ByteScaling | None:
        """The scaling of one scene's ``bands``; ``None`` = its values as they are (uint8)."""
        eight_bit = np.dtype(info.dtype) == np.uint8
        if eight_bit and self.stretch == "non-uint8":
            return None
        if self.scale_range is not None and not eight_bit:
            return ByteScaling.fixed(*self.scale_range, nbands=len(bands))
        return scene_stretch(info, tuple(int(b) for b in bands))


def check_bands(info: SceneInfo, bands: Sequence[int]) -> None:
    """Refuse (one line naming the scene) bands the scene lacks, or its alpha band."""
    bad = [b for b in bands if not 1 <= b <= info.count]
    if bad or len(bands) == 0:
        raise _error(info.path, f"has {info.count} band(s); cannot read bands {tuple(bands)}")
    if info.alpha in bands:
        raise _error(
            info.path,
            f"band {info.alpha} is the alpha band (which pixels are valid), not image data; "
            f"cannot read bands {tuple(bands)}",
        )


class SceneReader:
    """An open scene that reads any target-grid window, warped (bilinear), as uint8.

    Use through :func:`open_scene`. Each :meth:`read` builds a ``WarpedVRT`` of exactly the
    requested window and reads it whole: GDAL then warps just those pixels in one pass, which is
    faster than windowed reads of one scene-wide ``WarpedVRT`` (whose 512x128 blocks are warped
    whole, neighbours included, even when only some cells are wanted), and also cheaper per cell
    than one warp of a block of several cells (README "Benchmarks" has the tiling figures).

    A window already on the scene's own pixel grid (same CRS, same north-up pixel size, whole-
    pixel offset) is read directly instead: bilinear sampling at the source's own pixel centres
    returns the source pixels, and the source's alpha band or dataset mask gives the same
    validity as the warp's alpha, so the result is the warp's without its cost. A rotated scene
    (a world file with rotation terms) is always warped.

    A window of another CRS is warped block by block: the target grid is cut into 256 px blocks
    from its origin, and each block through an affine grid in the scene's CRS that follows the
    projection to 0.02 px (a 256 m block between Web Mercator and UTM: ~0.01 px), with no
    projection in GDAL's warp. A pixel is then read the same whatever window asks for it, so a
    map's strips see exactly the pixels tiling cut for training; one projected warp of a whole
    strip did not (GDAL widens its bilinear kernel by the strip's rotated bounding box: up to
    11 DN off, 37 % of values), and was 2.6x slower on a 2176 px strip. Windows whose blocks
    are not affine enough (coarse pixels, other projections) are projected whole.
    """

    def __init__(
        self,
        info: SceneInfo,
        src: rasterio.DatasetReader,
        bands: tuple[int, ...],
        scaling: ByteScaling | None,
    ):
        self.info = info
        self._src = src
        self._bands = bands
        self._scaling = scaling
        # Validity in the warp: a source alpha band is warped with the bands (rasterio finds it
        # by its colour interpretation and makes it GDAL's source alpha), and read back at its own
        # index; without one, an alpha band is added after the bands, derived from nodata / the
        # internal mask / the footprint. The two cannot be combined: GDAL refuses to add an alpha
        # band to a source that has one.
        #
        # A source with an alpha band that also declares a nodata value (exporters stamp nodata 0
        # on RGBA files as the fill of transparent pixels) has its nodata ignored: the alpha band
        # is the per-pixel statement of validity, a genuinely black pixel under opaque alpha is
        # data, and this is the validity inspect_scene and the direct read take from the alpha
        # band too. Passing the nodata on to the warp would add a second, conflicting mask.
        self._alpha = info.alpha
        self._src_nodata: dict[str, None] = (
            {"src_nodata": None, "nodata": None} if info.alpha else {}
        )
        # A scene whose CRS comes from a .prj or scene_crs rather than the file gives it the warp.
        self._src_crs = to_rasterio(info.crs) if src.crs is None else None
        self._scene_rio_crs = to_rasterio(info.crs)
        # Warped blocks kept for the next windows (see _warped_by_blocks).
        self._blocks: OrderedDict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        # The last target CRS seen and what it implies: hashing a pyproj CRS exports its WKT
        # (~0.3 ms), too much to repeat for every cell of a scene.
        self._crs_seen: CRS | None = None
        self._crs_facts: tuple[RioCRS, bool] | None = None

    def _target(self, dst_crs: CRS) -> tuple[RioCRS, bool]:
        """``(rasterio CRS, same CRS as the scene?)`` for a target CRS."""
        if self._crs_facts is None or dst_crs is not self._crs_seen:
            self._crs_facts = (to_rasterio(dst_crs), same_crs(self.info.crs, dst_crs))
            self._crs_seen = dst_crs
        return self._crs_facts

    def read(
        self, dst_crs: CRS, dst_transform: Affine, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(image, valid)``: uint8 ``(len(bands), height, width)`` (0 where invalid) and bool
        ``(height, width)`` for the window ``dst_transform`` of ``dst_crs``."""
        rio_crs, same_crs = self._target(dst_crs)
        offset = _grid_offset(self.info, dst_transform) if same_crs else None
        try:
            if offset is None:
                blocks = (
                    None if same_crs else self._affine_blocks(dst_crs, dst_transform, width, height)
                )
                if blocks is not None:
                    image, valid = self._warped_by_blocks(blocks, width, height)
                else:
                    image, valid = self._warped(rio_crs, dst_transform, width, height)
            else:
                image, valid = self._direct(offset, width, height)
        except RasterioError as e:
            raise _error(self.info.path, "read failed (truncated or corrupt?)", e) from e
        if self._scaling is not None:
            image = self._scaling.apply(image)
        if valid.all():  # the common case: no copy to blank what is all data
            return image.astype(np.uint8, copy=False), valid
        return np.where(valid[None], image, 0).astype(np.uint8, copy=False), valid

    def _affine_blocks(
        self, dst_crs: CRS, dst_transform: Affine, width: int, height: int
    ) -> list[_BlockPart] | None:
        """The window cut along the target grid's :data:`_AFFINE_BLOCK`-pixel blocks (counted
        from the grid's origin, so a pixel always falls in the same block whatever window reads
        it), each block with its affine grid in the scene's CRS (``None`` where the block is
        already warped and kept). ``None`` when the target grid is not north-up on whole pixels
        or a block's projection is not affine enough (:meth:`_in_scene_crs`)."""
        t = dst_transform
        if t.b != 0 or t.d != 0 or not (t.a > 0 and t.e < 0):
            return None
        col, row = t.c / t.a, t.f / t.e
        if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
            return None
        col, row, size = round(col), round(row), _AFFINE_BLOCK
        parts = []
        for by in range(row // size, -(-(row + height) // size)):
            for bx in range(col // size, -(-(col + width) // size)):
                key = (dst_crs.srs, t.a, t.e, bx, by)
                local = None
                if key not in self._blocks:
                    block = Affine(t.a, 0, bx * size * t.a, 0, t.e, by * size * t.e)
                    local = self._in_scene_crs(dst_crs, block, size, size)
                    if local is None:
                        return None
                r0, r1 = max(row, by * size), min(row + height, (by + 1) * size)
                c0, c1 = max(col, bx * size), min(col + width, (bx + 1) * size)
                inside = np.s_[r0 - by * size : r1 - by * size, c0 - bx * size : c1 - bx * size]
                window = np.s_[r0 - row : r1 - row, c0 - col : c1 - col]
                parts.append(_BlockPart(key, local, inside, window))
        return parts

    def _warped_by_blocks(
        self, parts: list[_BlockPart], width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Source-dtype bands and validity of a window put together from whole warped blocks
        (see :meth:`_affine_blocks`). The last :data:`_BLOCKS_KEPT` blocks are kept: a map's
        strips overlap by half a window, so each block is warped once rather than twice. Blocks
        are let go only once the window is whole, so every block kept when it was planned is
        there when its turn comes."""
        image = np.zeros((len(self._bands), height, width), dtype=self.info.dtype)
        valid = np.zeros((height, width), dtype=bool)
        for part in parts:
            if part.local is None:
                self._blocks.move_to_end(part.key)
            else:
                size = _AFFINE_BLOCK
                self._blocks[part.key] = self._warped(self._scene_rio_crs, part.local, size, size)
            block_image, block_valid = self._blocks[part.key]
            image[(slice(None), *part.window)] = block_image[(slice(None), *part.inside)]
            valid[part.window] = block_valid[part.inside]
        while len(self._blocks) > _BLOCKS_KEPT:
            self._blocks.popitem(last=False)
        return image, valid

    def _in_scene_crs(
        self, dst_crs: CRS, dst_transform: Affine, width: int, height: int
    ) -> Affine | None:
        """The window's pixel grid as an affine grid in the scene's CRS, when one fits it to
        within :data:`_AFFINE_TOLERANCE_PX` scene pixels at its far corner and centre (a cell of
        256 m between Web Mercator and UTM: ~0.01 px); else ``None``.

        GDAL then warps without a projection: ~20 % faster than letting its transformer
        approximate the projection along each row (to 0.125 px), and closer to the exact
        projection."""
        to_scene = _transformer(dst_crs, self.info.crs, threading.get_ident())
        cols = np.array([0.0, width, 0.0, width, width / 2])
        rows = np.array([0.0, 0.0, height, height, height / 2])
        sx, sy = to_scene.transform(*_affine_xy(dst_transform, cols, rows))
        sx, sy = np.asarray(sx), np.asarray(sy)
        if not (np.isfinite(sx).all() and np.isfinite(sy).all()):
            return None
        local = Affine(
            (sx[1] - sx[0]) / width, (sx[2] - sx[0]) / height, sx[0],
            (sy[1] - sy[0]) / width, (sy[2] - sy[0]) / height, sy[0],
        )  # fmt: skip
        to_pixels = ~self.info.transform
        fitted = _affine_xy(to_pixels, *_affine_xy(local, cols[3:], rows[3:]))
        exact = _affine_xy(to_pixels, sx[3:], sy[3:])
        if np.hypot(fitted[0] - exact[0], fitted[1] - exact[1]).max() > _AFFINE_TOLERANCE_PX:
            return None
        return local

    def _warped(
        self, dst_crs: RioCRS, dst_transform: Affine, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Source-dtype bands and validity of a window, warped bilinearly by GDAL."""
        with WarpedVRT(
            self._src,
            src_crs=self._src_crs,
            crs=dst_crs,
            transform=dst_transform,
            width=width,
            height=height,
            resampling=Resampling.bilinear,
            add_alpha=self._alpha is None,
            **self._src_nodata,
        ) as vrt:
            # The source's own alpha band keeps its index; an added one comes after the bands.
            data = vrt.read([*self._bands, self._alpha or vrt.count])
        return data[:-1], data[-1] > 0

    def _direct(
        self, offset: tuple[int, int], width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Source-dtype bands and validity of a window on the scene's own pixel grid whose
        upper-left pixel is ``offset = (col, row)``; pixels off the scene are invalid."""
        col, row = offset
        image = np.zeros((len(self._bands), height, width), dtype=self.info.dtype)
        valid = np.zeros((height, width), dtype=bool)
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + width, self.info.width), min(row + height, self.info.height)
        if c1 > c0 and r1 > r0:
            window = Window(c0, r0, c1 - c0, r1 - r0)
            inside = np.s_[r0 - row : r1 - row, c0 - col : c1 - col]
            image[(slice(None), *inside)] = self._src.read(self._bands, window=window)
            valid[inside] = _validity(self._src, self._alpha, window=window)
        return image, valid


def _grid_offset(info: SceneInfo, dst_transform: Affine) -> tuple[int, int] | None:
    """``(col, row)`` of ``dst_transform``'s upper-left pixel in the scene's own pixel grid, if
    a window of the scene's CRS lies on that grid (same north-up pixel size, an offset of whole
    pixels to within 1e-6 px); else ``None``."""
    src = info.transform
    if src.b != 0 or src.d != 0 or dst_transform.b != 0 or dst_transform.d != 0:
        return None
    if not (math.isclose(src.a, dst_transform.a, rel_tol=1e-9) and
            math.isclose(src.e, dst_transform.e, rel_tol=1e-9)):  # fmt: skip
        return None
    col = (dst_transform.c - src.c) / src.a
    row = (dst_transform.f - src.f) / src.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return round(col), round(row)


@contextmanager
def open_scene(
    info: SceneInfo, bands: Sequence[int] = (1, 2, 3), radiometry: Radiometry | None = None
) -> Iterator[SceneReader]:
    """Open a scene for warped window reads of the given bands, scaled to uint8 as
    ``radiometry`` says (default: :class:`Radiometry` ``()``, uint8 as is, others stretched)."""
    bands = tuple(int(b) for b in bands)
    check_bands(info, bands)
    scaling = (radiometry or Radiometry()).scaling(info, bands)
    try:
        src = rasterio.open(info.path)
    except RasterioError as e:
        raise _error(info.path, "cannot be opened", e) from e
    with src:
        yield SceneReader(info, src, bands, scaling)


def read_reprojected(
    info: SceneInfo,
    dst_crs: CRS,
    dst_transform: Affine,
    width: int,
    height: int,
    bands: Sequence[int] = (1, 2, 3),
    radiometry: Radiometry | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a scene onto one target grid window.

    Args:
        info: from :func:`inspect_scene`.
        dst_crs: target CRS; dst_transform: affine of the target window's upper-left pixel grid;
        width, height: window size in pixels.
        bands: 1-based source bands, in output order.
        radiometry: how values become uint8 (default: see :class:`Radiometry`).

    Returns:
        ``(image, valid)``: uint8 ``(len(bands), height, width)`` with 0 where invalid, and bool
        ``(height, width)``, True where the scene has data.
    """
    with open_scene(info, bands, radiometry) as scene:
        return scene.read(dst_crs, dst_transform, width, height)
