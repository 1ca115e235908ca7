"""Cutting the mosaic into scene GeoTIFFs: per-scene looks, ragged outer borders, the sensor.

Each scene gets its own acquisition (:class:`~sunet.synth.canvas.SceneLook`, drawn from the seed,
the scene's grid position and the city's :class:`~sunet.synth.looks.Look`) and is written as a
3-band RGB GeoTIFF in EPSG:3857, tiled 256 x 256. Sides of a scene that face no neighbour (the
outer border of the mosaic) are clipped raggedly to nodata, as real downloads are.

The look's sensor decides the file: by default uint8, DEFLATE, nodata 0 (rendered pixels are
never 0 in any band, so nodata is unambiguous); a coarser ground pixel is the rendering blurred by
the sensor's point spread and resampled; 16-bit scenes hold linear counts (nodata 0); JPEG scenes
carry an internal mask instead of a nodata value, since lossy compression changes the values at
the border.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp
from scipy import ndimage

from sunet.synth.canvas import SceneLook
from sunet.synth.config import IMAGE_CRS, Mosaic, SceneTile
from sunet.synth.looks import Look
from sunet.synth.noise import value_noise

__all__ = [
    "SensorImage",
    "outer_sides",
    "ragged_nodata",
    "scene_look",
    "scene_nodata",
    "sense",
    "write_scene",
]

# Deepest ragged clip, as a share of the scene side.
MAX_CLIP = 0.07


def scene_look(seed: int, tile: SceneTile, look: Look) -> SceneLook:
    """The acquisition of one scene in ``look`` (deterministic for ``seed`` and the tile's grid
    position)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5CE7, tile.row, tile.col]))
    return SceneLook.draw(rng, look)


def outer_sides(mosaic: Mosaic, tile: SceneTile) -> dict[str, bool]:
    """Which sides of ``tile`` face no neighbouring scene (``top``/``bottom``/``left``/``right``)."""
    present = {(t.row, t.col) for t in mosaic.tiles}
    r, c = tile.row, tile.col
    return {
        "top": (r - 1, c) not in present,
        "bottom": (r + 1, c) not in present,
        "left": (r, c - 1) not in present,
        "right": (r, c + 1) not in present,
    }


def ragged_nodata(size: int, sides: dict[str, bool], seed: int, tile: SceneTile) -> np.ndarray:
    """Boolean ``(size, size)`` mask of nodata along the given outer sides.

    The clip depth wanders smoothly along each side between 0.5 % and ``MAX_CLIP`` of the side,
    with an occasional diagonal cut at a corner, so nodata is ragged but stays near the edge.
    """
    mask = np.zeros((size, size), dtype=bool)
    pos = np.arange(size, dtype=np.float64)
    idx = np.arange(size)
    for k, (name, outer) in enumerate(sides.items()):
        if not outer:
            continue
        salt = seed * 131 + tile.row * 17 + tile.col * 7 + k
        wobble = 0.5 + 0.5 * value_noise(pos / (size / 5.0), np.full(size, k * 3.0), salt)
        fine = 0.5 + 0.5 * value_noise(pos / (size / 40.0), np.full(size, k * 5.0), salt + 1)
        depth = (size * (0.005 + (MAX_CLIP - 0.015) * wobble + 0.01 * fine)).astype(np.int64)
        if name == "top":
            mask |= idx[:, None] < depth[None, :]
        elif name == "bottom":
            mask |= idx[:, None] >= size - depth[None, :]
        elif name == "left":
            mask |= idx[None, :] < depth[:, None]
        else:
            mask |= idx[None, :] >= size - depth[:, None]
    # A corner cut where two outer sides meet, as when a download's footprint is tilted.
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC07, tile.row, tile.col]))
    cut = int(size * MAX_CLIP * rng.uniform(0.6, 1.0))
    rr, cc = np.ogrid[:size, :size]
    for vert, horiz in (("top", "left"), ("top", "right"), ("bottom", "left"), ("bottom", "right")):
        if sides[vert] and sides[horiz] and rng.random() < 0.6:
            dr = rr if vert == "top" else size - 1 - rr
            dc = cc if horiz == "left" else size - 1 - cc
            mask |= (dr + dc) < cut
    return mask


def scene_nodata(mosaic: Mosaic, tile: SceneTile, seed: int, ragged: bool) -> np.ndarray:
    """Boolean ``(size, size)`` nodata mask of a rendered scene: its ragged outer borders when
    ``ragged`` (the city's ``nodata_edges``), else nothing."""
    if not ragged:
        return np.zeros((tile.size, tile.size), dtype=bool)
    return ragged_nodata(tile.size, outer_sides(mosaic, tile), seed, tile)


