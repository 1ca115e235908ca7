"""The map products: what a user (QGIS, WRF tools, scripts) opens and relies on."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
from mapping_fixtures import LEFT, TOP, ColourPredictor, lcz_rgb, split_scene, write_districts
from rio_cogeo.cogeo import cog_validate

from sunet.geo.raster import Radiometry
from sunet.lcz import CLASSES
from sunet.mapping import MapConfig, map_districts
from sunet.mapping.accumulate import ABUNDANCE_NODATA
from sunet.mapping.rasters import lcz_colormap

RASTERS = ("lcz_abundance", "lcz_dominant", "lcz_uncertainty", "lcz_wudapt_100m")
FOLDERS = ("city", "old-town", "riverside")


def _inputs(root: Path) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    scene = split_scene(root / "scene.tif", left_code=2, right_code=17)
    districts = write_districts(
        root / "districts.gpkg",
        {
            "Old Town": (LEFT + 32, TOP - 480, LEFT + 240, TOP - 32),
            "Riverside": (LEFT + 240, TOP - 480, LEFT + 496, TOP - 200),
        },
    )
    return scene, districts


def _run(root: Path, out: Path, **kw: object) -> Path:
    scene, districts = _inputs(root)
    config = MapConfig(scenes=[scene], districts=districts, out=out, progress=False, **kw)
    map_districts(config, ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)}))
    return out


def _hashes(out: Path, suffixes: tuple[str, ...] = (".tif", ".gpkg", ".png", ".csv", ".qml")):
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.suffix in suffixes
    }


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mapping")
    return _run(root, root / "out")


def test_every_folder_has_every_product(mapped: Path) -> None:
    for folder in FOLDERS:
        names = {p.name for p in (mapped / folder).iterdir()}
        for stem in RASTERS:
            assert {f"{stem}.tif", f"{stem}.qml"} <= names
        assert {"lcz_dominant.gpkg", "summary.csv", "quicklook.png"} <= names
        assert not [n for n in names if n.startswith((".tmp-", ".work-"))]
    assert not [p for p in mapped.iterdir() if p.name.startswith((".tmp-", ".work-"))]
    with (mapped / "city" / "quicklook.png").open("rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("folder", FOLDERS)
def test_rasters_are_valid_cogs(mapped: Path, folder: str) -> None:
    for stem in RASTERS:
        valid, errors, _ = cog_validate(str(mapped / folder / f"{stem}.tif"), quiet=True)
        assert valid, (stem, errors)


def test_abundance_raster_contract(mapped: Path) -> None:
    with rasterio.open(mapped / "old-town" / "lcz_abundance.tif") as ds:
        assert ds.crs.to_epsg() == 32650
        assert ds.count == 17 and ds.dtypes == ("float32",) * 17
        assert ds.nodata == ABUNDANCE_NODATA
        assert list(ds.descriptions) == [c.label for c in CLASSES]
        assert ds.descriptions[0] == "LCZ 1 Compact high-rise"
        assert ds.descriptions[16] == "LCZ G Water"
        a = ds.read()
    valid = a[0] != ABUNDANCE_NODATA
    assert valid.sum() > 100
    assert np.all(a[:, ~valid] == ABUNDANCE_NODATA)  # nodata in every band together
    assert a[:, valid].min() >= 0.0 and a[:, valid].max() <= 1.0
    assert np.allclose(a[:, valid].sum(axis=0), 1.0, atol=1e-5)


def test_dominant_and_uncertainty_follow_the_abundances(mapped: Path) -> None:
    folder = mapped / "riverside"
    with rasterio.open(folder / "lcz_abundance.tif") as ds:
        a = ds.read()
    with rasterio.open(folder / "lcz_dominant.tif") as ds:
        assert ds.dtypes[0] == "uint8" and ds.nodata == 0
        cmap = ds.colormap(1)
        dom = ds.read(1)
    for code, rgba in lcz_colormap().items():
        assert cmap[code] == rgba
    valid = a[0] != ABUNDANCE_NODATA
    assert np.array_equal(dom[valid], a[:, valid].argmax(axis=0) + 1)
    assert np.all(dom[~valid] == 0)
    with rasterio.open(folder / "lcz_uncertainty.tif") as ds:
        u = ds.read(1)
        assert ds.nodata == ABUNDANCE_NODATA
    assert np.all(u[~valid] == ABUNDANCE_NODATA)
    assert u[valid].min() >= 0.0 and u[valid].max() <= 1.0
    # A pure water cell has no uncertainty; the boundary cells (0.75 / 0.25) do.
    pure = valid & (a[16] > 0.999)
    mixed = valid & (a[16] > 0.7) & (a[16] < 0.8)
    assert pure.any() and mixed.any()
    assert np.allclose(u[pure], 0.0, atol=1e-6)
    p = np.array([0.75, 0.25])
    assert np.allclose(u[mixed], -(p * np.log(p)).sum() / np.log(17), atol=1e-5)


def test_city_mosaic_agrees_with_each_district(mapped: Path) -> None:
    with rasterio.open(mapped / "city" / "lcz_dominant.tif") as city:
        city_dom = city.read(1)
        for folder in FOLDERS[1:]:
            with rasterio.open(mapped / folder / "lcz_dominant.tif") as ds:
                dom = ds.read(1)
                row, col = city.index(ds.bounds.left + 1, ds.bounds.top - 1)
                window = city_dom[row : row + ds.height, col : col + ds.width]
                mapped_cells = dom > 0
                assert mapped_cells.sum() > 50
                assert np.array_equal(window[mapped_cells], dom[mapped_cells])


def test_wudapt_raster_is_what_w2w_reads(mapped: Path) -> None:
    with rasterio.open(mapped / "city" / "lcz_wudapt_100m.tif") as ds:
        assert ds.crs.to_epsg() == 4326
        assert ds.res == pytest.approx((0.0009, 0.0009))
        assert ds.count == 1 and ds.dtypes[0] == "uint8" and ds.nodata == 0
        assert ds.colormap(1)[17] == lcz_colormap()[17]
        codes = ds.read(1)
        # Aligned to the global 0.0009 degree lattice.
        assert (ds.bounds.left + 180) / 0.0009 == pytest.approx(
            round((ds.bounds.left + 180) / 0.0009), abs=1e-6
        )
    assert set(np.unique(codes)) <= {0, 2, 17}
    assert {2, 17} <= set(np.unique(codes))


def test_geopackage_is_version_1_3_with_both_layers_styled(mapped: Path) -> None:
    gpkg = mapped / "old-town" / "lcz_dominant.gpkg"
    with sqlite3.connect(gpkg) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10300
        styles = con.execute(
            "SELECT f_table_name, f_geometry_column, useAsDefault, styleQML FROM layer_styles"
        ).fetchall()
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert {"lcz_dominant", "lcz_cells"} <= layers
    by_layer = {name: (geom, default, qml) for name, geom, default, qml in styles}
    for layer, attr in (("lcz_dominant", "code"), ("lcz_cells", "dominant")):
        geom, default, qml = by_layer[layer]
        assert geom == pyogrio.read_info(gpkg, layer=layer)["geometry_name"]
        assert default == 1
        renderer = ET.fromstring(qml.split("\n", 1)[1]).find("renderer-v2")
        assert renderer is not None
        assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == attr


def test_geopackage_layers_carry_classes_and_areas(mapped: Path) -> None:
    gpkg = mapped / "old-town" / "lcz_dominant.gpkg"
    polygons = pyogrio.read_dataframe(gpkg, layer="lcz_dominant")
    cells = pyogrio.read_dataframe(gpkg, layer="lcz_cells")
    with rasterio.open(mapped / "old-town" / "lcz_dominant.tif") as ds:
        dom = ds.read(1)
        cell_area = abs(ds.res[0] * ds.res[1])
    assert list(polygons["code"]) == sorted(set(np.unique(dom)) - {0})
    assert {"code", "letter", "name", "colour", "area_m2"} <= set(polygons.columns)
    assert polygons["area_m2"].sum() == pytest.approx((dom > 0).sum() * cell_area)
    assert polygons.crs.to_epsg() == 32650
    assert len(cells) == (dom > 0).sum()
    columns = [c.column for c in CLASSES]
    assert set(columns) <= set(cells.columns)
    assert np.allclose(cells[columns].sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(cells.geometry.area, cell_area)


def test_styles_beside_rasters(mapped: Path) -> None:
    expect = {
        "lcz_dominant": "paletted",
        "lcz_wudapt_100m": "paletted",
        "lcz_abundance": "singlebandpseudocolor",
        "lcz_uncertainty": "singlebandpseudocolor",
    }
    for stem, kind in expect.items():
        text = (mapped / "riverside" / f"{stem}.qml").read_text()
        root = ET.fromstring(text.split("\n", 1)[1])
        renderer = root.find("pipe/rasterrenderer")
        assert renderer is not None and renderer.get("type") == kind
    # The abundance ramp shows the district's most abundant class (water in Riverside).
    root = ET.fromstring((mapped / "riverside" / "lcz_abundance.qml").read_text().split("\n", 1)[1])
    assert root.find("pipe/rasterrenderer").get("band") == "17"  # type: ignore[union-attr]
    palette = ET.fromstring(
        (mapped / "riverside" / "lcz_dominant.qml").read_text().split("\n", 1)[1]
    ).findall("pipe/rasterrenderer/colorPalette/paletteEntry")
    assert [(e.get("value"), e.get("color"), e.get("label")) for e in palette] == [
        (str(c.code), c.colour, c.label) for c in CLASSES
    ]


def test_summary_shares_and_areas(mapped: Path) -> None:
    with (mapped / "old-town" / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["code"]) for r in rows] == list(range(1, 18))
    assert sum(float(r["dominant_share"]) for r in rows) == pytest.approx(1.0, abs=1e-5)
    assert sum(float(r["abundance_share"]) for r in rows) == pytest.approx(1.0, abs=1e-5)
    with rasterio.open(mapped / "old-town" / "lcz_dominant.tif") as ds:
        dom = ds.read(1)
        cell_area = abs(ds.res[0] * ds.res[1])
    by_code = {int(r["code"]): r for r in rows}
    assert int(by_code[2]["dominant_cells"]) == (dom == 2).sum()
    assert float(by_code[2]["dominant_area_m2"]) == pytest.approx((dom == 2).sum() * cell_area)
    # What reports and artifacts show is read back from this file.
    from sunet.mapping.report import read_area

    area = read_area(mapped / "old-town", "Old Town")
    assert area is not None and area.cells == (dom > 0).sum()
    assert area.area_km2 == pytest.approx((dom > 0).sum() * cell_area / 1e6)
    assert area.shares["2"] == pytest.approx(float(by_code[2]["dominant_share"]))


def test_resolved_config_is_saved_and_reloads(mapped: Path) -> None:
    record = json.loads((mapped / "config.json").read_text())
    config = MapConfig(**record["config"])
    assert config.crs == "EPSG:32650"
    assert config.stride == 16 and config.bands == [1, 2, 3]
    assert record["grid"]["cell_size_m"] == 16.0
    assert record["districts"] == {"old-town": "Old Town", "riverside": "Riverside"}


def test_rerun_is_byte_identical(mapped: Path, tmp_path: Path) -> None:
    before = _hashes(mapped)
    root = mapped.parent
    _run(root, mapped)
    assert _hashes(mapped) == before
    assert len(before) == 3 * 11  # 4 rasters + 4 styles + gpkg + csv + png per folder


def test_dask_workers_give_the_same_bytes(mapped: Path, tmp_path: Path) -> None:
    out = _run(tmp_path, tmp_path / "out", workers=2, batch_size=5)
    single = _run(tmp_path, tmp_path / "single", batch_size=5)
    assert _hashes(out) == _hashes(single)
    # Different batching gives the same map here too (the fake model is batch-independent).
    assert _hashes(out, (".tif",)) == _hashes(mapped, (".tif",))


@pytest.mark.parametrize("readers", [1, 3])
def test_reading_ahead_changes_nothing_and_closes_every_scene(
    mapped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: int
) -> None:
    import os

    import sunet.mapping.inference as inference

    monkeypatch.setattr(inference, "reader_threads", lambda: readers)
    out = _run(tmp_path, tmp_path / "out", read_ahead=True)
    assert _hashes(out, (".tif", ".gpkg")) == _hashes(mapped, (".tif", ".gpkg"))
    fds = Path("/proc/self/fd")
    if fds.is_dir():  # no reader thread kept a scene open
        open_files = {os.path.realpath(fds / fd) for fd in os.listdir(fds)}
        assert os.path.realpath(tmp_path / "scene.tif") not in open_files


def test_scenes_are_scaled_as_the_model_was_trained(tmp_path: Path) -> None:
    """A model whose bundle says every scene was stretched sees stretched windows."""

    class Stretched(ColourPredictor):
        radiometry = Radiometry(stretch="all")

        def __init__(self) -> None:
            super().__init__({2: lcz_rgb(2), 17: lcz_rgb(17)})
            self.windows: list[np.ndarray] = []

        def predict_abundances(self, images: np.ndarray) -> np.ndarray:
            self.windows.append(images.copy())
            return super().predict_abundances(images)

    scene, districts = _inputs(tmp_path)
    model = Stretched()
    config = MapConfig(scenes=[scene], districts=districts, out=tmp_path / "o", progress=False)
    map_districts(config, model)
    seen = np.concatenate(model.windows)
    # Two colours per band, each well over 2 % of the scene: stretched onto 0 and 255.
    assert set(np.unique(seen)) <= {0, 255}
    raw = {v for c in (2, 17) for v in lcz_rgb(c)}
    assert not set(np.unique(seen)) & (raw - {0, 255})


def test_area_table(tmp_path: Path) -> None:
    from sunet.mapping.report import AreaReport, area_table, read_area

    areas = [
        AreaReport(name="A", folder=tmp_path, cells=4, area_km2=0.5, shares={"6": 0.75, "D": 0.25}),
        ("B", None),
    ]
    lines = area_table(areas).splitlines()
    assert lines[0] == "| area | mapped km² | main classes |"
    assert lines[2] == "| A | 0.500 | LCZ 6 75%, LCZ D 25% |"
    assert lines[3] == "| B | - | |"
    assert read_area(tmp_path / "nowhere", "C") is None
