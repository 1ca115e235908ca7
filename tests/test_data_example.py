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
