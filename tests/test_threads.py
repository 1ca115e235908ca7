"""Work spread over threads gives what one thread gives: order, errors, bytes and settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine

from sunet.geo.raster import _decimated_validity, inspect_scene, inspect_scenes
from sunet.threads import cpu_threads, each, threads_for
from tests.conftest import UTM50N


def test_each_keeps_order_and_raises_the_first_failure_in_order() -> None:
    def check(i: int) -> int:
        if i in (3, 5):
            raise ValueError(f"scene {i}: bad")
        return i * i

    assert each(check, [0, 1, 2], 2) == [0, 1, 4]
    with pytest.raises(ValueError, match="scene 3: bad"):  # as a plain loop would say
        each(check, list(range(8)), 2)


def test_zero_workers_means_one_thread_per_core() -> None:
    assert threads_for(0) == cpu_threads() >= 1
    assert threads_for(3) == 3


def _holed_scene(path: Path, write_scene: Callable[..., Path], alpha: bool) -> Path:
    """2100 x 1500 px (decimated 3x to 700 x 500), nodata in a diagonal band and a hole."""
    h, w = 1500, 2100
    rng = np.random.default_rng(0)
    data = rng.integers(1, 255, size=(3, h, w), dtype=np.uint8)
    rows, cols = np.mgrid[0:h, 0:w]
    empty = (np.abs(rows - cols * 0.7) < 90) | ((rows - 400) ** 2 + (cols - 1500) ** 2 < 200**2)
    empty[:37, :] = True
    if alpha:
        band = np.where(empty, 0, 255).astype(np.uint8)[None]
        return write_scene(path, crs=UTM50N, data=np.concatenate([data, band]),
                           transform=Affine(1.0, 0, 240_000, 0, -1.0, 3_390_000),
                           photometric="RGB", alpha="YES")  # fmt: skip
    data[:, empty] = 0
    return write_scene(path, crs=UTM50N, data=data, nodata=0,
                       transform=Affine(1.0, 0, 240_000, 0, -1.0, 3_390_000))  # fmt: skip


@pytest.mark.parametrize("alpha", [False, True], ids=["nodata", "alpha"])
def test_mask_read_in_threads_is_identical_to_one_read(
    tmp_path: Path, write_scene: Callable[..., Path], alpha: bool
) -> None:
    path = _holed_scene(tmp_path / "holed.tif", write_scene, alpha)
    one = inspect_scene(path)
    with rasterio.open(path) as src:
        alpha_band = one.alpha
        whole = _decimated_validity(path, src, alpha_band, 1)
        assert 0.2 < whole.mean() < 0.95  # the scene has holes worth comparing
        for threads in (2, 3, 7):
            assert np.array_equal(_decimated_validity(path, src, alpha_band, threads), whole)
    assert inspect_scene(path, threads=3) == one
    assert inspect_scenes([path, path], threads=4) == [one, one]


def test_gdal_env_holds_the_vector_settings_while_any_thread_is_inside() -> None:
    from sunet.mapping.rasters import gdal_env

    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    inside, release = threading.Barrier(2), threading.Event()
    seen: list[object] = []

    def area(wait: bool) -> None:
        with gdal_env():
            inside.wait()
            if wait:
                release.wait()
            seen.append(pyogrio.get_gdal_config_option("OGR_CURRENT_DATE"))

    slow = threading.Thread(target=area, args=(True,))
    slow.start()
    area(False)  # leaves first: the setting must stay for the slow thread
    release.set()
    slow.join()
    assert seen == ["2000-01-01T00:00:00Z"] * 2
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") == before
