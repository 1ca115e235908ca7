"""One set of scene files for every stage: a scene that tiles also maps, remaps and arrives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from mapping_fixtures import LEFT, TOP

from sunet.geo.raster import scene_files_in
from sunet.mapping.pipeline import scene_paths
from sunet.operations.inbox import list_scenes
from sunet.tiling.config import expand_scene_paths


def test_every_stage_takes_the_same_scene_files(tmp_path: Path) -> None:
    folder = tmp_path / "scenes"
    folder.mkdir()
    profile = {"width": 16, "height": 16, "count": 3, "dtype": "uint8", "crs": "EPSG:32650",
               "transform": Affine(1.0, 0, LEFT, 0, -1.0, TOP)}  # fmt: skip
    with rasterio.open(folder / "erdas.img", "w", driver="HFA", **profile) as ds:
        ds.write(np.full((3, 16, 16), 90, dtype=np.uint8))
    with rasterio.open(folder / "b.TIF", "w", driver="GTiff", **profile) as ds:
        ds.write(np.full((3, 16, 16), 90, dtype=np.uint8))
    (folder / ".tmp-1234-c.tif").write_bytes(b"half-written")
    (folder / "notes.txt").write_text("not a scene")
    expected = [folder / "b.TIF", folder / "erdas.img"]
    assert scene_files_in(folder) == expected
    assert [p.resolve() for p in expand_scene_paths([folder])] == [p.resolve() for p in expected]
    assert scene_paths([folder]) == expected  # mapping took .tif/.tiff/.vrt/.jp2 only
    assert list_scenes(folder) == expected  # the inbox took .tif/.tiff only
