"""Polygon layers: label parsing, geometry repair, layer choice and GPKG 1.3 output."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Polygon, box

from sunet.geo.vector import read_labels, read_polygons, write_gpkg


def test_labels_are_parsed_and_bad_geometries_repaired(
    tmp_path: Path, write_labels: Callable[..., Path]
) -> None:
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    path = write_labels(tmp_path / "l.gpkg", [box(0, 0, 5, 5), bowtie, Polygon([(0, 0), (5, 5), (0, 0)])],
                        ["LCZ 3", "g", "A"])  # fmt: skip
    layer = read_labels(path, "lcz")
    assert layer.frame["code"].tolist() == [3, 17]
    assert layer.repaired == 1 and layer.dropped == {"no_area_after_repair": 1}
    assert layer.frame.geometry.is_valid.all()
    assert layer.frame.geometry.iloc[1].area == pytest.approx(50.0)  # the two triangles kept


def test_layer_problems_are_named(tmp_path: Path, write_labels: Callable[..., Path]) -> None:
    path = write_labels(tmp_path / "l.gpkg", [box(0, 0, 1, 1)], ["1"], layer="zones")
    gpd.GeoDataFrame({"lcz": ["2"]}, geometry=[box(0, 0, 1, 1)], crs=4326).to_file(
        path, layer="other"
    )
    with pytest.raises(ValueError, match="several layers"):
        read_labels(path, "lcz")
    assert read_labels(path, "lcz", layer="zones").frame["code"].tolist() == [1]
    with pytest.raises(ValueError, match=r"no field 'class'"):
        read_labels(path, label_field="class", layer="zones")
    lines = write_labels(tmp_path / "lines.gpkg", [LineString([(0, 0), (1, 1)])], ["1"])
    with pytest.raises(ValueError, match="no polygon"):
        read_polygons(lines)
    with pytest.raises(FileNotFoundError, match="missing.gpkg"):
        read_labels(tmp_path / "missing.gpkg", "lcz")


def test_gpkg_is_written_as_version_1_3(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=32650)
    path = write_gpkg(frame, tmp_path / "d.gpkg", layer="districts")
    with sqlite3.connect(path) as db:
        (user_version,) = db.execute("PRAGMA user_version").fetchone()
    assert user_version == 10300
    assert read_polygons(path).frame["name"].tolist() == ["a"]
