"""The Prefect flow ``lcz-tile`` on a local Dask cluster gives the same store as the library."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import CRS, Transformer
from shapely.geometry import box

from sunet.tiling import TileConfig, tile

UTM50N = CRS.from_epsg(32650)


@pytest.mark.slow
def test_flow_on_dask_matches_the_library(
    tmp_path: Path, scene_at: Callable[..., Path], write_labels: Callable[..., Path]
) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.tile import tile_flow_for

    for i, lon in enumerate((114.300, 114.302, 114.304)):
        scene_at(
            tmp_path / "scenes" / f"s{i}.tif",
            crs=3857,
            centre_lonlat=(lon, 30.59),
            size_px=200,
            seed=i,
        )
    x, y = Transformer.from_crs(4326, UTM50N, always_xy=True).transform(114.302, 30.59)
    quads = [box(x - 300, y - 100, x, y + 100), box(x, y - 100, x + 300, y + 100)]
    labels = write_labels(tmp_path / "labels.gpkg", quads, ["4", "B"])

    def config(out: str) -> TileConfig:
        return TileConfig(
            scenes=[tmp_path / "scenes"], labels=labels, out=tmp_path / out, patch=32, workers=2
        )

    expected = tile(config("lib"))
    with prefect_test_harness(server_startup_timeout=60):
        report = tile_flow_for(2)(config("flow"))  # type: ignore[operator]
    assert report.patches == expected.patches > 0 and report.by_split == expected.by_split
    index = {
        k: pd.DataFrame(gpd.read_parquet(tmp_path / k / "index.parquet")) for k in ("lib", "flow")
    }
    pd.testing.assert_frame_equal(index["lib"], index["flow"])
    images = {
        k: xr.open_zarr(tmp_path / k / "patches.zarr", consolidated=False)["image"].values
        for k in ("lib", "flow")
    }
    np.testing.assert_array_equal(images["lib"], images["flow"])
