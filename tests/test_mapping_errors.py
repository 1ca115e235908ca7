"""Bad input stops the run with one line that names the file and the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from mapping_fixtures import (
    LEFT,
    TOP,
    ColourPredictor,
    lcz_rgb,
    split_scene,
    write_districts,
    write_scene,
)

from sunet.cli import main
from sunet.mapping import MapConfig, map_districts

INSIDE = (LEFT + 64, TOP - 256, LEFT + 256, TOP - 64)


def _predictor(**kw: object) -> ColourPredictor:
    return ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)}, **kw)  # type: ignore[arg-type]


def _config(tmp_path: Path, scene: Path, districts: Path, **kw: object) -> MapConfig:
    kw.setdefault("out", tmp_path / "out")
    return MapConfig(scenes=[scene], districts=districts, progress=False, **kw)  # type: ignore[arg-type]


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_district_that_no_scene_covers(tmp_path: Path) -> None:
    scene = split_scene(tmp_path / "scene.tif", 2, 17)
    far = (LEFT + 5000, TOP - 5000, LEFT + 5200, TOP - 4800)
    districts = write_districts(tmp_path / "d.gpkg", {"Inside": INSIDE, "Far Away": far})
    with pytest.raises(ValueError) as err:
        map_districts(_config(tmp_path, scene, districts), _predictor())
    msg = _one_line(err)
    assert "d.gpkg" in msg and "'Far Away'" in msg and "not covered by any scene" in msg
    assert not (tmp_path / "out" / "inside").exists()


def test_districts_without_crs(tmp_path: Path) -> None:
    scene = split_scene(tmp_path / "scene.tif", 2, 17)
    districts = write_districts(tmp_path / "d.gpkg", {"A": INSIDE}, crs=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError) as err:
        map_districts(_config(tmp_path, scene, districts), _predictor())
    assert "d.gpkg" in _one_line(err) and "no CRS" in str(err.value)


def test_missing_district_field(tmp_path: Path) -> None:
    scene = split_scene(tmp_path / "scene.tif", 2, 17)
    districts = write_districts(tmp_path / "d.gpkg", {"A": INSIDE}, field="district_name")
    with pytest.raises(ValueError) as err:
        map_districts(_config(tmp_path, scene, districts), _predictor())
    msg = _one_line(err)
    assert "no district field 'name'" in msg and "district_name" in msg


def test_scene_without_the_bands_the_model_needs(tmp_path: Path) -> None:
    scene = split_scene(tmp_path / "scene.tif", 2, 17)
    districts = write_districts(tmp_path / "d.gpkg", {"A": INSIDE})
    with pytest.raises(ValueError) as err:
        map_districts(_config(tmp_path, scene, districts, bands=[1, 2, 4]), _predictor())
    assert "scene.tif" in _one_line(err) and "has 3 band(s)" in str(err.value)
    with pytest.raises(ValueError) as err:
        map_districts(_config(tmp_path, scene, districts, bands=[1, 2]), _predictor())
    assert "takes 3 bands" in _one_line(err)


def test_scene_coarser_than_the_model_gsd(tmp_path: Path) -> None:
    paint = np.full((3, 64, 64), 200, dtype=np.uint8)
    coarse = write_scene(tmp_path / "coarse.tif", paint, Affine(10.0, 0, LEFT, 0, -10.0, TOP))
    districts = write_districts(tmp_path / "d.gpkg", {"A": INSIDE})
    with pytest.raises(ValueError) as err:
        map_districts(_config(tmp_path, coarse, districts), _predictor())
    msg = _one_line(err)
    assert "coarse.tif" in msg and "10.00 m" in msg and "coarser" in msg


def test_stride_must_divide_the_patch(tmp_path: Path) -> None:
    scene = split_scene(tmp_path / "scene.tif", 2, 17)
    districts = write_districts(tmp_path / "d.gpkg", {"A": INSIDE})
    with pytest.raises(ValueError) as err:
        map_districts(_config(tmp_path, scene, districts, stride=12), _predictor())
    assert "--stride 12" in _one_line(err)


def test_cli_reports_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scene = split_scene(tmp_path / "scene.tif", 2, 17)
    districts = write_districts(tmp_path / "d.gpkg", {"A": INSIDE})
    code = main(
        ["map", "--model", str(tmp_path / "missing.safetensors"), "--scenes", str(scene),
         "--districts", str(districts), "--out", str(tmp_path / "out"), "--no-progress"]
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("lcz-map map: error: ") and "missing.safetensors" in err
    assert "\n" not in err


def test_base_map_must_be_finished_and_match_the_run(tmp_path: Path) -> None:
    scene = split_scene(tmp_path / "scene.tif", 2, 17)
    districts = write_districts(tmp_path / "d.gpkg", {"A": INSIDE})
    area = write_districts(tmp_path / "area.gpkg", {"changed": INSIDE})
    with pytest.raises(ValueError, match="base and update_area go together"):
        _config(tmp_path, scene, districts, base=tmp_path / "old")
    with pytest.raises(FileNotFoundError) as err:
        map_districts(
            _config(tmp_path, scene, districts, base=tmp_path / "old", update_area=area),
            _predictor(),
        )
    assert "old: not a finished map" in _one_line(err)
    map_districts(_config(tmp_path, scene, districts, out=tmp_path / "old"), _predictor())
    # Another stride gives another grid and window placement: its cells cannot be reused.
    with pytest.raises(ValueError) as err:
        map_districts(
            _config(tmp_path, scene, districts, base=tmp_path / "old", update_area=area, stride=8),
            _predictor(),
        )
    assert "old: made with a different grid, stride; map in full instead" in _one_line(err)
    assert not (tmp_path / "out" / "a").exists()
