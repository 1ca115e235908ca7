"""Change reports between map versions (sunet.operations.changes)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from affine import Affine

from sunet.operations.changes import compare_rasters, transition_matrix, write_change_report

CELL = 10.0  # m
ORIGIN = (300_000.0, 3_400_000.0)


def _dominant(
    write_scene: Callable[..., Path], path: Path, codes: np.ndarray, col0: int = 0
) -> Path:
    t = Affine(CELL, 0, ORIGIN[0] + col0 * CELL, 0, -CELL, ORIGIN[1])
    return write_scene(
        path, crs="EPSG:32650", transform=t, data=codes[None].astype(np.uint8), nodata=0
    )


def test_transition_matrix_counts_pairs_and_skips_nodata() -> None:
    before = np.array([[1, 1, 2], [0, 17, 5]])
    after = np.array([[1, 4, 2], [3, 17, 0]])
    m = transition_matrix(before, after)
    assert m.shape == (17, 17)
    assert m[0, 0] == 1 and m[0, 3] == 1 and m[1, 1] == 1 and m[16, 16] == 1
    assert m.sum() == 4  # the two cells with nodata on either side are left out


def test_compare_rasters_aligns_shifted_grids(
    tmp_path: Path, write_scene: Callable[..., Path]
) -> None:
    before = np.full((4, 6), 2, dtype=np.uint8)
    after = np.full((4, 4), 2, dtype=np.uint8)
    after[0, :] = 11  # one row became dense trees
    # 'after' starts two cells east of 'before': cells must be compared by location, not index.
    b = _dominant(write_scene, tmp_path / "b.tif", before)
    a = _dominant(write_scene, tmp_path / "a.tif", after, col0=2)
    change = compare_rasters(b, a, "Hanyang")
    assert change.matrix.sum() == 16
    assert change.matrix[1, 10] == 4
    assert change.changed_m2 == 4 * CELL * CELL
    assert change.changed_share == 0.25


def test_report_files(tmp_path: Path, write_scene: Callable[..., Path]) -> None:
    grid = np.array([[1, 2], [2, 2]], dtype=np.uint8)
    later = np.array([[1, 6], [6, 2]], dtype=np.uint8)
    change = compare_rasters(
        _dominant(write_scene, tmp_path / "b.tif", grid),
        _dominant(write_scene, tmp_path / "a.tif", later),
        "Wuchang",
    )
    md = write_change_report({"Wuchang": change}, tmp_path / "changes", "v0001", "v0002")
    rows = list(csv.DictReader((tmp_path / "changes" / "transitions.csv").open()))
    moved = [r for r in rows if r["from_lcz"] == "2" and r["to_lcz"] == "6"]
    assert moved and moved[0]["cells"] == "2" and float(moved[0]["area_m2"]) == 200.0
    doc = json.loads((tmp_path / "changes" / "changes.json").read_text())
    assert doc["districts"]["Wuchang"]["changed_m2"] == 200.0
    assert doc["before"] == "v0001" and len(doc["districts"]["Wuchang"]["matrix"]) == 17
    summary = list(csv.DictReader((tmp_path / "changes" / "summary.csv").open()))
    assert summary[0]["district"] == "Wuchang" and float(summary[0]["changed_share"]) == 0.5
    assert "LCZ 2 Compact mid-rise" in md.read_text()
