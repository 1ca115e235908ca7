"""The synthetic city's truth: the surface fractions and heights the scenes were drawn with.

One small city (4 scenes of 320 px, 70 m blocks, as in tests/test_synth.py) serves most tests;
Table 3 ranges need blocks wide enough for a class's lots, so one more city has 300 m blocks.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import shapely.ops
from affine import Affine
from mapping_fixtures import ColourPredictor, lcz_rgb
from pyproj import Transformer
from rasterio import features

from sunet.lcz import CLASSES, parse_lcz
from sunet.synth import CityLayout, SynthConfig, build_layout, generate_city
from sunet.synth import command as synth_command
from sunet.synth.canvas import (
    SURFACE_BUILDING,
    SURFACE_IMPERVIOUS,
    SURFACE_PERVIOUS,
    SURFACE_WATER,
    Surfaces,
)
from sunet.synth.config import SceneTile
from sunet.synth.looks import LOOKS
from sunet.synth.render import render_window, window_codes
from sunet.synth.scenes import scene_look, scene_nodata
from sunet.synth.truth import (
    NAMES,
    SURFACE_TIF,
    TruthAccumulator,
    TruthRaster,
    aggregate_truth,
    read_truth,
    taken_pixels,
    truth_on_map_grid,
)

CONFIG = SynthConfig(seed=3, scenes=4, size_px=320)
ZONED = SynthConfig(seed=3, scenes=4, size_px=640, zone_size_m=300.0)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("truth") / "city"
    generate_city(CONFIG, out)
    return out


@pytest.fixture(scope="module")
def plan() -> CityLayout:
    return build_layout(CONFIG)


@pytest.fixture(scope="module")
def truth(city: Path) -> TruthRaster:
    return read_truth(city)


def _window(
    plan: CityLayout, look: str, r: int, c: int, h: int, w: int
) -> tuple[np.ndarray, Surfaces]:
    tile = plan.mosaic.tiles[0]
    surfaces = Surfaces.empty(h, w)
    image = render_window(
        plan,
        scene_look(CONFIG.seed, tile, LOOKS[look]),
        r,
        c,
        h,
        w,
        ramp_origin=(tile.row0, tile.col0, tile.size),
        surfaces=surfaces,
    )
    return image, surfaces


def _bank_window(plan: CityLayout) -> tuple[int, int]:
    """Upper-left pixel of a 120 x 140 window on a river bank: water, roads, roofs and trees."""
    bank = shapely.ops.nearest_points(plan.waters.river.boundary, plan.footprint.centroid)[0]
    x, y = Transformer.from_crs(32650, 3857, always_xy=True).transform(bank.x, bank.y)
    row, col = rasterio.transform.rowcol(plan.mosaic.transform, x, y)
    return int(row) - 60, int(col) - 70


def test_surfaces_are_recorded_without_changing_the_image_and_the_same_in_every_look(
    plan: CityLayout,
) -> None:
    r, c = _bank_window(plan)
    tile = plan.mosaic.tiles[0]
    ramp = (tile.row0, tile.col0, tile.size)
    recorded = {}
    for look in ("default", "winter", "monsoon"):
        acquisition = scene_look(CONFIG.seed, tile, LOOKS[look])
        plain = render_window(plan, acquisition, r, c, 120, 140, ramp_origin=ramp)
        image, surfaces = _window(plan, look, r, c, 120, 140)
        np.testing.assert_array_equal(image, plain)
        recorded[look] = surfaces
    # Leafless trees (winter) and flooded paddies (monsoon) change the picture, not the truth.
    for look in ("winter", "monsoon"):
        for name in ("surface", "roof", "crown"):
            a, b = getattr(recorded["default"], name), getattr(recorded[look], name)
            np.testing.assert_array_equal(a, b, err_msg=f"{look} {name}")


def test_surfaces_agree_with_the_zones_and_do_not_depend_on_the_window(plan: CityLayout) -> None:
    r, c = _bank_window(plan)
    _, big = _window(plan, "default", r, c, 120, 140)
    _, small = _window(plan, "default", r + 40, c + 40, 50, 60)
    np.testing.assert_array_equal(small.surface, big.surface[40:90, 40:100])
    np.testing.assert_array_equal(small.roof, big.roof[40:90, 40:100])
    # Crowns are domes over plan coordinates, which windows interpolate to within a millimetre.
    np.testing.assert_allclose(small.crown, big.crown[40:90, 40:100], atol=1e-3)
    _, codes = window_codes(plan, r, c, 120, 140)
    kinds = set(np.unique(big.surface))
    assert kinds == {SURFACE_PERVIOUS, SURFACE_IMPERVIOUS, SURFACE_BUILDING, SURFACE_WATER}
    assert np.array_equal(big.roof > 0, big.surface == SURFACE_BUILDING)
    assert (codes[big.surface == SURFACE_WATER] == 17).all()  # water only in LCZ G zones
    assert (big.crown > 0).any() and (big.crown[big.surface == SURFACE_BUILDING] == 0).all()


def test_truth_raster_is_a_described_metric_grid(city: Path) -> None:
    assert json.loads((city / "city.json").read_text())["truth"] == SURFACE_TIF
    with rasterio.open(city / SURFACE_TIF) as src:
        assert src.crs.to_epsg() == 32650
        assert src.res == (4.0, 4.0)
        assert src.transform.c % 4 == 0 and src.transform.f % 4 == 0  # nests in 100 m, 128 m
        assert src.dtypes == ("float32",) * len(NAMES) and src.nodata == -1.0
        assert src.descriptions == NAMES
        units = dict(zip(NAMES, src.units, strict=True))
        assert units["building_height"] == units["tree_height"] == "m"
        assert units["building"] == units["imaged"] == "1"
        assert "pervious" in src.tags()["water"]


def test_fractions_sum_to_one_and_heights_stand_only_on_their_surfaces(
    truth: TruthRaster,
) -> None:
    v = truth.values
    held = ~np.isnan(v["building"])
    assert held.sum() > 20_000
    for name in NAMES:
        assert np.array_equal(np.isnan(v[name]), ~held), name  # nodata in every band together
    total = v["building"] + v["impervious"] + v["pervious"]
    np.testing.assert_allclose(total[held], 1.0, atol=1e-6)
    for name in ("building", "impervious", "pervious", "water", "tree_cover", "imaged"):
        assert v[name][held].min() >= 0.0 and v[name][held].max() <= 1.0, name
    assert (v["water"][held] <= v["pervious"][held] + 1e-6).all()
    assert np.array_equal(v["building_height"][held] > 0, v["building"][held] > 0)
    assert np.array_equal(v["tree_height"][held] > 0, v["tree_cover"][held] > 0)
    assert v["building"][held].max() == 1.0 and v["water"][held].max() == 1.0


def test_nodata_exactly_outside_the_imagery(
    city: Path, plan: CityLayout, truth: TruthRaster
) -> None:
    """Cells well inside the scenes' valid pixels are wholly imaged; cells well outside, on the
    ragged borders' side, hold no truth."""
    m = plan.mosaic
    valid = np.zeros((m.height, m.width), dtype=bool)
    for tile in m.tiles:
        with rasterio.open(city / f"scenes/{tile.name}.tif") as src:
            held = src.read().any(axis=0)
        valid[tile.row0 : tile.row0 + tile.size, tile.col0 : tile.col0 + tile.size] |= held
    shapes = features.shapes(valid.astype(np.uint8), mask=valid, transform=m.transform)
    imaged = gpd.GeoSeries([shapely.geometry.shape(s) for s, _ in shapes], crs=3857).to_crs(32650)
    area = imaged.union_all()
    h, w = truth.values["imaged"].shape
    rows, cols = np.mgrid[0:h, 0:w]
    xs, ys = rasterio.transform.xy(truth.transform, rows.ravel(), cols.ravel())
    centres = shapely.points(np.asarray(xs), np.asarray(ys))
    inside = shapely.contains(area.buffer(-6.0), centres).reshape(h, w)
    outside = ~shapely.intersects(area.buffer(6.0), centres).reshape(h, w)
    assert inside.sum() > 20_000 and outside.sum() > 100
    assert (truth.values["imaged"][inside] == 1.0).all()
    assert np.isnan(truth.values["imaged"][outside]).all()


