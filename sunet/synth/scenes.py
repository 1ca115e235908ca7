"""Cutting the mosaic into scene GeoTIFFs: per-scene looks, ragged outer borders, writing.

Each scene gets its own acquisition (:class:`~sunet.synth.layers.SceneLook`, drawn from the seed
and the scene's grid position) and is written as a 3-band uint8 RGB GeoTIFF in EPSG:3857, tiled
256 x 256 and DEFLATE-compressed, nodata 0. Sides of a scene that face no neighbour (the outer
border of the mosaic) are clipped raggedly to nodata, as real downloads are; rendered pixels are
never 0 in any band, so nodata is unambiguous.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import ColorInterp

from sunet.synth.canvas import SceneLook
from sunet.synth.config import IMAGE_CRS, Mosaic, SceneTile
from sunet.synth.noise import value_noise

__all__ = ["outer_sides", "ragged_nodata", "scene_look", "write_scene"]

# Deepest ragged clip, as a share of the scene side.
MAX_CLIP = 0.07


def scene_look(seed: int, tile: SceneTile) -> SceneLook:
    """The acquisition of one scene (deterministic for ``seed`` and the tile's grid position)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5CE7, tile.row, tile.col]))
    return SceneLook.draw(rng)


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


def write_scene(
    path: Path, image: np.ndarray, mosaic: Mosaic, tile: SceneTile, look: SceneLook
) -> None:
    """Write ``image`` (uint8 ``(3, size, size)``, 0 = nodata) as the scene's GeoTIFF."""
    profile = {
        "driver": "GTiff",
        "width": tile.size,
        "height": tile.size,
        "count": 3,
        "dtype": "uint8",
        "crs": IMAGE_CRS,
        "transform": mosaic.window_transform(tile.row0, tile.col0),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 2,
        "interleave": "pixel",
        "photometric": "RGB",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(image)
        dst.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        for b, name in enumerate(("red", "green", "blue"), start=1):
            dst.set_band_description(b, name)
        dst.update_tags(
            sun_azimuth_deg=f"{look.sun_azimuth:.2f}",
            sun_elevation_deg=f"{look.sun_elevation:.2f}",
            view_azimuth_deg=f"{look.view_azimuth:.2f}",
            view_off_nadir_deg=f"{look.view_off_nadir:.2f}",
            source="synthetic city (lcz-map synth)",
        )
