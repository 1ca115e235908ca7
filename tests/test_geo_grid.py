"""Grid maths: CRS choice and the patch grid shared by tiling and mapping."""

from __future__ import annotations

import pytest
from pyproj import CRS

from sunet.geo.grid import PatchGrid, resolve_crs, utm_crs, window_transform

UTM50N = CRS.from_epsg(32650)


def test_auto_crs_is_the_utm_zone_of_the_data() -> None:
    assert resolve_crs("auto", (114.1, 30.4, 114.5, 30.8)).to_epsg() == 32650  # Wuhan
    assert resolve_crs("auto", (-43.3, -23.0, -43.1, -22.8)).to_epsg() == 32723  # Rio
    assert utm_crs(180.0, 0.0).to_epsg() == 32660
    assert resolve_crs("EPSG:32650", (0, 0, 1, 1)) == UTM50N


@pytest.mark.parametrize("spec", ["EPSG:4326", "not-a-crs", "EPSG:2263"])
def test_non_metric_or_unknown_crs_is_refused(spec: str) -> None:
    # EPSG:2263 is projected but in US feet.
    with pytest.raises(ValueError, match="--crs"):
        resolve_crs(spec, (114.1, 30.4, 114.5, 30.8))


def test_cells_sit_on_multiples_of_the_cell_size() -> None:
    grid = PatchGrid(UTM50N, gsd=0.5, patch=128)
    assert grid.cell_size == 64.0
    row, col = grid.cell_of(223_010.0, 3_388_001.0)
    left, bottom, right, top = grid.cell_bounds(row, col)
    assert (left, right) == (222_976.0, 223_040.0)
    assert (bottom, top) == (3_387_968.0, 3_388_032.0)
    assert left <= 223_010.0 < right and bottom < 3_388_001.0 <= top
    # Row grows southwards.
    assert grid.cell_bounds(row + 1, col)[3] == bottom
    t = grid.cell_transform(row, col)
    assert t @ (0, 0) == (left, top)
    assert t @ (128, 128) == (right, bottom)
    assert window_transform(left, top, 0.5) == t


def test_overlapping_extents_give_the_same_cells() -> None:
    grid = PatchGrid(UTM50N, gsd=1.0, patch=100)
    a = set(grid.cells_covering((1_030.0, -520.0, 1_410.0, -95.0)))
    b = set(grid.cells_covering((1_250.0, -700.0, 1_700.0, -300.0)))
    shared = a & b
    assert shared == {(r, c) for r in (3, 4, 5) for c in (12, 13, 14)}
    for row, col in shared:
        assert grid.cell_bounds(row, col) == (
            col * 100.0,
            -(row + 1) * 100.0,
            (col + 1) * 100.0,
            -row * 100.0,
        )


def test_bounds_on_cell_edges_add_no_sliver_cells() -> None:
    grid = PatchGrid(UTM50N, gsd=1.0, patch=256)
    cells = grid.cells_covering((512.0 + 1e-9, -768.0, 1024.0 - 1e-9, -256.0))
    assert cells == [(1, 2), (1, 3), (2, 2), (2, 3)]
    assert grid.cells_covering((10.0, 10.0, 10.0, 20.0)) == []
