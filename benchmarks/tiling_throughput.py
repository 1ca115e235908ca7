"""Tiling throughput against a plain rasterio read + write of the same pixels, in the same run.

The machine is shared and its speed varies several-fold between minutes, so absolute figures say
little; the ratio does. Both sides move the same number of pixels (the stored patches):

* tiling: ``sunet.tiling.tile`` from scratch (cache cleared): inspection, reprojection of every
  candidate cell (EPSG:3857 -> UTM, bilinear, nodata-aware), label rasterisation, de-duplication,
  splits, zarr v3 (zstd, sharded) and GeoParquet writing;
* baseline: for each stored patch, a plain ``src.read(window=...)`` of a patch-sized window of the
  scene it came from (no reprojection) and a ``dst.write(..., window=...)`` into a GeoTIFF whose
  profile is the scene's own (tiled, DEFLATE), as ``rasterio`` examples copy pixels.

* the GIS way (``gdalwarp_ratio``): what a user without this tiler would do: ``gdalwarp`` each
  scene to the tiling CRS and GSD (bilinear, ``-multi``, ``NUM_THREADS=ALL_CPUS``, pixels aligned to
  the patch grid with ``-tap``), then cut the same patches out of the warped scenes with windowed
  reads and write them (as the plain baseline writes). It does not label, split or de-duplicate.

``ratio = baseline seconds / tiling seconds`` (throughput of tiling as a share of the baseline's);
``gdalwarp_ratio = warp-then-cut seconds / tiling seconds`` (above 1: the tiler is faster); medians
over ``repeats`` alternating runs, for each of :data:`WORKLOADS` (4 scenes of 1024 px, and 2 of the
paper's ~3500 px). Run: ``python -m benchmarks.tiling_throughput``.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.windows import Window, from_bounds
from shapely.geometry import box

from sunet.threads import threads_for
from sunet.tiling import TileConfig, tile

__all__ = ["WORKLOADS", "make_scenes", "measure", "run"]

_CLASSES = ["1", "2", "3", "4", "5", "6", "8", "9", "A", "B", "D", "E", "G"]


def make_scenes(root: Path, n: int = 4, size: int = 1024, seed: int = 0) -> tuple[Path, Path]:
    """Write ``n`` overlapping EPSG:3857 RGB scenes (1 m on the ground, nodata 0, tiled DEFLATE,
    like the synthetic city's) in a row near Wuhan, and label squares of 100 m over them."""
    rng = np.random.default_rng(seed)
    lon, lat = 114.30, 30.59
    res = 1.0 / math.cos(math.radians(lat))
    x0, y0 = Transformer.from_crs(4326, 3857, always_xy=True).transform(lon, lat)
    step = size * res * 0.9  # neighbours overlap by a tenth
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        transform = Affine(res, 0, x0 + i * step, 0, -res, y0)
        base = np.stack([np.sin(xx / (17 + 5 * b + i)) * np.cos(yy / (23 + b)) for b in range(3)])
        data = (128 + 100 * base + rng.normal(0, 8, base.shape)).clip(1, 255).astype(np.uint8)
        profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
                   "crs": "EPSG:3857", "transform": transform, "nodata": 0, "tiled": True,
                   "blockxsize": 256, "blockysize": 256, "compress": "deflate"}  # fmt: skip
        (root / "scenes").mkdir(parents=True, exist_ok=True)
        with rasterio.open(root / "scenes" / f"scene_{i:03d}.tif", "w", **profile) as dst:
            dst.write(data)
    to_m = Transformer.from_crs(3857, 32650, always_xy=True)
    left, top = to_m.transform(x0, y0)
    right, bottom = to_m.transform(x0 + (n - 1) * step + size * res, y0 - size * res)
    squares, values = [], []
    for x in np.arange(left, right, 100.0):
        for y in np.arange(bottom, top, 100.0):
            squares.append(box(x, y, x + 100, y + 100))
            values.append(_CLASSES[int(rng.integers(len(_CLASSES)))])
    labels = root / "labels.gpkg"
    gpd.GeoDataFrame({"lcz": values}, geometry=squares, crs=32650).to_file(labels, driver="GPKG")
    return root / "scenes", labels