def test_every_imaged_pixel_of_the_mosaic_counts_once() -> None:
    """Scenes overlap and their ragged borders differ: a pixel is taken from the first scene
    that covers it, if some scene holds it; five scenes leave the last row partial."""
    cfg = SynthConfig(seed=1, scenes=5, size_px=200).resolved()
    plan = build_layout(cfg)
    m = plan.mosaic

    def nodata_of(tile: SceneTile) -> np.ndarray:
        return scene_nodata(m, tile, cfg.seed, True)

    taken = np.zeros((m.height, m.width), dtype=np.int32)
    held = np.zeros((m.height, m.width), dtype=bool)
    acc = TruthAccumulator(plan, 4.0)
    for k, tile in enumerate(m.tiles):
        mine = taken_pixels(m, tile, nodata_of(tile), nodata_of)
        window = (slice(tile.row0, tile.row0 + 200), slice(tile.col0, tile.col0 + 200))
        taken[window] += mine
        held[window] |= ~nodata_of(tile)
        # Each scene paints its own surface code, so the counts say where pixels came from.
        surfaces = Surfaces.empty(200, 200)
        surfaces.surface[:] = k % 4
        acc.add_scene(tile, surfaces, mine)
        assert acc.counts[k % 4].sum() >= mine.sum()
    assert taken.max() == 1
    assert np.array_equal(taken == 1, held)
    acc.count_lattice()
    imaged = acc.counts[:4].sum(axis=0)
    assert imaged.sum() == held.sum()
    lattice = acc.counts[5]
    assert (imaged <= lattice).all()
    assert (imaged == lattice)[imaged > 0].mean() > 0.9  # all but cells on the imagery's edge


