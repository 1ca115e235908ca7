"""The filled-in example city in data/example: its files read as the pipeline reads a user's
WUDAPT training areas and GeoJSON districts, and its city file maps it end to end (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sunet.geo.vector import read_labels
from sunet.mapping.districts import read_districts

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "example"


def test_example_inputs_read_as_a_users_would() -> None:
    labels = read_labels(EXAMPLE / "training_areas.kml", "lcz")
    assert len(labels.frame) >= 30 and labels.frame["code"].nunique() >= 15
    assert labels.crs.to_epsg() == 4326
    districts = read_districts(EXAMPLE / "districts.geojson", "name")
    assert sorted(districts["name"]) == ["Hanyang", "Jiangan", "Jianghan", "Qiaokou", "Wuchang"]
    assert sum(p.stat().st_size for p in EXAMPLE.iterdir()) < 40_000  # a few KB, in git


def test_example_city_file_is_valid_for_the_flow() -> None:
    from flows.city import read_city_file
    from flows.lcz_map import lcz_map

    city = read_city_file(EXAMPLE / "lcz-map.yaml", lcz_map)
    assert city.parameters["labels"] == EXAMPLE / "training_areas.kml"
    assert city.deployment.schedule is None and city.parameters["inbox"] is None


@pytest.mark.slow
def test_example_city_maps_end_to_end(harness: None, tmp_path: Path) -> None:
    from flows.lcz_map import lcz_map

    result = lcz_map(city="example", config_file=EXAMPLE / "lcz-map.yaml", out=tmp_path / "map")
    assert result["version"] == "v0001"
    version = tmp_path / "map" / "versions" / "v0001"
    assert (version / "city" / "lcz_dominant.tif").is_file()
    assert {p.name for p in version.iterdir() if p.is_dir()} >= {"hanyang", "wuchang", "city"}
    store = tmp_path / "map" / "work" / "patches"
    assert json.loads((store / "config.json").read_text())["labels"].endswith(".kml")
    assert not (EXAMPLE / "inbox").exists()  # nothing written into the repository


@pytest.mark.slow
def test_wudapt_areas_and_google_earth_exports_go_through_tile_train_map(tmp_path: Path) -> None:
    """The inputs users arrive with: the example's WUDAPT KML and districts GeoJSON, and the
    city's scenes as Google Earth exports (JPEG + world file + ESRI .prj, no CRS inside)."""
    import warnings

    import rasterio
    from earth_exports import write_world_file
    from pyproj import CRS
    from rasterio.errors import NotGeoreferencedWarning

    from sunet.cli import main

    city = tmp_path / "city"
    assert main(["synth", "--out", str(city), "--scenes", "4", "--size", "384",
                 "--preview-px", "400", "--quiet"]) == 0  # fmt: skip
    exports = tmp_path / "exports"
    exports.mkdir()
    for scene in sorted((city / "scenes").glob("*.tif")):
        with rasterio.open(scene) as src:
            image, transform, crs = src.read(), src.transform, src.crs
        jpeg = exports / f"{scene.stem}.jpg"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(jpeg, "w", driver="JPEG", width=image.shape[2],
                               height=image.shape[1], count=3, dtype="uint8") as dst:  # fmt: skip
                dst.write(image)
        write_world_file(jpeg.with_suffix(".jgw"), transform)
        jpeg.with_suffix(".prj").write_text(CRS.from_wkt(crs.to_wkt()).to_wkt("WKT1_ESRI"))
        assert not jpeg.with_name(jpeg.name + ".aux.xml").exists()  # the CRS is the .prj's

    patches, train, maps = tmp_path / "patches", tmp_path / "train", tmp_path / "maps"
    assert main(["tile", "--scenes", str(exports), "--labels", str(EXAMPLE / "training_areas.kml"),
                 "--out", str(patches), "--patch", "48", "--block", "2"]) == 0  # fmt: skip
    index = json.loads((patches / "report.json").read_text())
    assert index["patches"] > 0
    assert main(["train", "--patches", str(patches), "--out", str(train), "--epochs", "1",
                 "--batch-size", "8", "--max-minutes", "0", "--threads", "1",
                 "--no-progress"]) == 0  # fmt: skip
    assert main(["map", "--model", str(train / "model.safetensors"), "--scenes", str(exports),
                 "--districts", str(EXAMPLE / "districts.geojson"), "--out", str(maps),
                 "--no-progress", "--novelty-windows", "0"]) == 0  # fmt: skip
    from sunet.mapping.report import read_area

    mapped = read_area(maps / "city", "city")
    districts = read_districts(EXAMPLE / "districts.geojson", "name").to_crs("EPSG:32650")
    assert mapped is not None  # the exports cover the districts, and all of them was mapped:
    assert mapped.area_km2 == pytest.approx(districts.area.sum() / 1e6, rel=0.15)
    assert {p.name for p in maps.iterdir()} >= {"city", "hanyang", "wuchang"}