def _baseline(index: gpd.GeoDataFrame, scenes: Path, out: Path, patch: int) -> float:
    """Plain windowed read + write of one patch-sized window per stored patch; returns the
    seconds spent reading (the rest of the wall time is writing, flushing included)."""
    out.mkdir(parents=True, exist_ok=True)
    read_s = 0.0
    for name, count in index["scene"].value_counts().sort_index().items():
        with rasterio.open(scenes / f"{name}.tif") as src:
            per_row = max(1, src.width // patch)
            rows = math.ceil(count / per_row)
            profile = src.profile | {"width": per_row * patch, "height": rows * patch}
            with rasterio.open(out / f"{name}.tif", "w", **profile) as dst:
                for k in range(count):
                    r, c = divmod(k, per_row)
                    src_window = Window((c * patch) % (src.width - patch + 1),
                                        (r * patch) % (src.height - patch + 1), patch, patch)  # fmt: skip
                    t0 = time.perf_counter()
                    data = src.read(window=src_window)
                    read_s += time.perf_counter() - t0
                    dst.write(data, window=Window(c * patch, r * patch, patch, patch))
    return read_s


def _warp_then_cut(
    index: gpd.GeoDataFrame, scenes: Path, out: Path, patch: int, gsd: float
) -> float:
    """``gdalwarp`` every scene that gave patches to the store's CRS and grid, then cut each
    stored patch out of its warped scene and write it; returns the seconds spent warping."""
    out.mkdir(parents=True, exist_ok=True)
    crs = index.crs.to_wkt()
    warp_s = 0.0
    for name, group in index.groupby("scene", sort=True):
        warped = out / f"{name}.warped.tif"
        t0 = time.perf_counter()
        subprocess.run(
            ["gdalwarp", "-q", "-overwrite", "-t_srs", crs, "-tr", str(gsd), str(gsd), "-tap",
             "-r", "bilinear", "-multi", "-wo", "NUM_THREADS=ALL_CPUS", "-co", "TILED=YES",
             "-co", "COMPRESS=DEFLATE", str(scenes / f"{name}.tif"), str(warped)],
            check=True,
        )  # fmt: skip
        warp_s += time.perf_counter() - t0
        per_row = max(1, int(math.isqrt(len(group))) or 1)
        rows = math.ceil(len(group) / per_row)
        with rasterio.open(warped) as src:
            profile = src.profile | {"width": per_row * patch, "height": rows * patch}
            with rasterio.open(out / f"{name}.patches.tif", "w", **profile) as dst:
                for k, geom in enumerate(group.geometry):
                    window = from_bounds(*geom.bounds, transform=src.transform).round_offsets()
                    data = src.read(window=Window(window.col_off, window.row_off, patch, patch),
                                    boundless=True, fill_value=0)  # fmt: skip
                    r, c = divmod(k, per_row)
                    dst.write(data, window=Window(c * patch, r * patch, patch, patch))
    return warp_s


def measure(
    workdir: Path | None = None,
    city: Path | None = None,
    scenes: int = 4,
    size: int = 1024,
    patch: int = 256,
    repeats: int = 3,
    workers: int = 0,
) -> dict[str, Any]:
    """Tiling of one workload against the plain read + write baseline; the figures as a dict.

    ``city``: a folder from ``lcz-map synth`` (``scenes/``, ``labels.gpkg``) to use instead of
    the generated row of ``scenes`` scenes of ``size`` px. ``workers``: tiling's threads (0, its
    default: one per core); the baselines run as their tools do (rasterio in one thread,
    ``gdalwarp`` multithreaded).

    Keys: ``ratio`` (baseline time / tiling time: >= 0.7 is the aim), ``gdalwarp_ratio``
    (warp-then-cut time / tiling time: >= 1.0 is the aim), ``patches``,
    ``tile_seconds``, ``baseline_seconds`` (medians), ``baseline_read_seconds``,
    ``baseline_write_seconds``, ``tile_mpx_per_s``, ``baseline_mpx_per_s``, and the setup.
    """
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="tiling-bench-")) if workdir is None else Path(workdir)
    try:
        if city is not None:
            scene_dir, labels = Path(city) / "scenes", Path(city) / "labels.gpkg"
            scenes = len(list(scene_dir.glob("*.tif")))
        else:
            scene_dir, labels = make_scenes(root / "data", scenes, size)
        tile_times, base_times, reads, writes = [], [], [], []
        warp_times, warp_only = [], []
        patches = 0
        for _ in range(repeats):
            shutil.rmtree(root / "store", ignore_errors=True)
            config = TileConfig(scenes=[scene_dir], labels=labels, out=root / "store", patch=patch,
                                workers=workers)  # fmt: skip
            t0 = time.perf_counter()
            report = tile(config)
            tile_times.append(time.perf_counter() - t0)
            patches = report.patches
            index = gpd.read_parquet(root / "store" / "index.parquet")
            shutil.rmtree(root / "baseline", ignore_errors=True)
            t0 = time.perf_counter()
            read_s = _baseline(index, scene_dir, root / "baseline", patch)
            base_times.append(time.perf_counter() - t0)
            reads.append(read_s)
            writes.append(base_times[-1] - read_s)
            if shutil.which("gdalwarp"):  # GDAL's command-line tools are a separate install
                shutil.rmtree(root / "warped", ignore_errors=True)
                t0 = time.perf_counter()
                warp_only.append(
                    _warp_then_cut(index, scene_dir, root / "warped", patch, config.gsd)
                )
                warp_times.append(time.perf_counter() - t0)
        mpx = patches * patch * patch / 1e6
        tile_s, base_s = statistics.median(tile_times), statistics.median(base_times)
        warp_s = statistics.median(warp_times) if warp_times else math.nan
        return {
            "ratio": round(base_s / tile_s, 3),
            "gdalwarp_ratio": round(warp_s / tile_s, 3),  # nan without gdalwarp
            "patches": patches,
            "patch": patch,
            "scenes": scenes,
            "scene_size": size if city is None else None,
            "data": str(city) if city is not None else "generated",
            "workers": threads_for(workers),
            "repeats": repeats,
            "tile_seconds": round(tile_s, 3),
            "baseline_seconds": round(base_s, 3),
            "baseline_read_seconds": round(statistics.median(reads), 3),
            "baseline_write_seconds": round(statistics.median(writes), 3),
            "gdalwarp_then_cut_seconds": round(warp_s, 3),
            "gdalwarp_seconds": round(statistics.median(warp_only), 3) if warp_only else math.nan,
            "tile_mpx_per_s": round(mpx / tile_s, 2),
            "baseline_mpx_per_s": round(mpx / base_s, 2),
        }
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)


