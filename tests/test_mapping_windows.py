"""Window placement, weighting and the scene mosaic: where the map puts each class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from mapping_fixtures import (
    LEFT,
    TOP,
    UTM,
    ColourPredictor,
    lcz_rgb,
    split_scene,
    write_districts,
    write_scene,
)
from pyproj import CRS
from rasterio.warp import transform_bounds

from sunet.lcz import NUM_CLASSES
from sunet.mapping import MapConfig, map_districts
from sunet.mapping.accumulate import ABUNDANCE_NODATA, CellAccumulator, RunResult
from sunet.mapping.windows import (
    MapGrid,
    affected_cells,
    plan_batches,
    runnable_windows,
    window_weights,
)

BOUNDARY = LEFT + 256  # x where the split scene changes colour (a cell edge)


def _map(tmp_path: Path, scenes: list[Path], boxes: dict, **kw) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    districts = write_districts(tmp_path / "districts.gpkg", boxes)
    pred = kw.pop("predictor", None) or ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)})
    config = MapConfig(
        scenes=scenes, districts=districts, out=tmp_path / "out", progress=False, **kw
    )
    map_districts(config, pred)
    return tmp_path / "out"


@pytest.mark.parametrize("stride", [16, 8])
def test_dominant_class_switches_at_the_boundary_cell(tmp_path: Path, stride: int) -> None:
    scene = split_scene(tmp_path / "scene.tif", left_code=2, right_code=17)
    box = (LEFT + 64, TOP - 448, LEFT + 448, TOP - 64)
    out = _map(tmp_path, [scene], {"Centre": box}, stride=stride)
    with rasterio.open(out / "centre" / "lcz_dominant.tif") as ds:
        dominant = ds.read(1)
        assert ds.res == (stride, stride)
        rows, cols = np.nonzero(dominant > 0)
        r = int(np.median(rows))
        xs = np.array([ds.xy(r, c, offset="ul")[0] for c in range(ds.width)])
        line = dominant[r]
    mapped = line > 0
    # Every mapped cell west of the boundary is class 2, every one east of it class 17 ...
    assert np.all(line[mapped & (xs < BOUNDARY)] == 2)
    assert np.all(line[mapped & (xs >= BOUNDARY)] == 17)
    # ... and the switch happens exactly at the cell whose west edge is the boundary.
    switch = int(np.flatnonzero(line == 17)[0])
    assert xs[switch] == pytest.approx(BOUNDARY)
    assert line[switch - 1] == 2


def test_cell_abundances_average_the_covering_windows(tmp_path: Path) -> None:
    # P = 32, stride 16: each cell is covered by 2 x 2 windows. West of the boundary, a cell
    # whose windows all lie west is pure; the cell touching the boundary has two pure windows and
    # two half-and-half ones: 0.75 / 0.25.
    scene = split_scene(tmp_path / "scene.tif", left_code=2, right_code=17)
    out = _map(tmp_path, [scene], {"Centre": (LEFT + 64, TOP - 448, LEFT + 448, TOP - 64)})
    with rasterio.open(out / "centre" / "lcz_abundance.tif") as ds:
        r, _ = ds.index(LEFT + 200, TOP - 200)
        c_left, c_touch = (ds.index(x, TOP - 200)[1] for x in (BOUNDARY - 24, BOUNDARY - 8))
        c_right = ds.index(BOUNDARY + 8, TOP - 200)[1]
        a = ds.read()
    assert a[1, r, c_left] == pytest.approx(1.0)
    assert a[1, r, c_touch] == pytest.approx(0.75)
    assert a[16, r, c_touch] == pytest.approx(0.25)
    assert a[16, r, c_right] == pytest.approx(0.75)


def test_cells_without_imagery_are_nodata_but_edge_cells_are_mapped(tmp_path: Path) -> None:
    scene = split_scene(tmp_path / "scene.tif", left_code=2, right_code=17)  # x < LEFT + 512
    # The district runs 128 m past the scene's east edge.
    box = (LEFT + 256, TOP - 256, LEFT + 640, TOP)
    out = _map(tmp_path, [scene], {"East": box})
    with rasterio.open(out / "east" / "lcz_dominant.tif") as ds:
        dom = ds.read(1)
        # The district's north-west corner cell (an edge of its bounding box) is mapped ...
        assert dom[ds.index(LEFT + 256 + 8, TOP - 8)] == 17
        # ... so is the last cell column with imagery, and nothing beyond it.
        r = ds.index(LEFT + 300, TOP - 100)[0]
        assert dom[r, ds.index(LEFT + 512 - 8, TOP - 100)[1]] == 17
        assert dom[r, ds.index(LEFT + 512 + 8, TOP - 100)[1]] == 0
    with rasterio.open(out / "east" / "lcz_abundance.tif") as ds:
        a = ds.read()
        nodata = a[0] == ABUNDANCE_NODATA
        assert np.all(a[:, nodata] == ABUNDANCE_NODATA)
        assert np.allclose(a[:, ~nodata].sum(axis=0), 1.0, atol=1e-5)


def test_windows_with_too_little_imagery_are_skipped(tmp_path: Path) -> None:
    scene = split_scene(tmp_path / "scene.tif", left_code=2, right_code=17)
    pred = ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)})
    out = _map(
        tmp_path, [scene], {"East": (LEFT + 256, TOP - 256, LEFT + 640, TOP)},
        predictor=pred, min_window_valid=0.9,
    )  # fmt: skip
    config = (out / "config.json").read_text()
    assert '"min_window_valid": 0.9' in config
    with rasterio.open(out / "east" / "lcz_dominant.tif") as ds:
        dom = ds.read(1)
        total_windows = (ds.height + 1) * (ds.width + 1)
    # Windows wholly or mostly east of x = LEFT + 512 never reached the model.
    assert pred.seen < total_windows
    assert (dom == 0).any() and (dom == 17).any()


def test_first_scene_given_wins_where_scenes_overlap(tmp_path: Path) -> None:
    size = 256
    west = np.zeros((3, size, size // 2), dtype=np.uint8)
    west[:] = np.array(lcz_rgb(2), dtype=np.uint8)[:, None, None]
    a = write_scene(tmp_path / "a_west.tif", west, Affine(1, 0, LEFT, 0, -1, TOP))
    # A EPSG:3857 scene of the other class covering everything, ~1 m on the ground.
    l3857, b3857, r3857, t3857 = transform_bounds(
        UTM, "EPSG:3857", LEFT - 50, TOP - size - 50, LEFT + size + 50, TOP + 50
    )
    res = 1.1
    w, h = int((r3857 - l3857) / res), int((t3857 - b3857) / res)
    water = np.zeros((3, h, w), dtype=np.uint8)
    water[:] = np.array(lcz_rgb(17), dtype=np.uint8)[:, None, None]
    b = write_scene(
        tmp_path / "b_all.tif", water, Affine(res, 0, l3857, 0, -res, t3857), crs="EPSG:3857"
    )
    box = {"All": (LEFT, TOP - size, LEFT + size, TOP)}

    first_a = _map(tmp_path / "ab", [a, b], box)
    first_b = _map(tmp_path / "ba", [b, a], box)
    with rasterio.open(first_a / "all" / "lcz_dominant.tif") as ds:
        dom = ds.read(1)
        west_col = ds.index(LEFT + 40, TOP - 100)[1]
        east_col = ds.index(LEFT + 200, TOP - 100)[1]
        assert set(np.unique(dom[:, west_col])) == {2}
        assert set(np.unique(dom[:, east_col])) == {17}
    with rasterio.open(first_b / "all" / "lcz_dominant.tif") as ds:
        assert set(np.unique(ds.read(1))) <= {0, 17}


def test_every_cell_is_covered_by_k_squared_windows() -> None:
    mask = np.zeros((5, 7), dtype=bool)
    mask[1:4, 2:6] = True
    k = 4
    run = runnable_windows(mask, k)
    assert run.shape == (5 + k - 1, 7 + k - 1)
    cover = np.zeros((5 + 2 * (k - 1), 7 + 2 * (k - 1)), dtype=int)
    for a, b in zip(*np.nonzero(run), strict=True):
        cover[a : a + k, b : b + k] += 1
    inner = cover[k - 1 : k - 1 + 5, k - 1 : k - 1 + 7]
    assert np.all(inner[mask] == k * k)
    # The plan visits each runnable window once, in row-major order, in full batches of 3 (the
    # last may be short) packed across window rows.
    batches = list(plan_batches(run, k, batch_size=3))
    assert [b.n for b in batches[:-1]] == [3] * (len(batches) - 1) and batches[-1].n <= 3
    visited = [(r.row + k - 1, r.col + k - 1 + t) for b in batches for r in b.runs
               for t in range(r.n)]  # fmt: skip
    assert visited == [tuple(x) for x in np.argwhere(run)]


def test_tent_weights_favour_windows_centred_on_the_cell(tmp_path: Path) -> None:
    w2 = window_weights(2, "tent")
    assert np.allclose(w2, w2[0, 0])  # default stride: proportional to uniform
    w = window_weights(4, "tent")
    assert np.allclose(w, np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25]))
    # End to end at stride 8 (k = 4): the cell one west of the boundary-touching cell sees
    # windows with class-2 shares 1/2, 3/4, 1, 1 at kernel positions 0..3:
    # tent (0.25*.5 + .75*.75 + .75*1 + .25*1) / 2 = 0.84375, uniform 0.8125.
    scene = split_scene(tmp_path / "scene.tif", left_code=2, right_code=17)
    box = {"Centre": (LEFT + 64, TOP - 448, LEFT + 448, TOP - 64)}
    for kind, expected in (("tent", 0.84375), ("uniform", 0.8125)):
        out = _map(tmp_path / kind, [scene], box, stride=8, weighting=kind)
        with rasterio.open(out / "centre" / "lcz_abundance.tif") as ds:
            r, c = ds.index(BOUNDARY - 12, TOP - 200)
            assert ds.read(2)[r, c] == pytest.approx(expected)


def test_accumulator_emits_each_row_once_in_order() -> None:
    k, h, w = 2, 3, 4
    mask = np.ones((h, w), dtype=bool)
    acc = CellAccumulator(mask, window_weights(k, "uniform"), min_cell_valid=0.5)
    rows = []
    one_hot = np.zeros((w + 1, NUM_CLASSES), dtype=np.float32)
    one_hot[:, 4] = 1.0
    for row in range(-1, h):
        result = RunResult(one_hot, np.ones((k, w + 1 + k - 1), dtype=np.float32))
        rows += list(acc.add(row, -1, result))
    rows += list(acc.finish())
    assert [r.row for r in rows] == list(range(h))
    assert all(np.allclose(r.abundances[4], 1.0) for r in rows)


@pytest.mark.parametrize("k", [2, 4])
def test_affected_cells_are_those_covered_by_a_window_touching_the_area(k: int) -> None:
    # Brute force: list every window of the grid, keep those whose footprint meets the area,
    # and mark the cells they cover.
    grid = MapGrid.covering(
        CRS.from_user_input(UTM), 1.0, 8, 8 * k, (LEFT, TOP - 160, LEFT + 240, TOP)
    )
    area = shapely.Polygon([(LEFT + 50, TOP - 30), (LEFT + 130, TOP - 70), (LEFT + 60, TOP - 110)])
    s = grid.cell_size
    left, _, _, top = grid.bounds
    expected = np.zeros((grid.height, grid.width), dtype=bool)
    for a in range(-(k - 1), grid.height):
        for b in range(-(k - 1), grid.width):
            footprint = shapely.box(
                left + b * s, top - (a + k) * s, left + (b + k) * s, top - a * s
            )
            if footprint.intersects(area):
                expected[max(a, 0) : a + k, max(b, 0) : b + k] = True
    got = affected_cells(grid, area)
    np.testing.assert_array_equal(got, expected)
    assert 0 < got.sum() < got.size
    assert not affected_cells(grid, shapely.Polygon()).any()
