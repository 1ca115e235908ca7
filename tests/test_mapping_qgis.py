"""The map products open styled in QGIS (system PyQGIS; skipped where it is absent)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from mapping_fixtures import LEFT, TOP, ColourPredictor, lcz_rgb, split_scene, write_districts

from sunet.lcz import by_code
from sunet.mapping import MapConfig, map_districts

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).parent / "qgis" / "check_outputs.py"
SUGGESTIONS_SCRIPT = Path(__file__).parent / "qgis" / "check_suggestions.py"
PROJECT_SCRIPT = Path(__file__).parent / "qgis" / "check_project.py"


def _system_python(script: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [SYSTEM_PYTHON, str(script), *args],
        capture_output=True,
        text=True,
        env={**env, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(cwd)},
        cwd=cwd,
        timeout=300,
    )


def _has_pyqgis() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"],
        capture_output=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        timeout=120,
    )
    return probe.returncode == 0


def two_district_map(tmp_path: Path) -> Path:
    """A map of two districts (LCZ 2 west, LCZ G east) into ``tmp_path / "out"``."""
    scene = split_scene(tmp_path / "scene.tif", left_code=2, right_code=17)
    districts = write_districts(
        tmp_path / "districts.gpkg",
        {"Old Town": (LEFT + 32, TOP - 480, LEFT + 240, TOP - 32),
         "Riverside": (LEFT + 240, TOP - 480, LEFT + 496, TOP - 200)},
    )  # fmt: skip
    out = tmp_path / "out"
    config = MapConfig(scenes=[scene], districts=districts, out=out, progress=False)
    map_districts(config, ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)}))
    return out


@pytest.mark.qgis
@pytest.mark.skipif(not _has_pyqgis(), reason="system python3 cannot import qgis.core")
def test_outputs_open_valid_and_styled_in_qgis(tmp_path: Path) -> None:
    out = two_district_map(tmp_path)

    proc = _system_python(SCRIPT, [str(out)], tmp_path)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert lines, proc.stderr[-2000:]
    failed = [x for x in lines[:-1] if not x["ok"]]
    assert not failed, failed
    assert lines[-1] == {"checked": 3 * 6, "failed": 0}
    assert proc.returncode == 0


@pytest.mark.qgis
@pytest.mark.skipif(not _has_pyqgis(), reason="system python3 cannot import qgis.core")
def test_suggestions_open_styled_and_labelled_in_qgis(tmp_path: Path) -> None:
    from sunet.mapping.suggest import SuggestConfig, suggest

    scene = split_scene(tmp_path / "scene.tif", left_code=2, right_code=17)
    districts = write_districts(
        tmp_path / "districts.gpkg", {"All": (LEFT, TOP - 512, LEFT + 512, TOP)}
    )
    out = tmp_path / "out"
    config = MapConfig(scenes=[scene], districts=districts, out=out, progress=False)
    map_districts(config, ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)}))
    suggest(SuggestConfig(map=out, n=5, out=tmp_path / "s.gpkg", use_model=False))
    proc = _system_python(SUGGESTIONS_SCRIPT, [str(tmp_path / "s.gpkg")], tmp_path)
    (line,) = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert line["ok"] and line["features"] == 5 and line["label_field"] == "rank", line


@pytest.mark.slow
@pytest.mark.qgis
@pytest.mark.skipif(not _has_pyqgis(), reason="system python3 cannot import qgis.core")
def test_project_opens_styled_and_draws_after_moving_the_folder(tmp_path: Path) -> None:
    two_district_map(tmp_path)
    # Moved, not copied: nothing is left at the old place for an absolute path to find.
    moved = tmp_path / "elsewhere" / "lcz map"
    moved.parent.mkdir()
    shutil.move(tmp_path / "out", moved)

    png = tmp_path / "project.png"
    proc = _system_python(PROJECT_SCRIPT, [str(moved / "lcz_map.qgz"), str(png)], tmp_path)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert lines, proc.stderr[-2000:]
    *layers, summary = lines
    assert not [x for x in layers if not x["ok"]], layers
    assert summary["read"] and summary["relative"]
    assert summary["checked"] == 3 * 6 and summary["failed"] == 0
    assert summary["groups"] == ["City", "Old Town", "Riverside"]
    assert len(summary["shown"]) == 1  # the city's dominant LCZ
    # Every abundance band is a named style; switching to LCZ A shows band 11.
    assert summary["abundance"] == [{"styles": 17, "current_band": 2, "switched": True, "band": 11}]
    # The image shows the two mapped classes in their palette colours.
    assert {by_code(2).colour.lower(), by_code(17).colour.lower()} <= set(summary["colours"])
    assert png.stat().st_size > 0
    assert proc.returncode == 0