# The workloads of `make bench`: small scenes, where tiling's fixed costs (planning, the store's
# metadata) weigh most, and scenes of the paper's size (~3500 px Google Earth scenes).
WORKLOADS = ((4, 1024), (2, 3500))


def run(workdir: Path | None = None, repeats: int = 3) -> dict[str, Any]:
    """:func:`measure` on each of :data:`WORKLOADS` (a sub-folder of ``workdir`` each); the
    headline ``ratio`` and ``gdalwarp_ratio`` are those of the paper-sized scenes."""
    result: dict[str, Any] = {}
    for scenes, size in WORKLOADS:
        sub = None if workdir is None else Path(workdir) / f"{scenes}x{size}"
        result[f"{scenes} x {size} px"] = measure(sub, scenes=scenes, size=size, repeats=repeats)
    paper = result[f"{WORKLOADS[-1][0]} x {WORKLOADS[-1][1]} px"]
    return {"ratio": paper["ratio"], "gdalwarp_ratio": paper["gdalwarp_ratio"], **result}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", type=Path, default=None, help="a synthetic city folder")
    parser.add_argument("--workers", type=int, default=0, help="tiling threads (0: every core)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.city is None and args.workers == 0:
        print(json.dumps(run(repeats=args.repeats), indent=2))
    else:
        figures = measure(city=args.city, workers=args.workers, repeats=args.repeats)
        print(json.dumps(figures, indent=2))
