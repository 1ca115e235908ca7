"""Grid maths: the patch grid shared by tiling and mapping."""

from __future__ import annotations

from pyproj import CRS

from sunet.geo.grid import PatchGrid, window_transform

UTM50N = CRS.from_epsg(32650)


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
