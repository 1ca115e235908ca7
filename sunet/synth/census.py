"""Pure/mixed census of the labels on the 256 m patch grid, reported in ``city.json``.

The rule is the tiling stage's: cells of a grid anchored at multiples of ``patch_m`` in the plan
CRS (EPSG:32650); a cell is pure when one class holds at least ``purity`` of its *labelled*
pixels. Labels are rasterised at ``res_m`` (2 m by default, 128 x 128 samples per cell), which is
close to, but not exactly, what a 1 m tiling sees; the figures are a guide to the class balance of
a generated city, not a substitute for the patch store's own report.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio import features

from sunet.lcz import CLASSES

__all__ = ["patch_census"]


def patch_census(
    geoms: np.ndarray,
    codes: np.ndarray,
    footprint: shapely.Geometry,
    patch_m: float = 256.0,
    res_m: float = 2.0,
    purity: float = 0.95,
    min_labelled: float = 0.5,
) -> dict[str, Any]:
    """Count pure and mixed patches of the label polygons.

    Args:
        geoms: ``(n,)`` label polygons in a metric CRS (metres).
        codes: ``(n,)`` their LCZ raster codes 1-17.
        footprint: the imaged area in the same CRS; only cells wholly inside count.
        patch_m: patch side in metres (grid anchored at multiples of it).
        res_m: rasterisation step in metres (must divide ``patch_m``).
        purity: share of the labelled pixels the dominant class needs for a pure patch.
        min_labelled: cells with a smaller labelled share are not counted.

    Returns:
        A JSON-ready dict: totals, the mixed:pure ratio, pure cells per class and mixed cells by
        dominant class (class letters as keys).
    """
    k = int(round(patch_m / res_m))
    minx, miny, maxx, maxy = footprint.bounds
    c0, c1 = math.floor(minx / patch_m), math.ceil(maxx / patch_m)
    r0, r1 = math.floor(miny / patch_m), math.ceil(maxy / patch_m)
    ncols, nrows = c1 - c0, r1 - r0
    transform = Affine(res_m, 0, c0 * patch_m, 0, -res_m, r1 * patch_m)
    raster = np.zeros((nrows * k, ncols * k), dtype=np.uint8)
    shapes = [(g, int(c)) for g, c in zip(geoms, codes, strict=True) if not g.is_empty]
    if shapes:
        features.rasterize(shapes, out=raster, transform=transform)
    blocks = raster.reshape(nrows, k, ncols, k)
    counts = np.stack([(blocks == c.code).sum(axis=(1, 3)) for c in CLASSES], axis=-1)
    labelled = counts.sum(axis=-1)
    # Cell (i, j) of this array spans x in [c0 + j, c0 + j + 1) * patch, y from the top down.
    jj, ii = np.meshgrid(np.arange(ncols), np.arange(nrows))
    cells = shapely.box(
        (c0 + jj) * patch_m, (r1 - ii - 1) * patch_m, (c0 + jj + 1) * patch_m, (r1 - ii) * patch_m
    )
    shapely.prepare(footprint)
    inside = shapely.contains(footprint, cells)
    use = inside & (labelled >= min_labelled * k * k)
    dominant = counts.argmax(axis=-1)
    share = counts.max(axis=-1) / np.maximum(labelled, 1)
    pure = use & (share >= purity)
    mixed = use & ~pure
    letters = [c.letter for c in CLASSES]
    n_pure, n_mixed = int(pure.sum()), int(mixed.sum())
    return {
        "patch_m": patch_m,
        "res_m": res_m,
        "purity": purity,
        "patches": n_pure + n_mixed,
        "pure": n_pure,
        "mixed": n_mixed,
        "mixed_per_pure": round(n_mixed / n_pure, 3) if n_pure else None,
        "pure_by_class": {
            letters[i]: int((pure & (dominant == i)).sum()) for i in range(len(letters))
        },
        "mixed_by_dominant": {
            letters[i]: int((mixed & (dominant == i)).sum()) for i in range(len(letters))
        },
    }
