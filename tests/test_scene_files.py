"""One set of scene files for every stage: a scene that tiles also maps, remaps and arrives.

Users' own imagery comes as GeoTIFFs, as JPEG/PNG exports with a world file beside them, and as
VRT mosaics; a folder of all of these is tiled, mapped and ingested alike.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from earth_exports import write_jpeg_export, write_png_export, write_vrt_mosaic
from mapping_fixtures import LEFT, TOP, ColourPredictor, lcz_rgb, write_districts
from rasterio.warp import transform_bounds

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


# The mixed folder: one scene per format, each painted one LCZ colour, 160 m apart along x.
# name: (LCZ code, x offset from LEFT in metres)
FORMATS = {
    "rgba": (2, 0),  # GeoTIFF, EPSG:3857, alpha band and nodata 0 declared
    "export": (17, 160),  # JPEG + .jgw + .prj (EPSG:3857)
    "noprj": (11, 320),  # PNG + .pgw, no .prj: needs scene_crs
    "mosaic": (14, 480),  # VRT of two UTM GeoTIFF tiles beside it
    "turned": (7, 640),  # PNG + .pgw + .prj, the pixel grid turned by 15 degrees
}
SIDE = 128.0  # metres of each scene


def _box(x0: float, margin: float = 0.0) -> tuple[float, float, float, float]:
    return LEFT + x0 + margin, TOP - SIDE + margin, LEFT + x0 + SIDE - margin, TOP - margin


def _paint(code: int, height: int, width: int, count: int = 3) -> np.ndarray:
    rgb = np.array(lcz_rgb(code), dtype=np.uint8)[:, None, None]
    return np.broadcast_to(rgb, (3, height, width)).copy()


def write_mixed_folder(folder: Path) -> Path:
    """Every format in one folder, plus a plain preview image that is not a scene."""
    folder.mkdir(parents=True, exist_ok=True)
    area = {
        n: transform_bounds("EPSG:32650", "EPSG:4326", *_box(x)) for n, (_, x) in FORMATS.items()
    }
    # RGBA GeoTIFF in EPSG:3857 that declares nodata 0 as well; a transparent west strip.
    x0, y0, x1, y1 = transform_bounds("EPSG:32650", "EPSG:3857", *_box(FORMATS["rgba"][1]))
    res = (x1 - x0) / 128
    rgba = np.concatenate([_paint(2, 128, 128), np.full((1, 128, 128), 255, np.uint8)])
    rgba[3, :, :8] = 0
    with rasterio.open(folder / "rgba.tif", "w", driver="GTiff", width=128, height=128, count=4,
                       dtype="uint8", crs="EPSG:3857", transform=Affine(res, 0, x0, 0, -res, y1),
                       nodata=0, photometric="RGB", alpha="YES") as dst:  # fmt: skip
        dst.write(rgba)
    write_jpeg_export(folder / "export.jpg", area["export"], image=_paint(17, 120, 136))
    write_png_export(folder / "noprj.png", area["noprj"], image=_paint(11, 120, 136), prj=False)
    write_png_export(folder / "turned.png", area["turned"], image=_paint(7, 120, 136),
                     rotation_deg=15)  # fmt: skip
    tiles = []
    for i in range(2):
        left = LEFT + FORMATS["mosaic"][1] + i * SIDE / 2
        tile = folder / f"mosaic_{i}.tif"
        with rasterio.open(tile, "w", driver="GTiff", width=64, height=128, count=3,
                           dtype="uint8", crs="EPSG:32650", nodata=0,
                           transform=Affine(1.0, 0, left, 0, -1.0, TOP)) as dst:  # fmt: skip
            dst.write(_paint(14, 128, 64))
        tiles.append(tile)
    write_vrt_mosaic(folder / "mosaic.vrt", tiles)
    with (
        rasterio.Env(CPL_LOG="/dev/null"),
        rasterio.open(
            folder / "preview.png", "w", driver="PNG", width=8, height=8, count=3, dtype="uint8"
        ) as dst,
    ):
        dst.write(_paint(2, 8, 8))
    return folder


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the preview, on purpose
        return write_mixed_folder(tmp_path_factory.mktemp("mixed") / "scenes")


def test_every_stage_lists_a_mixed_folder_alike(mixed: Path) -> None:
    expected = [mixed / n for n in ("export.jpg", "mosaic.vrt", "noprj.png", "rgba.tif",
                                    "turned.png")]  # fmt: skip
    # Not the preview (no georeferencing), not the VRT's tiles (the VRT is the scene).
    assert scene_files_in(mixed) == expected
    assert [p.resolve() for p in expand_scene_paths([mixed])] == [p.resolve() for p in expected]
    assert scene_paths([mixed]) == [p.resolve() for p in expected]
    assert list_scenes(mixed) == expected
    # The city folder of the synthetic city holds its preview beside scenes/: still no scene.
    with pytest.raises(FileNotFoundError, match="matches no scene file"):
        expand_scene_paths([mixed.parent])


def test_each_format_tiles_and_maps(mixed: Path, tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    from sunet.cli import main
    from sunet.mapping import MapConfig, map_districts
    from sunet.tiling import TileReport

    boxes = [shapely.box(*_box(x, margin=16)) for _, x in FORMATS.values()]
    codes = [code for code, _ in FORMATS.values()]
    gpd.GeoDataFrame({"lcz": codes}, geometry=boxes, crs=32650).to_file(tmp_path / "labels.gpkg")
    store = tmp_path / "patches"
    assert main(["tile", "--scenes", str(mixed), "--labels", str(tmp_path / "labels.gpkg"),
                 "--out", str(store), "--patch", "32", "--block", "1",
                 "--scene-crs", "EPSG:3857"]) == 0  # fmt: skip
    report = TileReport.model_validate_json((store / "report.json").read_text())
    assert set(report.patches_per_scene) == set(FORMATS)
    assert all(n >= 4 for n in report.patches_per_scene.values()), report.patches_per_scene

    districts = write_districts(
        tmp_path / "districts.gpkg", {n: _box(x, margin=32) for n, (_, x) in FORMATS.items()}
    )
    palette = {code: lcz_rgb(code) for code, _ in FORMATS.values()}
    config = MapConfig(scenes=[mixed], districts=districts, out=tmp_path / "map",
                       scene_crs="EPSG:3857", progress=False, novelty_windows=0)  # fmt: skip
    map_districts(config, ColourPredictor(palette))
    for name, (code, _) in FORMATS.items():
        with rasterio.open(tmp_path / "map" / name / "lcz_dominant.tif") as ds:
            dominant = ds.read(1)
        mapped = dominant[dominant != ds.nodata]
        assert mapped.size > 0 and (mapped == code).all(), (name, np.unique(mapped))


def test_a_new_world_file_or_scene_crs_is_a_new_tiling_cache_entry(
    mixed: Path, tmp_path: Path
) -> None:
    from sunet.geo.raster import inspect_scene
    from sunet.hashing import file_hash
    from sunet.tiling.scene import scene_digest

    # A lone GeoTIFF keeps the key it always had: its bytes' hash.
    tif = inspect_scene(mixed / "rgba.tif")
    assert scene_digest(tif) == file_hash(tif.path, "blake2b", digest_size=16)
    for name in ("noprj.png", "noprj.pgw"):
        shutil.copyfile(mixed / name, tmp_path / name)
    png = tmp_path / "noprj.png"
    before = scene_digest(inspect_scene(png, scene_crs="EPSG:3857"))
    assert scene_digest(inspect_scene(png, scene_crs="EPSG:3395")) != before
    lines = (tmp_path / "noprj.pgw").read_text().splitlines()
    lines[4] = str(float(lines[4]) + 10.0)  # the same pixels, 10 m further east
    (tmp_path / "noprj.pgw").write_text("\n".join(lines) + "\n")
    assert scene_digest(inspect_scene(png, scene_crs="EPSG:3857")) != before


def test_the_inbox_takes_exports_with_their_sidecars(mixed: Path, tmp_path: Path) -> None:
    from sunet.operations.inbox import ingest_inbox, pending_scenes, scan_scenes

    inbox, scenes = tmp_path / "inbox", tmp_path / "scenes"
    shutil.copytree(mixed, inbox)
    bad = inbox / "zero.jpg"
    shutil.copyfile(inbox / "export.jpg", bad)
    (inbox / "zero.jgw").write_text("0.5\n0\n0\n0\n1\n2\n")  # a zero pixel size
    old = time.time() - 600
    for f in inbox.iterdir():
        os.utime(f, (old, old))
    result = ingest_inbox(inbox, scenes, settle_seconds=60, scene_crs="EPSG:3857")

    assert sorted(p.name for p in result.accepted) == [
        "export.jpg", "mosaic.vrt", "noprj.png", "rgba.tif", "turned.png"
    ]  # fmt: skip
    # Each scene came with its sidecars or tiles; what is not a scene stayed.
    assert sorted(p.name for p in scenes.iterdir()) == sorted(
        ["export.jpg", "export.jgw", "export.prj", "mosaic.vrt", "mosaic_0.tif", "mosaic_1.tif",
         "noprj.png", "noprj.pgw", "rgba.tif", "turned.png", "turned.pgw", "turned.prj"]
    )  # fmt: skip
    [(rejected, reason)] = result.rejected
    assert rejected.name == "zero.jpg" and "zero pixel size" in reason and "\n" not in reason
    assert (inbox / "rejected" / "zero.jgw").is_file()
    assert sorted(p.name for p in inbox.iterdir()) == ["preview.png", "rejected"]

    manifest = scan_scenes(scenes, "EPSG:32650", scene_crs="EPSG:3857")
    assert sorted(manifest.scenes) == sorted(p.name for p in result.accepted)
    assert pending_scenes(scenes, manifest, None, settle_seconds=0) == []
    # A new world file moves the scene: that is a change of the scene, its image bytes alike.
    wld = scenes / "noprj.pgw"
    lines = wld.read_text().splitlines()
    lines[4] = str(float(lines[4]) + 10.0)
    wld.write_text("\n".join(lines) + "\n")
    assert pending_scenes(scenes, manifest, None, settle_seconds=0) == ["noprj.png"]
    # Without scene_crs the PNG without .prj cannot be placed: rejected, in one line.
    again = tmp_path / "inbox2"
    again.mkdir()
    for f in ("noprj.png", "noprj.pgw"):
        shutil.copyfile(mixed / f, again / f)
        os.utime(again / f, (old, old))
    [(rejected, reason)] = ingest_inbox(again, tmp_path / "s2", settle_seconds=60).rejected
    assert "noprj.png" in reason and "no CRS" in reason and "--scene-crs" in reason
    assert sorted(p.name for p in (again / "rejected").iterdir()) == [
        "noprj.pgw", "noprj.png", "noprj.png.error.txt"
    ]  # fmt: skip


def test_a_remap_takes_scene_crs_from_its_mapping_options(
    mixed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sunet.cli import main
    from sunet.operations.config import RemapConfig
    from sunet.operations.remap import map_version, plan_remap

    for command in ("tile", "map", "remap"):  # one field, every command's option
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--scene-crs" in capsys.readouterr().out, command
    districts = write_districts(
        tmp_path / "districts.gpkg", {n: _box(x, margin=32) for n, (_, x) in FORMATS.items()}
    )
    (tmp_path / "model.safetensors").write_bytes(b"stands in: the predictor is passed")
    config = RemapConfig(out=tmp_path / "maps", scenes_dir=mixed, districts=districts,
                         model=tmp_path / "model.safetensors",
                         mapping={"scene_crs": "EPSG:3857", "progress": False,
                                  "novelty_windows": 0})  # fmt: skip
    plan = plan_remap(config)
    assert sorted(plan.manifest.scenes) == sorted(p.name for p in scene_files_in(mixed))
    palette = {code: lcz_rgb(code) for code, _ in FORMATS.values()}
    (tmp_path / "v1").mkdir()
    report = map_version(plan, tmp_path / "v1", predictor=ColourPredictor(palette))
    assert report.windows_run > 0
    saved = (tmp_path / "v1" / "config.json").read_text()
    assert '"scene_crs": "EPSG:3857"' in saved
