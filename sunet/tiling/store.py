"""Writing the patch store (docs/DESIGN.md "Patch store").

Order of writing makes an interrupted run detectable: an existing ``index.parquet`` is removed
first, ``patches.zarr`` is built under a temporary name and renamed, then ``report.json`` and
``config.json``, and ``index.parquet`` last, atomically. A folder without ``index.parquet`` is
therefore never a complete store.

The zarr array is written through xarray as zarr v3 with one patch per inner chunk and
``shard`` patches per shard file (sharding keeps file counts low: a 22,500-patch store is ~350
files rather than 22,500).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import xarray as xr

from sunet.atomic import atomic_dir, atomic_path, write_text_atomic

__all__ = ["INDEX_NAME", "ZARR_NAME", "write_store"]

INDEX_NAME = "index.parquet"
ZARR_NAME = "patches.zarr"


def _image_array(
    fetch: Callable[[int, int], np.ndarray], n: int, bands: int, patch: int, shard: int
) -> da.Array:
    """A lazy ``(n, bands, patch, patch)`` uint8 array whose chunks are shards, each filled by
    ``fetch(start, stop)``."""
    bounds = [(s, min(s + shard, n)) for s in range(0, n, shard)]
    parts = [
        da.from_delayed(
            dask.delayed(fetch)(start, stop),
            shape=(stop - start, bands, patch, patch),
            dtype=np.uint8,
        )
        for start, stop in bounds
    ]
    return da.concatenate(parts, axis=0)


def write_store(
    out: Path,
    index: gpd.GeoDataFrame,
    fetch: Callable[[int, int], np.ndarray],
    *,
    bands: int,
    patch: int,
    shard: int,
    attrs: dict[str, object],
    report: dict[str, object],
    config: dict[str, object],
) -> None:
    """Write a complete store into ``out``.

    Args:
        index: one row per patch, in store order (``store_index`` = 0..N-1).
        fetch: ``fetch(start, stop)`` -> uint8 ``(stop - start, bands, patch, patch)``: the images
            of patches ``start .. stop - 1``; called once per shard (possibly from threads).
        attrs: zarr attributes (``crs``, ``gsd``, ``patch_size`` ...).
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / INDEX_NAME).unlink(missing_ok=True)
    n = len(index)
    shard = max(1, min(shard, n))
    image = (
        _image_array(fetch, n, bands, patch, shard)
        if n
        else np.zeros((0, bands, patch, patch), np.uint8)
    )
    ds = xr.Dataset(
        {"image": (("patch", "band", "y", "x"), image)},
        coords={"patch": np.arange(n, dtype=np.int64)},
        attrs=attrs,
    )
    encoding = {
        "image": {"chunks": (1, bands, patch, patch), "shards": (shard, bands, patch, patch)}
    }
    with atomic_dir(out / ZARR_NAME) as tmp:
        ds.to_zarr(tmp, mode="w", zarr_format=3, consolidated=False, encoding=encoding)
    write_text_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / "config.json", json.dumps(config, indent=2) + "\n")
    with atomic_path(out / INDEX_NAME) as tmp_index:
        index.to_parquet(tmp_index, index=False)