class SensorImage:
    """A scene as the look's sensor records it.

    Attributes:
        data: ``(3, n, n)`` uint8 or uint16 values (0 where invalid).
        valid: bool ``(n, n)``.
        transform: affine of the written grid (EPSG:3857).
        gsd_m: ground pixel, metres.
    """

    def __init__(self, data: np.ndarray, valid: np.ndarray, transform: Affine, gsd_m: float):
        self.data, self.valid, self.transform, self.gsd_m = data, valid, transform, gsd_m


# 16-bit scenes: linear counts ``_DARK + _SPAN * (display / 255) ** 2.2`` (an 11-bit sensor).
_DARK, _SPAN = 90.0, 1850.0


def sense(
    image: np.ndarray, valid: np.ndarray, mosaic: Mosaic, tile: SceneTile, look: Look, seed: int
) -> SensorImage:
    """Turn a rendering at the city's grid (uint8 ``(3, s, s)``, 0 = nodata) into what the look's
    sensor writes: resampled to its ground pixel through its point spread, in its bit depth.

    Raises:
        ValueError: if the look's ground pixel is finer than the city's.
    """
    gsd = look.gsd_m or mosaic.gsd_m
    factor = gsd / mosaic.gsd_m
    if factor < 1 - 1e-9:
        raise ValueError(
            f"look {look.name!r}: ground pixel {gsd:g} m is finer than the city's "
            f"{mosaic.gsd_m:g} m; render the city at {gsd:g} m or finer"
        )
    transform = mosaic.window_transform(tile.row0, tile.col0)
    data = image.astype(np.float32)
    if factor > 1 + 1e-9:
        size = image.shape[-1]
        n = max(2, round(size / factor))
        weight = valid.astype(np.float32)
        sigma = look.psf_sigma_px * size / n  # the point spread, in rendered pixels
        # Normalised convolution: nodata never bleeds into the data at the border.
        norm = ndimage.gaussian_filter(weight, sigma, truncate=3.0)
        for b in range(data.shape[0]):
            blurred = ndimage.gaussian_filter(data[b] * weight, sigma, truncate=3.0)
            data[b] = np.where(norm > 1e-3, blurred / np.maximum(norm, 1e-3), 0.0)
        zoom = n / size
        data = np.stack([ndimage.zoom(b, zoom, order=1, grid_mode=True, mode="nearest")
                         for b in data])  # fmt: skip
        valid = ndimage.zoom(weight, zoom, order=1, grid_mode=True, mode="nearest") > 0.999
        transform = transform @ Affine.scale(size / n)
    if look.bit_depth == 16:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x16B, tile.row, tile.col]))
        counts = _DARK + _SPAN * np.power(np.clip(data, 0, 255) / 255.0, 2.2)
        counts += rng.normal(0.0, 6.0, counts.shape).astype(np.float32)
        out = np.clip(np.rint(counts), 1, 4095).astype(np.uint16)
    else:
        out = np.clip(np.rint(data), 1, 255).astype(np.uint8)
    out[:, ~valid] = 0
    return SensorImage(out, valid, transform, gsd)


def write_scene(path: Path, scene: SensorImage, acquisition: SceneLook, look: Look) -> None:
    """Write a sensed scene as a tiled RGB GeoTIFF (see the module docstring for the formats)."""
    n = scene.data.shape[-1]
    profile: dict[str, object] = {
        "driver": "GTiff",
        "width": n,
        "height": n,
        "count": 3,
        "dtype": str(scene.data.dtype),
        "crs": IMAGE_CRS,
        "transform": scene.transform,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "interleave": "pixel",
    }
    jpeg = look.jpeg_quality is not None
    if jpeg:
        profile.update(compress="jpeg", photometric="YCBCR", jpeg_quality=look.jpeg_quality)
    else:
        profile.update(nodata=0, compress="deflate", predictor=2, photometric="RGB")
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as dst:
        dst.write(scene.data)
        if jpeg:
            dst.write_mask(scene.valid.astype(np.uint8) * 255)
        dst.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        for b, name in enumerate(("red", "green", "blue"), start=1):
            dst.set_band_description(b, name)
        dst.update_tags(
            sun_azimuth_deg=f"{acquisition.sun_azimuth:.2f}",
            sun_elevation_deg=f"{acquisition.sun_elevation:.2f}",
            view_azimuth_deg=f"{acquisition.view_azimuth:.2f}",
            view_off_nadir_deg=f"{acquisition.view_off_nadir:.2f}",
            look=look.name,
            source="synthetic city (lcz-map synth)",
        )
