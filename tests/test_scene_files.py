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


def test_a_model_maps_the_scene_bands_it_was_trained_on(tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely
    from mapping_fixtures import split_scene, write_districts
    from tiny_model import TINY

    from sunet.mapping import MapConfig
    from sunet.mapping.pipeline import plan_map
    from sunet.patch_store import PatchStore
    from sunet.tiling import TileConfig, tile
    from sunet.training import TrainConfig, train

    scene = split_scene(tmp_path / "scene.tif", 2, 17, size=256)
    halves = [shapely.box(LEFT, TOP - 256, LEFT + 128, TOP), shapely.box(LEFT + 128, TOP - 256,
                                                                        LEFT + 256, TOP)]  # fmt: skip
    gpd.GeoDataFrame({"lcz": ["2", "G"]}, geometry=halves, crs=32650).to_file(tmp_path / "l.gpkg")
    store = tmp_path / "patches"
    tile(TileConfig(scenes=[scene], labels=tmp_path / "l.gpkg", out=store, patch=32, block=2,
                    bands=[3, 2, 1]))  # fmt: skip
    assert PatchStore(store).source_bands == [3, 2, 1]
    assert PatchStore(store).bands == ["band 3", "band 2", "band 1"]  # not taken for R, G, B
    bundle = train(TrainConfig(patches=store, out=tmp_path / "run", model=TINY, epochs=1,
                               batch_size=8, progress=False, num_threads=1))  # fmt: skip
    districts = write_districts(tmp_path / "d.gpkg", {"A": (LEFT + 32, TOP - 224, LEFT + 224,
                                                            TOP - 32)})  # fmt: skip
    config = MapConfig(model=bundle, scenes=[scene], districts=districts, out=tmp_path / "map",
                       progress=False)  # fmt: skip
    assert plan_map(config).config.bands == [3, 2, 1]  # before, 1, 2, 3
    # Given explicitly, the bands asked for win.
    assert plan_map(config.model_copy(update={"bands": [1, 2, 3]})).config.bands == [1, 2, 3]