def test_truth_on_and_off_give_the_same_scenes(city: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    synth_command.add_parser(parser.add_subparsers(dest="command"))
    args = ["synth", "--out", str(tmp_path / "off"), "--seed", "3", "--scenes", "4",
            "--size", "320", "--no-truth", "--quiet"]  # fmt: skip
    assert synth_command.run(parser.parse_args(args)) == 0
    off = tmp_path / "off"
    assert not (off / "truth").exists()
    assert json.loads((off / "city.json").read_text())["truth"] is None
    for path in sorted((city / "scenes").glob("*.tif")):
        assert (off / "scenes" / path.name).read_bytes() == path.read_bytes(), path.name
    for name, layer in (("labels.gpkg", "labels"), ("districts.gpkg", "districts")):
        with sqlite3.connect(city / name) as a, sqlite3.connect(off / name) as b:
            query = f"SELECT * FROM {layer}"
            assert a.execute(query).fetchall() == b.execute(query).fetchall()


def test_pure_zones_are_drawn_within_table_3(tmp_path: Path) -> None:
    """Cells well inside each label polygon (300 m blocks), per class.

    Natural classes and the classes of small lots (LCZ 3, 6, 9) fall in Table 3's ranges; no
    class exceeds its building fraction. Large lots near a block's edge lose their building to
    the renderer's setback test, so LCZ 1, 2, 4, 5, 7, 8 and 10 may draw less than Table 3 (the
    truth says what was drawn, which is why it is recorded rather than read off the table).
    """
    generate_city(ZONED, tmp_path / "city")
    t = read_truth(tmp_path / "city")
    labels = gpd.read_file(tmp_path / "city/labels.gpkg", layer="labels").to_crs(32650)
    codes = [parse_lcz(v) for v in labels["lcz"]]
    shape = t.values["imaged"].shape
    cells = features.rasterize(
        ((g.buffer(-12.0), code) for g, code in zip(labels.geometry, codes, strict=True)
         if not g.buffer(-12.0).is_empty),
        out_shape=shape, transform=t.transform,
    )  # fmt: skip
    v = {k: np.nan_to_num(a) for k, a in t.values.items()}
    tested = 0
    for cls in CLASSES:
        sel = cells == cls.code
        if v["imaged"][sel].sum() < 300:  # under 300 cells of 16 m2
            continue
        tested += 1
        w = v["imaged"][sel]
        share = {k: float(np.average(v[k][sel], weights=w)) for k in NAMES[:4]}
        p = cls.properties
        bsf = p["building_surface_pct"]
        assert bsf.high is not None
        assert share["building"] <= bsf.high / 100 + 0.05, cls.letter
        if not cls.is_built:
            assert share["building"] < 0.1, cls.letter
            if cls.letter == "E":
                assert share["impervious"] > 0.9, cls.letter
            else:
                assert share["pervious"] > 0.9, cls.letter
            if cls.letter == "G":
                assert share["water"] > 0.9
            continue
        if cls.letter in ("3", "6", "9"):
            assert bsf.low is not None and share["building"] >= bsf.low / 100 - 0.05, cls.letter
        roofs = v["building"][sel] * w
        height = float(np.average(v["building_height"][sel], weights=roofs))
        rh = p["roughness_height_m"]
        # Each building is 0.6-1.4 times its zone's height, drawn from the class's range.
        assert rh.low is not None and height >= 0.6 * rh.low, cls.letter
        if rh.high is not None:
            assert height <= 1.4 * rh.high + 1.5, cls.letter
    assert tested >= 12


def _blocks(a: np.ndarray, k: int) -> np.ndarray:
    h, w = a.shape
    return a[: h - h % k, : w - w % k].reshape(h // k, k, w // k, k).sum(axis=(1, 3))


def test_aggregation_onto_nested_cells_is_exact_and_conserves_area(truth: TruthRaster) -> None:
    # 128 m cells of EPSG:32650 with edges on multiples of 128 m: 32 x 32 truth cells each.
    tr = truth.transform
    left, top = np.ceil(tr.c / 128) * 128, np.floor(tr.f / 128) * 128
    c0, r0 = int((left - tr.c) / 4), int((tr.f - top) / 4)
    v = {k: np.nan_to_num(a.astype(np.float64))[r0:, c0:] for k, a in truth.values.items()}
    area = v["imaged"] * 16.0
    shape = (v["imaged"].shape[0] // 32, v["imaged"].shape[1] // 32)
    out = aggregate_truth(truth, Affine(128.0, 0, left, 0, -128.0, top), shape, "EPSG:32650")
    held = _blocks(area, 32)
    np.testing.assert_allclose(out["coverage"], held / 128.0**2, rtol=1e-9, atol=1e-12)
    some = held > 0
    for name in ("building", "impervious", "pervious", "water", "tree_cover"):
        np.testing.assert_allclose(out[name][some], (_blocks(v[name] * area, 32) / held)[some],
                                   rtol=1e-6, atol=1e-9)  # fmt: skip
    roofs = _blocks(v["building"] * area, 32)
    volume = _blocks(v["building"] * area * v["building_height"], 32)
    expect = np.where(roofs > 0, volume / np.where(roofs > 0, roofs, 1), 0.0)
    np.testing.assert_allclose(out["building_height"][some], expect[some], rtol=1e-6)
    assert (out["building_height"][some & (roofs == 0)] == 0).all()
    assert np.isnan(out["building"][~some]).all()


def test_aggregation_onto_another_utm_zone_conserves_area(truth: TruthRaster) -> None:
    west = Transformer.from_crs(32650, 32649, always_xy=True)
    tr = truth.transform
    h, w = truth.values["imaged"].shape
    xs, ys = west.transform(
        [tr.c, tr.c + 4 * w, tr.c, tr.c + 4 * w], [tr.f, tr.f, tr.f - 4 * h, tr.f - 4 * h]
    )
    left, top = np.floor(min(xs) / 100) * 100 - 100, np.ceil(max(ys) / 100) * 100 + 100
    shape = (int((top - min(ys)) // 100) + 3, int((max(xs) - left) // 100) + 3)
    out = aggregate_truth(truth, Affine(100.0, 0, left, 0, -100.0, top), shape, "EPSG:32649")
    v = {k: np.nan_to_num(a.astype(np.float64)) for k, a in truth.values.items()}
    source = v["imaged"] * 16.0
    target = out["coverage"] * 100.0**2
    # Square metres of the two zones differ by their scale factors, well under a thousandth.
    assert target.sum() == pytest.approx(source.sum(), rel=2e-3)
    for name in ("building", "water"):
        moved = np.nansum(out[name] * target)
        assert moved == pytest.approx((v[name] * source).sum(), rel=2e-3), name
    held = out["coverage"] > 0
    total = out["building"] + out["impervious"] + out["pervious"]
    np.testing.assert_allclose(total[held], 1.0, atol=1e-9)
    assert out["coverage"].max() <= 1.0


def test_aggregation_needs_cells_in_metres(truth: TruthRaster) -> None:
    with pytest.raises(ValueError, match="not projected"):
        aggregate_truth(truth, Affine(0.001, 0, 114.3, 0, -0.001, 30.6), (4, 4), "EPSG:4326")


def test_truth_on_a_map_grid_lines_up_with_its_cells(city: Path, tmp_path: Path) -> None:
    from sunet.mapping import MapConfig, map_districts

    out = tmp_path / "map"
    config = MapConfig(scenes=sorted((city / "scenes").glob("*.tif")),
                       districts=city / "districts.gpkg", out=out, progress=False)  # fmt: skip
    map_districts(config, ColourPredictor({c: lcz_rgb(c) for c in (2, 11, 14, 17)}))
    on_map = truth_on_map_grid(city, out / "city")
    with rasterio.open(out / "city" / "lcz_abundance.tif") as src:
        mapped = src.read(1) != src.nodata
        transform, shape = src.transform, src.shape
    assert all(a.shape == shape for a in on_map.values())
    assert mapped.sum() > 300
    assert (on_map["coverage"][mapped] == 1.0).all()  # a mapped cell is wholly imaged
    # Each map cell (16 m, edges on multiples of 16 m in EPSG:32650) is 4 x 4 truth cells.
    whole = read_truth(city)
    rng = np.random.default_rng(0)
    for r, c in zip(*np.nonzero(mapped), strict=True):
        if rng.random() > 0.1:
            continue
        x, y = transform @ (c, r)
        col, row = ~whole.transform @ (x, y)
        block = (slice(round(row), round(row) + 4), slice(round(col), round(col) + 4))
        held = whole.values["imaged"][block]
        for name in ("building", "impervious", "water"):
            expect = float((whole.values[name][block] * held).sum() / held.sum())
            assert on_map[name][r, c] == pytest.approx(expect, abs=1e-6), (name, r, c)
    with pytest.raises(FileNotFoundError, match="area folder"):
        truth_on_map_grid(city, out)


def test_truth_cells_hold_at_least_two_pixels() -> None:
    assert SynthConfig().resolved().truth_cell_m == 4.0
    assert SynthConfig(gsd_m=3.0, scenes=4, size_px=400).resolved().truth_cell_m == 8.0
    with pytest.raises(ValueError, match="under two ground pixels"):
        SynthConfig(gsd_m=2.0, truth_cell_m=3.0, scenes=4, size_px=400)
