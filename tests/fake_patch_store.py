"""Writes a tiny patch store (docs/DESIGN.md "Patch store") for training/bundle tests.

Each class has its own colour, so a model can learn; a mixed patch is split between two classes
in proportion to its abundances. The grid is a real one: UTM zone 50N (Wuhan), 1 m pixels.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from sunet.lcz import CLASSES, abundance_columns
from sunet.patch_store import StoreMeta, write_store

ORIGIN_X, ORIGIN_Y = 230_000.0, 3_380_000.0  # EPSG:32650, central Wuhan


def class_colours() -> np.ndarray:
    """(17, 3) uint8: the LCZ palette, a distinct colour per class."""
    return np.array([c.rgb for c in CLASSES], dtype=np.uint8)


def write_patch_store(
    path: Path,
    n: int = 48,
    patch: int = 64,
    gsd: float = 1.0,
    seed: int = 0,
    splits: tuple[float, float] = (0.6, 0.2),
) -> Path:
    """Write ``n`` patches of ``patch`` px to ``path``; a third pure, the rest mixed.

    ``splits``: shares of train and val (the rest is test), by spatial block (grid row).
    """
    rng = np.random.default_rng(seed)
    colours = class_colours().astype(np.float32)
    cols = 8
    images = np.zeros((n, 3, patch, patch), dtype=np.uint8)
    rows = []
    for i in range(n):
        r, c = divmod(i, cols)
        pure = i % 3 == 0
        a = np.zeros(17, dtype=np.float32)
        first = int(rng.integers(0, 17))
        if pure:
            a[first] = 1.0
        else:
            second = int((first + rng.integers(1, 17)) % 17)
            share = float(rng.uniform(0.3, 0.7))
            a[first], a[second] = share, 1 - share
        cut = int(round(a[first] * patch)) if not pure else patch
        img = np.empty((3, patch, patch), dtype=np.float32)
        img[:, :, :cut] = colours[first][:, None, None]
        if cut < patch:
            img[:, :, cut:] = colours[int(np.argsort(a)[-2])][:, None, None]
        img += rng.normal(0, 12, img.shape)
        images[i] = np.clip(img, 1, 255).astype(np.uint8)
        dominant = int(np.argmax(a)) + 1
        frac = r / max((n - 1) // cols, 1)
        split = "train" if frac < splits[0] else ("val" if frac < splits[0] + splits[1] else "test")
        x0 = ORIGIN_X + c * patch * gsd
        y1 = ORIGIN_Y - r * patch * gsd
        rows.append(
            {
                "patch_id": f"r{r}_c{c}",
                "row": r,
                "col": c,
                "store_index": i,
                "scene": "scene_000_000",
                "split": split,
                "kind": "pure" if pure else "mixed",
                "dominant": dominant,
                "purity": float(a.max()),
                "labelled": 1.0,
                "nodata": 0.0,
                "block": r,
                **dict(zip(abundance_columns(), a.tolist(), strict=True)),
                "geometry": box(x0, y1 - patch * gsd, x0 + patch * gsd, y1),
            }
        )
    df = pd.DataFrame(rows)
    for col in abundance_columns():
        df[col] = df[col].astype("float32")
    index = gpd.GeoDataFrame(df, geometry="geometry", crs="EPSG:32650")
    meta = StoreMeta.from_attrs({"crs": "EPSG:32650", "gsd": gsd}, images.shape, path)
    write_store(path, index, lambda a, b: images[a:b], meta=meta, shard=64, report={}, config={})
    return path
