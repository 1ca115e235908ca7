"""Label polygons on the patch grid: burn order, per-cell rasterisation and class abundances.

Overlapping label polygons: the smaller polygon wins. Polygons are burned largest first (ties
by their order in the file), so a small, specific polygon drawn on top of a large background one
(a park inside a district) keeps its class. Pixels are labelled by their centre
(``rasterio.features.rasterize`` without ``all_touched``), which makes pixel counts an unbiased
estimate of area shares.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import shapely
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import rasterize
from shapely import STRtree

from sunet.hashing import hasher
from sunet.lcz import NUM_CLASSES

__all__ = ["LabelSet", "abundances", "class_counts"]

# rasterize() is always given a transform here, yet when scenes are tiled on several threads
# rasterio sometimes reports its scratch dataset as not georeferenced (GDAL's per-thread error
# state). The output is unaffected (threaded stores are byte-identical to serial ones, tested),
# so the message would only alarm users.
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module="rasterio.features")


class LabelSet:
    """Label polygons in the tiling CRS, in burn order, with a spatial index.

    Args:
        geoms: polygons (tiling CRS).
        codes: LCZ raster codes 1-17, one per polygon.
    """

    def __init__(self, geoms: Sequence[shapely.Geometry], codes: Sequence[int]):
        geoms_arr = np.asarray(geoms, dtype=object)
        codes_arr = np.asarray(codes, dtype=np.uint8)
        # Largest first; a stable sort keeps file order among equal areas.
        order = np.argsort(-shapely.area(geoms_arr), kind="stable")
        self.geoms = geoms_arr[order]
        self.codes = codes_arr[order]
        self._tree = STRtree(self.geoms)

    def __len__(self) -> int:
        return len(self.geoms)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Pickle the polygons only (already in burn order); the index is rebuilt on arrival.
        return (LabelSet._restore, (list(self.geoms), list(self.codes)))

    @staticmethod
    def _restore(geoms: list[shapely.Geometry], codes: list[int]) -> LabelSet:
        return LabelSet(geoms, codes)  # sorting again is a no-op (stable, already sorted)

    def subset(self, area: shapely.Geometry) -> LabelSet:
        """The polygons that intersect ``area``, burn order kept."""
        idx = np.sort(self._tree.query(area, predicate="intersects"))
        return LabelSet(self.geoms[idx], self.codes[idx])

    def touched(self, boxes: np.ndarray) -> np.ndarray:
        """bool ``(N,)``: which of the polygons ``boxes`` (e.g. cells) some label polygon
        intersects (touching edges count; such cells simply rasterise to no label)."""
        hits = self._tree.query(boxes, predicate="intersects")
        touched = np.zeros(len(boxes), dtype=bool)
        touched[hits[0]] = True
        return touched

    def digest(self) -> str:
        """Content hash of polygons and codes (part of the per-scene cache key)."""
        h = hasher("blake2b", digest_size=16)
        for geom, code in zip(self.geoms, self.codes, strict=True):
            h.update(shapely.to_wkb(geom, hex=False, output_dimension=2))
            h.update(bytes([int(code)]))
        return h.hexdigest()

    def rasterize(self, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
        """Label codes on a pixel grid: uint8 ``(H, W)``, 0 where unlabelled."""
        height, width = shape
        left, top = transform.c, transform.f
        right, bottom = left + width * transform.a, top + height * transform.e
        idx = np.sort(self._tree.query(shapely.box(left, bottom, right, top)))
        if idx.size == 0:
            return np.zeros(shape, dtype=np.uint8)
        # Clip to the window (plus a pixel) first: rasterio converts every vertex through Python,
        # so detailed polygons cost far more whole than clipped; pixel centres inside the window
        # are labelled the same either way.
        pad = abs(transform.a)
        geoms = shapely.clip_by_rect(
            self.geoms[idx], left - pad, bottom - pad, right + pad, top + pad
        )
        keep = ~shapely.is_empty(geoms)
        if not keep.any():
            return np.zeros(shape, dtype=np.uint8)
        pairs = list(zip(geoms[keep], self.codes[idx][keep].tolist(), strict=True))
        return rasterize(pairs, out_shape=shape, transform=transform, fill=0, dtype=np.uint8)


def class_counts(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pixels of each class among labelled pixels where the image is valid.

    Args:
        codes: uint8 ``(H, W)`` label codes (0 = unlabelled).
        valid: bool ``(H, W)`` image validity.

    Returns:
        int64 ``(17,)`` counts in raster-code order.
    """
    return np.bincount(codes[valid], minlength=NUM_CLASSES + 1)[1:].astype(np.int64)


def abundances(counts: np.ndarray) -> np.ndarray:
    """Counts ``(..., 17)`` -> float32 shares summing to 1 (zeros where nothing is labelled)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(total > 0, counts / np.where(total > 0, total, 1), 0.0)
    return shares.astype(np.float32)
