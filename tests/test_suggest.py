"""``lcz-map suggest``: spread, informative places to label, styled for QGIS."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import torch
from affine import Affine
from mapping_fixtures import LEFT, TOP, ColourPredictor, lcz_rgb, write_districts, write_scene
from tiny_model import TINY

from sunet.bundle import BundleMeta, save_bundle
from sunet.cli import main
from sunet.mapping import MapConfig, map_districts
from sunet.mapping.suggest import SuggestConfig, suggest
from sunet.model import SUNet

SIZE = 512  # a 512 m scene at 1 m; windows of 32 m, cells of 16 m


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A map whose east half is a fine checkerboard of two class colours (every window torn
    50/50 between LCZ 2 and LCZ G) and whose west half is plain LCZ 2 (certain)."""
    root = tmp_path_factory.mktemp("suggest")
    paint = np.empty((3, SIZE, SIZE), dtype=np.uint8)
    paint[:] = np.array(lcz_rgb(2), dtype=np.uint8)[:, None, None]
    rr, cc = np.mgrid[:SIZE, :SIZE]
    board = ((rr // 4 + cc // 4) % 2 == 0) & (cc >= SIZE // 2)
    paint[:, board] = np.array(lcz_rgb(17), dtype=np.uint8)[:, None]
    scene = write_scene(root / "scene.tif", paint, Affine(1.0, 0, LEFT, 0, -1.0, TOP))
    districts = write_districts(root / "d.gpkg", {"All": (LEFT, TOP - SIZE, LEFT + SIZE, TOP)})
    config = MapConfig(scenes=[scene], districts=districts, out=root / "map", progress=False)
    map_districts(config, ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)}))
    return root / "map"


def test_suggestions_go_where_the_map_is_unsure_spread_apart(mapped: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.gpkg"
    frame = suggest(SuggestConfig(map=mapped, n=8, out=out, use_model=False, spacing=60))
    assert list(frame["rank"]) == list(range(1, 9))
    assert (np.diff(frame["score"]) <= 1e-12).all()
    centres = frame.geometry.centroid
    east = centres.x > LEFT + SIZE / 2
    assert east.all()  # every place in the torn half
    d = np.hypot(*(np.array([centres.x]).T - centres.x.to_numpy(), np.array([centres.y]).T
                   - centres.y.to_numpy()))  # fmt: skip
    assert d[np.triu_indices(len(frame), 1)].min() >= 60 - 1e-6
    assert np.allclose(frame.geometry.area, 32.0**2)
    assert set(frame["mapped"]) | set(frame["runner_up"]) <= {"2", "G"}
    assert (frame["lcz"] == "").all()
    assert frame["reason"].str.contains("torn between").all()
    read = gpd.read_file(out, layer="suggestions")
    assert len(read) == 8 and read.crs == frame.crs
    with sqlite3.connect(out) as db:
        (qml,) = db.execute(
            "SELECT styleQML FROM layer_styles WHERE f_table_name='suggestions'"
        ).fetchone()
    assert 'fieldName="rank"' in qml and 'labelsEnabled="1"' in qml


def test_avoid_polygons_and_the_random_baseline(mapped: Path, tmp_path: Path) -> None:
    taken = gpd.GeoDataFrame(
        geometry=[shapely.box(LEFT + 300, TOP - SIZE, LEFT + SIZE, TOP)], crs=32650
    )
    taken.to_file(tmp_path / "taken.gpkg")
    frame = suggest(SuggestConfig(map=mapped, n=5, out=tmp_path / "a.gpkg", use_model=False,
                                  avoid=[tmp_path / "taken.gpkg"]))  # fmt: skip
    assert not frame.geometry.intersects(taken.geometry.iloc[0]).any()
    one = suggest(SuggestConfig(map=mapped, n=8, out=tmp_path / "r1.gpkg", strategy="random"))
    again = suggest(SuggestConfig(map=mapped, n=8, out=tmp_path / "r2.gpkg", strategy="random"))
    assert one.geometry.equals(again.geometry)
    assert (one.geometry.centroid.x < LEFT + SIZE / 2).any()  # random ignores the scores
    assert (one["reason"] == "random").all()


def test_with_the_model_views_and_novelty_join_the_score(tmp_path: Path) -> None:
    torch.manual_seed(0)
    meta = BundleMeta(preset="cpu-small", model=TINY, mean=[128.0] * 3, std=[60.0] * 3,
                      patch_size=64, input_size=64, gsd=1.0, bands=["red", "green", "blue"],
                      crs="EPSG:32650", index_hash="sha256:00")  # fmt: skip
    bundle = save_bundle(tmp_path / "m.safetensors", SUNet(TINY), meta)
    rng = np.random.default_rng(0)
    paint = rng.integers(20, 230, (3, 512, 512), dtype=np.uint8)
    scene = write_scene(tmp_path / "scene.tif", paint, Affine(1.0, 0, LEFT, 0, -1.0, TOP))
    districts = write_districts(tmp_path / "d.gpkg", {"All": (LEFT, TOP - 512, LEFT + 512, TOP)})
    map_districts(MapConfig(model=bundle, scenes=[scene], districts=districts,
                            out=tmp_path / "map", progress=False))  # fmt: skip
    frame = suggest(SuggestConfig(map=tmp_path / "map", n=4, out=tmp_path / "s.gpkg"))
    assert len(frame) == 4
    assert "disagreement" in frame.columns and (frame["disagreement"] >= 0).all()
    assert "novelty" not in frame.columns  # this bundle carries no feature profile


def test_command_and_errors(
    mapped: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["suggest", "--map", str(mapped), "--n", "3", "--out", str(tmp_path / "s.gpkg"),
                 "--no-use-model"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "wrote 3 places to label" in out and "LCZ" in out
    code = main(["suggest", "--map", str(tmp_path), "--out", str(tmp_path / "x.gpkg")])
    err = capsys.readouterr().err
    assert code == 2 and "not a finished map" in err
    code = main(["suggest", "--map", str(mapped), "--out", str(tmp_path / "y.gpkg")])
    err = capsys.readouterr().err
    assert code == 2 and "records no model" in err and len(err.strip().splitlines()) == 1
