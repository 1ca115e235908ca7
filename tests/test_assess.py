"""``lcz-map assess``: any map against reference polygons, with polygon-bootstrap intervals."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from sunet.cli import main
from sunet.evaluation.assess import AssessConfig, assess

# A 20 x 20 map of 100 m cells in UTM 50N: the west half LCZ 2, the east half LCZ A (code 11),
# the last column unmapped.
ORIGIN = (500_000.0, 3_400_000.0)
CELL = 100.0


@pytest.fixture()
def dominant(tmp_path: Path) -> Path:
    codes = np.full((20, 20), 2, dtype=np.uint8)
    codes[:, 10:] = 11
    codes[:, 19] = 0
    path = tmp_path / "map" / "city" / "lcz_dominant.tif"
    path.parent.mkdir(parents=True)
    with rasterio.open(
        path, "w", driver="GTiff", width=20, height=20, count=1, dtype="uint8", nodata=0,
        crs="EPSG:32650", transform=Affine(CELL, 0, ORIGIN[0], 0, -CELL, ORIGIN[1]),
    ) as dst:  # fmt: skip
        dst.write(codes, 1)
    return tmp_path / "map"


def _cells(c0: int, r0: int, c1: int, r1: int) -> object:
    """A polygon covering map cells [c0, c1) x [r0, r1)."""
    x0, y0 = ORIGIN
    return box(x0 + c0 * CELL, y0 - r1 * CELL, x0 + c1 * CELL, y0 - r0 * CELL)


def _reference(tmp_path: Path, rows: list[tuple[object, str]]) -> Path:
    frame = gpd.GeoDataFrame(
        {"klasse": [label for _, label in rows]}, geometry=[g for g, _ in rows], crs=32650
    ).to_crs(4326)  # reference in another CRS than the map
    path = tmp_path / "reference.gpkg"
    frame.to_file(path, layer="ref")
    return path


def test_figures_count_cells_and_intervals_resample_polygons(
    dominant: Path, tmp_path: Path
) -> None:
    reference = _reference(
        tmp_path,
        [
            (_cells(0, 0, 4, 4), "LCZ 2"),  # 16 cells, right
            (_cells(5, 5, 9, 9), "2"),  # 16 cells, right
            (_cells(12, 0, 16, 4), "A"),  # 16 cells, right
            (_cells(12, 10, 16, 12), "lcz_2"),  # 8 cells mapped A: wrong
            (_cells(17, 14, 20, 16), "A"),  # 4 mapped cells right, 2 unmapped
        ],
    )
    result = assess(
        AssessConfig(map=dominant, reference=reference, field="klasse", out=tmp_path / "a")
    )
    assert result.cells == 16 * 3 + 8 + 4
    assert result.cells_unmapped == 2
    assert result.polygons == 5 and result.polygons_outside == 0
    assert result.figures["oa"] == pytest.approx(52 / 60)
    assert result.figures["oa_builtnatural"] == pytest.approx(52 / 60)
    lcz2 = next(c for c in result.classes if c["letter"] == "2")
    assert lcz2["cells"] == 40 and lcz2["polygons"] == 3
    assert lcz2["recall"] == pytest.approx(32 / 40) and lcz2["precision"] == pytest.approx(1.0)
    low, high = result.intervals["oa"]
    assert low < result.figures["oa"] < high
    # Resampling the three LCZ 2 polygons: OA ranges from all-wrong draws to all-right ones.
    assert low < 0.8 and high > 0.9
    written = json.loads((tmp_path / "a" / "assessment.json").read_text())
    assert written["figures"]["oa"] == pytest.approx(52 / 60)
    assert np.asarray(written["confusion"])[1, 10] == 8
    classes_csv = (tmp_path / "a" / "assessment_classes.csv").read_text().splitlines()
    assert classes_csv[0].startswith("code,letter,name,cells,polygons,mapped_cells,precision")
    assert (tmp_path / "a" / "confusion.png").stat().st_size > 1000


def test_the_same_numbers_for_a_plain_raster(dominant: Path, tmp_path: Path) -> None:
    reference = _reference(tmp_path, [(_cells(0, 0, 4, 4), "2"), (_cells(12, 0, 16, 4), "B")])
    folder = assess(AssessConfig(map=dominant, reference=reference, field="klasse",
                                 out=tmp_path / "a", bootstrap=50))  # fmt: skip
    raster = assess(AssessConfig(map=dominant / "city" / "lcz_dominant.tif", reference=reference,
                                 field="klasse", out=tmp_path / "b", bootstrap=50))  # fmt: skip
    assert folder.figures == raster.figures and folder.intervals == raster.intervals
    assert folder.figures["oa"] == pytest.approx(0.5)


def test_bad_input_gets_one_line(
    dominant: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    far = _reference(tmp_path, [(_cells(40, 40, 44, 44), "2")])
    code = main(["assess", "--map", str(dominant), "--reference", str(far), "--field", "klasse",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no reference polygon overlaps a mapped cell" in err
    assert len(err.splitlines()) == 1 and str(far) in err
    assert not (tmp_path / "o").exists()
    code = main(["assess", "--map", str(dominant), "--reference", str(far), "--out",
                 str(tmp_path / "o")])  # fmt: skip
    assert code == 2 and "no field 'lcz'" in capsys.readouterr().err
    code = main(["assess", "--map", str(tmp_path), "--reference", str(far), "--field", "klasse",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2 and "holds no lcz_dominant.tif" in capsys.readouterr().err
    bad = _reference(tmp_path, [(_cells(0, 0, 4, 4), "LCZ 99")])
    code = main(["assess", "--map", str(dominant), "--reference", str(bad), "--field", "klasse",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2 and "99" in capsys.readouterr().err


def test_command_prints_the_figures(
    dominant: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = _reference(tmp_path, [(_cells(0, 0, 4, 4), "2"), (_cells(12, 0, 16, 4), "2")])
    code = main(["assess", "--map", str(dominant), "--reference", str(reference), "--field",
                 "klasse", "--out", str(tmp_path / "o"), "--bootstrap", "20"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "32 cells in 2 reference polygons" in out
    assert "oa               0.500" in out
