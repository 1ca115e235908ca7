"""Shared fixtures: small georeferenced scenes and label layers generated on the fly.

Factories rather than fixed files, so each test states the geometry it relies on:

* ``write_scene(path, crs=..., transform=..., data=...)`` writes any array as a tiled GeoTIFF;
* ``scene_at(path, crs, centre_lonlat, size_px, ...)`` writes a textured RGB scene centred on a
  place, with pixels of ``ground_m`` metres (EPSG:4326 and EPSG:3857 pixel sizes are converted so a
  pixel is about ``ground_m`` on the ground, as in the synthetic city);
* ``write_labels(path, geoms, values, crs=...)`` writes a label GeoPackage (field ``lcz``);
* ``make_texture(size, count=3, seed=0, dtype="uint8")`` gives a smooth image with no zero value.

Every location used in tests sits near Wuhan (UTM zone 50N, EPSG:32650) unless a test says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS, Transformer

WUHAN_LONLAT = (114.30, 30.59)
UTM50N = CRS.from_epsg(32650)


def _write_scene(
    path: Path,
    *,
    crs: Any,
    transform: Affine,
    data: np.ndarray,
    nodata: float | None = None,
    **profile: Any,
) -> Path:
    """Write ``data`` (B, H, W) as a tiled GeoTIFF and return the path."""
    count, height, width = data.shape
    options = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
        "compress": "deflate",
    }
    options.update(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **options) as dst:
        dst.write(data)
    return path


def texture(size: int, count: int = 3, seed: int = 0, dtype: str = "uint8") -> np.ndarray:
    """A smooth textured image ``(count, size, size)`` with no zero value (1-250)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    bands = []
    for b in range(count):
        fx, fy, ph = rng.uniform(0.01, 0.05), rng.uniform(0.01, 0.05), rng.uniform(0, 6)
        bands.append(125 + 100 * np.sin(fx * xx + ph) * np.cos(fy * yy + b))
    return np.clip(np.stack(bands), 1, 250).astype(dtype)


def _scene_at(
    path: Path,
    crs: str | int = 3857,
    centre_lonlat: tuple[float, float] = WUHAN_LONLAT,
    size_px: int = 256,
    ground_m: float = 1.0,
    data: np.ndarray | None = None,
    nodata: float | None = 0,
    seed: int = 0,
    **profile: Any,
) -> Path:
    """A square scene of ``size_px`` pixels of about ``ground_m`` metres centred on a place."""
    crs_obj = CRS.from_user_input(crs)
    lon, lat = centre_lonlat
    x, y = Transformer.from_crs(4326, crs_obj, always_xy=True).transform(lon, lat)
    if crs_obj.is_geographic:
        res_x = ground_m / (111_320.0 * math.cos(math.radians(lat)))
        res_y = ground_m / 110_574.0
    elif crs_obj.to_epsg() == 3857:
        res_x = res_y = ground_m / math.cos(math.radians(lat))
    else:
        res_x = res_y = ground_m
    transform = Affine(res_x, 0, x - size_px / 2 * res_x, 0, -res_y, y + size_px / 2 * res_y)
    if data is None:
        data = texture(size_px, seed=seed)
    return _write_scene(path, crs=crs_obj, transform=transform, data=data, nodata=nodata, **profile)


def _write_labels(
    path: Path,
    geoms: Sequence[Any],
    values: Sequence[Any],
    crs: Any = UTM50N,
    field: str = "lcz",
    layer: str = "labels",
) -> Path:
    """Write polygons with their label values as a GeoPackage layer."""
    frame = gpd.GeoDataFrame({field: list(values)}, geometry=list(geoms), crs=crs)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_file(path, layer=layer, driver="GPKG")
    return path


@pytest.fixture
def make_texture() -> Callable[..., np.ndarray]:
    return texture


@pytest.fixture
def write_scene() -> Callable[..., Path]:
    return _write_scene


@pytest.fixture
def scene_at() -> Callable[..., Path]:
    return _scene_at


@pytest.fixture
def write_labels() -> Callable[..., Path]:
    return _write_labels


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run a test module's tiny models on one torch thread.

    Tiny models gain nothing from more threads, and on a busy machine OpenMP threads that wait
    for each other make such tests many times slower.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A temporary Prefect server for the module's flow runs, results stored under tmp."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    storage = tmp_path_factory.mktemp("results")
    with prefect_test_harness(server_startup_timeout=120):
        with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: storage}):
            yield
