"""A tiny patch store (docs/DESIGN.md, "Patch store") generated for the evaluation tests.

Each class is drawn as its LCZ palette colour plus a class-specific stripe texture, so that a
classifier can separate classes; a mixed patch is split into vertical bands, one per class, whose
widths are its abundances (so abundances and pixels agree exactly).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from sunet.lcz import CLASSES, NUM_CLASSES, abundance_columns
from sunet.patch_store import StoreMeta, write_store

CRS = "EPSG:32650"  # UTM 50N, the tiling CRS for Wuhan
GSD = 1.0


def render_class(code: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``(3, size, size)``: the class colour with a stripe period that depends on the class."""
    rgb = np.array(CLASSES[code - 1].rgb, dtype=np.float64)[:, None, None]
    period = 2 + (code % 6)
    y = np.arange(size)[:, None]
    x = np.arange(size)[None, :]
    stripes = ((x + (code % 3) * y) // period) % 2
    img = rgb * (0.75 + 0.25 * stripes) + rng.normal(0.0, 6.0, size=(3, size, size))
    return np.clip(img, 1, 255).astype(np.uint8)


def render_patch(abundance: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``(3, size, size)`` whose column bands hold each class in proportion to ``abundance``."""
    img = np.zeros((3, size, size), dtype=np.uint8)
    start = 0
    order = np.flatnonzero(abundance > 0)
    widths = np.round(np.cumsum(abundance[order]) * size).astype(int)
    for idx, stop in zip(order, widths, strict=True):
        if stop > start:
            img[:, :, start:stop] = render_class(int(idx) + 1, size, rng)[:, :, start:stop]
        start = stop
    return img


def make_patches(
    codes: list[int],
    per_class_pure: int,
    n_mixed: int,
    size: int,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, size, size)`` and abundances ``(N, 17)``: pure patches of every code, then
    mixed patches of two random codes with abundances quantised to whole pixel columns."""
    rng = np.random.default_rng(seed)
    abund = []
    for code in codes:
        for _ in range(per_class_pure):
            a = np.zeros(NUM_CLASSES)
            a[code - 1] = 1.0
            abund.append(a)
    for _ in range(n_mixed):
        a = np.zeros(NUM_CLASSES)
        c1, c2 = rng.choice(codes, size=2, replace=False)
        cols = int(rng.integers(size // 5, size - size // 5))
        a[c1 - 1] = cols / size
        a[c2 - 1] = 1.0 - cols / size
        abund.append(a)
    abundances = np.stack(abund)
    images = np.stack([render_patch(a, size, rng) for a in abundances])
    return images, abundances


def write_patch_store(
    path: Path,
    images: np.ndarray,
    abundances: np.ndarray,
    splits: list[str] | np.ndarray,
    purity_threshold: float = 0.9,
) -> Path:
    """Write ``path/{index.parquet, patches.zarr, report.json, config.json}`` per docs/DESIGN.md."""
    path.mkdir(parents=True, exist_ok=True)
    n, _, size, _ = images.shape
    ncols = int(np.ceil(np.sqrt(n)))
    rows, cols = np.divmod(np.arange(n), ncols)
    x0, y0 = 500_000.0, 3_380_000.0
    side = size * GSD
    dominant = abundances.argmax(axis=1) + 1
    purity = abundances.max(axis=1)
    frame = gpd.GeoDataFrame(
        {
            "patch_id": [f"r{r}_c{c}" for r, c in zip(rows, cols, strict=True)],
            "row": rows.astype(np.int64),
            "col": cols.astype(np.int64),
            "store_index": np.arange(n, dtype=np.int64),
            "scene": ["scene_000_000"] * n,
            "split": list(splits),
            "kind": np.where(purity >= purity_threshold, "pure", "mixed"),
            "dominant": dominant.astype(np.int64),
            "purity": purity,
            "labelled": np.ones(n),
            "nodata": np.zeros(n),
            "block": (rows // 2).astype(np.int64),
            **{
                col: abundances[:, i].astype(np.float32)
                for i, col in enumerate(abundance_columns())
            },
        },
        geometry=[
            box(x0 + c * side, y0 - (r + 1) * side, x0 + (c + 1) * side, y0 - r * side)
            for r, c in zip(rows, cols, strict=True)
        ],
        crs=CRS,
    )
    images = images.astype(np.uint8)
    meta = StoreMeta.from_attrs({"crs": CRS, "gsd": GSD}, images.shape, path)
    write_store(
        path,
        frame,
        lambda a, b: images[a:b],
        meta=meta,
        shard=64,
        report={"patches": n},
        config={"purity_threshold": purity_threshold},
    )
    return path
