"""``lcz-map tile``: the command line, its table, and one-line errors for every kind of bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from pyproj import CRS, Transformer
from shapely.geometry import Polygon, box

from sunet.cli import main
from sunet.geo.grid import window_transform

UTM50N = CRS.from_epsg(32650)
WUHAN = (114.30, 30.59)


def _utm_box(half: float, dx: float = 0.0) -> Polygon:
    x, y = Transformer.from_crs(4326, UTM50N, always_xy=True).transform(*WUHAN)
    return box(x + dx - half, y - half, x + dx + half, y + half)


@pytest.fixture
def inputs(
    tmp_path: Path, scene_at: Callable[..., Path], write_labels: Callable[..., Path]
) -> dict[str, Path]:
    scene = scene_at(tmp_path / "scenes" / "a.tif", crs=3857, size_px=160, seed=1)
    left, right = (
        _utm_box(80).difference(_utm_box(80, dx=80)),
        _utm_box(80).intersection(_utm_box(80, dx=80)),
    )
    labels = write_labels(tmp_path / "labels.gpkg", [left, right], ["LCZ 8", "d"])
    return {"scene": scene, "labels": labels, "root": tmp_path}


def _tile(*args: str | Path) -> list[str]:
    """``lcz-map tile`` arguments; patches of 32 px unless ``--patch`` is given again."""
    return ["tile", "--patch", "32", *[str(a) for a in args]]


def test_cli_writes_the_store_and_prints_the_table(
    inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = inputs["root"] / "out"
    scenes_glob = inputs["root"] / "scenes" / "*.tif"
    code = main(_tile("--scenes", scenes_glob, "--labels", inputs["labels"], "--out", out,
                      "--patch", "32", "--block", "1", "--crs", "EPSG:32650"))  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "LCZ 8 Large low-rise" in printed and "LCZ D Low plants" in printed
    report = json.loads((out / "report.json").read_text())
    index = gpd.read_parquet(out / "index.parquet")
    assert report["patches"] == len(index) > 0
    assert sum(report["dropped"].values()) + len(index) == report["cells_seen"]
    assert json.loads((out / "config.json").read_text())["crs"] == "EPSG:32650"


def _error_of(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lcz-map tile: error: ") and "\n" not in err
    return err


def test_bad_scenes_give_one_line_errors_naming_the_file(
    inputs: dict[str, Path],
    write_scene: Callable[..., Path],
    scene_at: Callable[..., Path],
    make_texture: Callable[..., np.ndarray],
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, labels = inputs["root"], inputs["labels"]
    bad = root / "bad"
    (bad / "text.tif").parent.mkdir()
    (bad / "text.tif").write_text("GeoTIFF? no")
    write_scene(
        bad / "nocrs.tif", crs=None, transform=window_transform(10, 20, 1.0), data=make_texture(64)
    )
    full = scene_at(bad / "full.tif", crs=3857, size_px=160, compress="none")
    (bad / "cut.tif").write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    scene_at(bad / "tiny.tif", crs=3857, size_px=20)
    problems = {"text.tif": "not a readable raster", "nocrs.tif": "no CRS",
                "cut.tif": "truncated", "tiny.tif": "less than one patch"}  # fmt: skip
    for name, problem in problems.items():
        err = _error_of(
            _tile("--scenes", bad / name, "--labels", labels, "--out", root / "o", "--patch", "32"),
            capsys,
        )
        assert name in err and problem in err, err
    err = _error_of(
        _tile("--scenes", root / "nowhere", "--labels", labels, "--out", root / "o"), capsys
    )
    assert "nowhere" in err
    err = _error_of(
        _tile(
            "--scenes",
            inputs["scene"],
            "--labels",
            labels,
            "--out",
            root / "o",
            "--patch",
            "32",
            "--bands",
            "1,2,5",
        ),
        capsys,
    )
    assert "a.tif" in err and "band" in err
    assert not (root / "o" / "index.parquet").exists()


def test_bad_labels_give_one_line_errors_naming_the_file(
    inputs: dict[str, Path], write_labels: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, scene = inputs["root"], inputs["scene"]
    unknown = write_labels(root / "unknown.gpkg", [_utm_box(50)] * 3, ["5", "LCZ 12", "Z"])
    err = _error_of(_tile("--scenes", scene, "--labels", unknown, "--out", root / "o"), capsys)
    assert "unknown.gpkg" in err and "'LCZ 12'" in err and "'Z'" in err and "'5'" not in err
    far = write_labels(root / "far.gpkg", [_utm_box(50, dx=50_000)], ["5"])
    err = _error_of(_tile("--scenes", scene, "--labels", far, "--out", root / "o"), capsys)
    assert "far.gpkg" in err and "overlaps" in err
    err = _error_of(
        _tile("--scenes", scene, "--labels", far, "--label-field", "class", "--out", root / "o"),
        capsys,
    )
    assert "far.gpkg" in err and "'class'" in err


def test_invalid_label_geometries_are_repaired_and_counted(
    inputs: dict[str, Path], write_labels: Callable[..., Path]
) -> None:
    root = inputs["root"]
    square = _utm_box(80)
    x0, y0, x1, y1 = square.bounds
    bowtie = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # self-intersecting
    sliver = Polygon([(x0, y0), (x1, y1), (x0, y0)])  # no area at all
    labels = write_labels(root / "invalid.gpkg", [bowtie, sliver], ["1", "2"])
    out = root / "out"
    assert main(_tile("--scenes", inputs["scene"], "--labels", labels, "--out", out, "--patch", "32",
                      "--min-labelled", "0.2")) == 0  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert report["labels_repaired"] == 1
    assert report["labels_dropped"] == {"no_area_after_repair": 1}
    assert report["patches"] > 0
