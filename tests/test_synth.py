"""The synthetic city: georeferencing, labels, determinism and the scene file format.

One small city (4 scenes of 320 px, about 600 m across, 70 m blocks) is generated per module;
a few tests make one more of a single scene.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import shapely.ops
from PIL import Image
from pyproj import Transformer
from rasterio import features

from sunet.lcz import CLASSES, parse_lcz_values
from sunet.synth import CityLayout, SynthConfig, build_layout, generate_city
from sunet.synth import command as synth_command
from sunet.synth.looks import LOOKS
from sunet.synth.render import render_window, window_codes
from sunet.synth.scenes import MAX_CLIP, scene_look

CONFIG = SynthConfig(seed=3, scenes=4, size_px=320)
ALL_LETTERS = {c.letter for c in CLASSES}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "city"
    generate_city(CONFIG, out)
    return out


@pytest.fixture(scope="module")
def plan() -> CityLayout:
    return build_layout(CONFIG)


def _labels(city: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(city / "labels.gpkg", layer="labels")


def test_scenes_are_tiled_compressed_rgb_in_web_mercator(city: Path) -> None:
    scenes = sorted((city / "scenes").glob("scene_*.tif"))
    assert [p.stem for p in scenes] == [
        "scene_000_000",
        "scene_000_001",
        "scene_001_000",
        "scene_001_001",
    ]
    expected_pixel = 1.0 / math.cos(math.radians(CONFIG.centre_lat))
    for path in scenes:
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 3857
            assert src.count == 3 and src.dtypes == ("uint8",) * 3
            assert (src.width, src.height) == (320, 320)
            assert src.nodata == 0
            assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
            assert src.compression is not None and src.compression.name.lower() == "deflate"
            assert src.res[0] == pytest.approx(expected_pixel, rel=1e-9)
            assert src.res[0] == pytest.approx(src.res[1], rel=1e-12)


def test_neighbouring_scenes_overlap_by_about_ten_percent(city: Path) -> None:
    with (
        rasterio.open(city / "scenes/scene_000_000.tif") as a,
        rasterio.open(city / "scenes/scene_000_001.tif") as b,
    ):
        overlap = (a.bounds.right - b.bounds.left) / (a.bounds.right - a.bounds.left)
        assert a.bounds.top == pytest.approx(b.bounds.top)
    assert 0.08 < overlap < 0.12


def test_nodata_only_on_outer_borders_and_never_inside_valid_pixels(city: Path) -> None:
    limit = int(320 * MAX_CLIP) + 2
    for path in sorted((city / "scenes").glob("scene_*.tif")):
        row, col = int(path.stem[6:9]), int(path.stem[10:13])
        with rasterio.open(path) as src:
            img = src.read()
        zero = img == 0
        nodata = zero.all(axis=0)
        # A zero in one band only would be a valid pixel mistaken for nodata by readers.
        assert not (zero.any(axis=0) & ~nodata).any()
        assert nodata.any(), "outer scenes are clipped raggedly"
        rr, cc = np.nonzero(nodata)
        # On a 2 x 2 grid every scene has two outer sides: top/bottom by row, left/right by col.
        dist_row = rr if row == 0 else 319 - rr
        dist_col = cc if col == 0 else 319 - cc
        assert (np.minimum(dist_row, dist_col) < limit).all()
        inner_rows = 319 - rr if row == 0 else rr
        inner_cols = 319 - cc if col == 0 else cc
        interior = (inner_rows < limit) & (inner_cols < limit)
        assert not interior.any(), "no nodata at the corner shared with the neighbours"


def test_labels_agree_with_plan_and_rendered_pixels(city: Path, plan: CityLayout) -> None:
    labels = _labels(city)
    codes = parse_lcz_values(labels["lcz"], source="labels.gpkg")
    tree = shapely.STRtree(labels.geometry.values)
    to_lonlat = Transformer.from_crs(3857, 4326, always_xy=True)
    to_utm = Transformer.from_crs(3857, 32650, always_xy=True)
    rng = np.random.default_rng(0)
    for tile in plan.mosaic.tiles:
        with rasterio.open(city / f"scenes/{tile.name}.tif") as src:
            rows, cols = rng.integers(0, 320, 400), rng.integers(0, 320, 400)
            xs, ys = (np.asarray(v) for v in rasterio.transform.xy(src.transform, rows, cols))
        # Label containing each pixel centre, found in the labels' own CRS (EPSG:4326).
        lon, lat = to_lonlat.transform(xs, ys)
        pi, li = tree.query(shapely.points(lon, lat), predicate="within")
        label = np.zeros(len(xs), dtype=np.uint8)
        label[pi] = codes[li]
        # The plan's class at the same point, via its own metric CRS (EPSG:32650).
        plan_code = plan.lcz_at(*to_utm.transform(xs, ys))
        # The class the renderer drew at that pixel.
        _, drawn = window_codes(plan, tile.row0, tile.col0, 320, 320)
        seen = label > 0
        assert seen.mean() > 0.85
        np.testing.assert_array_equal(label[seen], plan_code[seen])
        np.testing.assert_array_equal(label[seen], drawn[rows, cols][seen])


def test_rendered_colours_follow_the_labels(city: Path) -> None:
    """Dense trees are green, water is smooth, built-up areas are textured: imagery and labels
    are the same ground after reprojection."""
    labels = _labels(city).to_crs(3857)
    codes = parse_lcz_values(labels["lcz"])
    colour: dict[int, list[np.ndarray]] = {}
    texture: dict[int, list[np.ndarray]] = {}
    b, n = 8, 40  # 8 x 8 px blocks of a 320 px scene
    for path in sorted((city / "scenes").glob("scene_*.tif")):
        with rasterio.open(path) as src:
            img = src.read().astype(np.float32)
            cls = features.rasterize(
                zip(labels.geometry, codes.tolist(), strict=True),
                out_shape=(src.height, src.width),
                transform=src.transform,
            )

        def blocks(a: np.ndarray) -> np.ndarray:
            return (
                a.reshape(*a.shape[:-2], n, b, n, b)
                .swapaxes(-3, -2)
                .reshape(*a.shape[:-2], n, n, -1)
            )

        c, valid = blocks(cls), blocks((img > 0).all(axis=0))
        single = (c == c[..., :1]).all(axis=-1) & valid.all(axis=-1)
        lum_std = blocks(img.mean(axis=0)).std(axis=-1)
        rgb = blocks(img).mean(axis=-1)  # (3, n, n)
        for code in (1, 2, 3, 4, 5, 11, 17):
            sel = single & (c[..., 0] == code)
            texture.setdefault(code, []).append(lum_std[sel])
            colour.setdefault(code, []).append(rgb[:, sel])
    trees = np.concatenate(colour[11], axis=1).mean(axis=1)
    assert trees[1] > trees[0] and trees[1] > trees[2]
    water = np.median(np.concatenate(texture[17]))
    built = np.median(np.concatenate([t for k in (1, 2, 3, 4, 5) for t in texture[k]]))
    assert water < 0.4 * built


def test_all_classes_labelled_with_small_gaps_and_holes(city: Path) -> None:
    labels = _labels(city)
    assert labels.crs.to_epsg() == 4326
    assert set(labels["lcz"]) == ALL_LETTERS
    for name in ("labels.gpkg", "districts.gpkg"):  # GeoPackage 1.3, which QGIS 3.22 reads quietly
        with sqlite3.connect(city / name) as con:
            assert con.execute("PRAGMA user_version").fetchone()[0] == 10300
    assert labels.geometry.is_valid.all()
    assert any(len(p.interiors) for g in labels.geometry for p in getattr(g, "geoms", [g]))
    manifest = json.loads((city / "city.json").read_text())
    assert 0.005 < manifest["unlabelled_share"] < 0.1
    # Hand-drawn look: label polygons are not axis-aligned rectangles in UTM.
    utm = labels.to_crs(32650).geometry
    rectangular = np.isclose(utm.area, utm.envelope.area, rtol=1e-3)
    assert rectangular.mean() < 0.05


def test_districts_are_five_named_polygons_inside_the_imagery(city: Path) -> None:
    districts = gpd.read_file(city / "districts.gpkg", layer="districts")
    assert districts.crs.to_epsg() == 4326
    assert sorted(districts["name"]) == ["Hanyang", "Jiangan", "Jianghan", "Qiaokou", "Wuchang"]
    assert districts.geometry.is_valid.all() and (districts.to_crs(32650).area > 1e3).all()
    west, south, east, north = json.loads((city / "city.json").read_text())["mosaic_lonlat_bounds"]
    assert shapely.box(west, south, east, north).contains(districts.union_all())
    assert 114.05 < west and east < 119.9


def test_manifest_and_preview(city: Path) -> None:
    manifest = json.loads((city / "city.json").read_text())
    assert manifest["config"]["seed"] == 3 and manifest["config"]["zone_size_m"] is not None
    assert [s["name"] for s in manifest["scenes"]] == [
        "scene_000_000",
        "scene_000_001",
        "scene_001_000",
        "scene_001_001",
    ]
    assert set(manifest["class_area_m2"]) == ALL_LETTERS
    assert all(v > 0 for v in manifest["class_area_m2"].values())
    census = manifest["census"]
    assert census["pure"] + census["mixed"] == census["patches"]
    with Image.open(city / "preview.png") as im:
        assert im.mode in ("RGB", "RGBA") and im.width > 600


def test_rendering_is_independent_of_the_window(plan: CityLayout) -> None:
    """Overlapping scenes and strips show the same ground: a window is a crop of a larger one."""
    tile = plan.mosaic.tiles[0]
    look = scene_look(CONFIG.seed, tile, LOOKS["default"])
    ramp = (tile.row0, tile.col0, tile.size)
    # Centre the windows on a river bank: water, roads and buildings all meet there.
    bank = shapely.ops.nearest_points(plan.waters.river.boundary, plan.footprint.centroid)[0]
    x, y = Transformer.from_crs(32650, 3857, always_xy=True).transform(bank.x, bank.y)
    row, col = rasterio.transform.rowcol(plan.mosaic.transform, x, y)
    r, c = int(row) - 60, int(col) - 70
    big = render_window(plan, look, r, c, 120, 140, ramp_origin=ramp)
    small = render_window(plan, look, r + 40, c + 40, 50, 60, ramp_origin=ramp)
    _, codes = window_codes(plan, r, c, 120, 140)
    assert (codes == 17).any() and (codes != 17).any()
    np.testing.assert_array_equal(small, big[:, 40:90, 40:100])


def test_same_seed_same_bytes_other_seed_differs(city: Path, tmp_path: Path) -> None:
    again = generate_city(CONFIG, tmp_path / "again")
    assert len(again.scenes) == 4
    for name in ("scenes/scene_001_000.tif", "truth/surface.tif"):
        assert (tmp_path / "again" / name).read_bytes() == (city / name).read_bytes()
    first, second = _labels(city), _labels(tmp_path / "again")
    assert list(first["lcz"]) == list(second["lcz"])
    assert first.geometry.geom_equals_exact(second.geometry, tolerance=0.0).all()

    other = SynthConfig(seed=4, scenes=1, size_px=256)
    generate_city(other, tmp_path / "other")
    with (
        rasterio.open(tmp_path / "other/scenes/scene_000_000.tif") as a,
        rasterio.open(city / "scenes/scene_000_000.tif") as b,
    ):
        assert not np.array_equal(
            a.read(window=((0, 256), (0, 256))), b.read(window=((0, 256), (0, 256)))
        )
    assert list(_labels(tmp_path / "other")["lcz"]) != list(first["lcz"])


def test_command_writes_a_city_and_rejects_bad_input(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    synth_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "synth",
            "--out",
            str(tmp_path / "c"),
            "--size",
            "256",
            "--scenes",
            "1",
            "--seed",
            "2",
            "--quiet",
        ]
    )
    assert synth_command.run(args) == 0
    assert (tmp_path / "c" / "labels.gpkg").exists()
    assert (tmp_path / "c" / "scenes" / "scene_000_000.tif").exists()

    bad = parser.parse_args(["synth", "--out", str(tmp_path / "d"), "--size", "10"])
    with pytest.raises(ValueError, match="--size: Input should be greater than or equal to 128"):
        synth_command.run(bad)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    busy = parser.parse_args(
        ["synth", "--out", str(tmp_path / "busy"), "--size", "256", "--scenes", "1"]
    )
    with pytest.raises(ValueError, match="busy: folder is not empty"):
        synth_command.run(busy)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_city_outside_utm_zone_50n_is_refused() -> None:
    with pytest.raises(ValueError, match="UTM zone 50N"):
        SynthConfig(centre_lon=114.06, scenes=25, size_px=3500)
