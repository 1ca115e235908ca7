"""benchmarks.parameters_truth on an oracle map of a tiny synthetic city.

The oracle knows the labels: its scene holds each pixel's LCZ code (the city's label polygons,
rasterised at 1 m on the map's grid) and its abundances are the code shares of each window. With
the stride equal to the window, a cell is one window, so its abundances are exactly its true
composition. From such a map, the abundance-based parameters must come closer to the truth than
the class lookup where cells are mixed, and equal it where they are pure.

Run from the repository root (``python -m pytest``, as ``make test`` does), which puts
``benchmarks`` on the import path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from benchmarks import parameters_truth as bench
from sunet.analysis.config import ParametersConfig
from sunet.analysis.parameter_rasters import write_parameters
from sunet.geo.vector import read_labels
from sunet.lcz import NUM_CLASSES
from sunet.mapping import MapConfig, map_districts
from sunet.synth import SynthConfig, generate_city
from sunet.tiling.labels import LabelSet

# 300 m blocks, as in tests/test_synth_truth.py, so that whole cells lie inside one zone.
CONFIG = SynthConfig(seed=3, scenes=4, size_px=640, zone_size_m=300.0)
UTM = "EPSG:32650"
CELL = 32  # m: the oracle's window, stride and map cell (1 m pixels)


class LabelOracle:
    """Abundances = shares of the LCZ codes (band 1) among a window's labelled pixels (code 0:
    unlabelled; a window with none gets uniform abundances)."""

    patch_size = CELL
    gsd = 1.0
    bands = ["code", "code", "code"]

    def predict_abundances(self, images: np.ndarray) -> np.ndarray:
        codes = images[:, 0].reshape(images.shape[0], -1).astype(np.int64)
        counts = np.stack([np.bincount(c, minlength=NUM_CLASSES + 1)[1:] for c in codes])
        total = counts.sum(axis=1, keepdims=True)
        uniform = np.full_like(counts, 1, dtype=np.float64) / NUM_CLASSES
        return np.where(total > 0, counts / np.maximum(total, 1), uniform).astype(np.float32)


def _label_scene(city: Path, path: Path) -> Path:
    """The city's labels as a 1 m scene in EPSG:32650 whose edges are multiples of ``CELL``."""
    frame = read_labels(city / "labels.gpkg", "lcz").frame.to_crs(UTM)
    left, bottom, right, top = frame.total_bounds
    left, bottom = np.floor(left / CELL) * CELL, np.floor(bottom / CELL) * CELL
    right, top = np.ceil(right / CELL) * CELL, np.ceil(top / CELL) * CELL
    transform = Affine(1.0, 0.0, left, 0.0, -1.0, top)
    shape = (int(top - bottom), int(right - left))
    codes = LabelSet(list(frame.geometry), frame["code"].tolist()).rasterize(transform, shape)
    with rasterio.open(
        path, "w", driver="GTiff", width=shape[1], height=shape[0], count=3, dtype="uint8",
        crs=UTM, transform=transform, tiled=True, blockxsize=256, blockysize=256,
    ) as dst:  # fmt: skip
        dst.write(np.stack([codes] * 3))
    return path


@pytest.fixture(scope="module")
def oracle_map(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(city, map)``: a tiny city with truth and the oracle's map of it, with parameters."""
    root = tmp_path_factory.mktemp("ucp-truth")
    city = root / "city"
    generate_city(CONFIG, city)
    scene = _label_scene(city, root / "labels.tif")
    out = root / "map"
    config = MapConfig(scenes=[scene], districts=city / "districts.gpkg", out=out, crs=UTM,
                       stride=CELL, progress=False)  # fmt: skip
    map_districts(config, LabelOracle())
    write_parameters(ParametersConfig(map=out))
    return city, out


def _score(city: Path, area: Path) -> dict:
    # Pure = wholly one class, so a pure cell's oracle abundances are one-hot; labels are
    # counted at the oracle's own 1 m pixels.
    return bench.score_area(area, city, bench.Settings(pure_share=1.0, sample_m=1.0))


def test_the_oracle_abundances_are_the_true_composition(oracle_map: tuple[Path, Path]) -> None:
    """The premise of the test: the map's abundances are the labels' shares in each cell."""
    city, out = oracle_map
    truth, inside = bench.truth_on_map(out / "city", city)
    shares, labelled = bench.label_composition(out / "city", city, sample_m=1.0)
    with rasterio.open(out / "city" / "lcz_abundance.tif") as src:
        abundances = src.read().astype(np.float64)
    cells = inside & (labelled >= 0.5)
    assert cells.sum() > 300
    np.testing.assert_allclose(abundances[:, cells], shares[:, cells], atol=1e-6)


def test_abundances_beat_the_lookup_in_mixed_cells(oracle_map: tuple[Path, Path]) -> None:
    city, out = oracle_map
    result = _score(city, out / "city")
    assert result["cells"]["mixed"] > 100 and result["cells"]["pure"] > 200
    assert result["cells"]["all"] == result["cells"]["mixed"] + result["cells"]["pure"]
    mixed = {k: result["scores"][k]["mixed"] for k in bench.ESTIMATES}
    assert mixed["abundance"]["building"]["mae"] < mixed["lookup"]["building"]["mae"]
    assert mixed["abundance"]["building"]["rmse"] < mixed["lookup"]["building"]["rmse"]


def test_pure_cells_score_the_same(oracle_map: tuple[Path, Path]) -> None:
    city, out = oracle_map
    result = _score(city, out / "city")
    pure = {k: result["scores"][k]["pure"] for k in bench.ESTIMATES}
    assert set(pure["abundance"]) == set(bench.PARAMETERS)
    assert pure["abundance"] == pure["lookup"]
    # Cell by cell: wherever the abundances are one-hot, the two rasters hold the same values.
    with rasterio.open(out / "city" / "lcz_abundance.tif") as src:
        one_hot = (src.read() == 1.0).any(axis=0)
    with rasterio.open(out / "city" / "lcz_parameters.tif") as src:
        aggregated = src.read()
    with rasterio.open(out / "city" / "lcz_parameters_lookup.tif") as src:
        lookup = src.read()
    assert one_hot.sum() >= result["cells"]["pure"]
    assert np.array_equal(aggregated[:, one_hot], lookup[:, one_hot])


def test_every_area_in_one_table_and_json(
    oracle_map: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    city, out = oracle_map
    target = tmp_path / "scores.json"
    args = ["--map", str(out), "--city", str(city), "--json", str(target), "--sample-m", "1"]
    assert bench.main(args) == 0
    result = json.loads(target.read_text())
    areas = list(result["areas"])
    assert areas[0] == "city" and len(areas) > 1
    table = capsys.readouterr().out.splitlines()
    rows = len(areas) * len(bench.PARAMETERS) * len(bench.GROUPS)
    assert len(table) == 2 + rows
    assert table[2].startswith("| city | building | ")
    # The districts share the city's cells: together they hold the city's scored cells.
    city_cells = result["areas"]["city"]["cells"]["all"]
    assert sum(result["areas"][a]["cells"]["all"] for a in areas[1:]) == city_cells
