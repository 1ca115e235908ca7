"""WUDAPT training areas (Google Earth KML/KMZ, one folder per class) as labels and reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry import MultiPolygon, Polygon, box
from wudapt_kml import write_wudapt_kml

from sunet.cli import main
from sunet.geo.vector import read_labels
from sunet.lcz import UnknownLczValueError

WUHAN = (114.30, 30.59)
D = 0.001  # degrees, about 100 m
UTM50N = CRS.from_epsg(32650)


def _square(i: int, j: int = 0, size: float = D) -> Polygon:
    """A square of ``size`` degrees, ``i`` squares east and ``j`` north of Wuhan."""
    lon, lat = WUHAN[0] + 2 * i * D, WUHAN[1] + 2 * j * D
    return box(lon, lat, lon + size, lat + size)


def _template() -> dict[str, list[Polygon | MultiPolygon]]:
    """Classes as WUDAPT users name their folders; one area in two parts, nested folders, an
    empty folder and a class folder inside a folder that names no class."""
    return {
        "LCZ 1": [_square(0)],
        "LCZ 2 - Compact midrise": [_square(1), _square(2)],
        "6 open lowrise": [MultiPolygon([_square(3), _square(4)])],
        "6 open lowrise/east bank": [_square(5)],
        "LCZ A Dense trees": [_square(6)],
        "LCZ 9": [],
        "Survey 2024/G": [_square(7)],
    }


@pytest.mark.parametrize("kmz", [False, True], ids=["kml", "kmz"])
def test_the_template_folders_give_the_classes(tmp_path: Path, kmz: bool) -> None:
    path = write_wudapt_kml(tmp_path / f"areas.{'kmz' if kmz else 'kml'}", _template(), kmz=kmz)
    layer = read_labels(path, "lcz")
    frame = layer.frame
    # one row per polygon placemark, the two-part area one MultiPolygon
    assert frame["code"].tolist() == [1, 2, 2, 6, 6, 11, 17]
    assert frame.geometry.geom_type.tolist().count("MultiPolygon") == 1
    assert len(frame.geometry.iloc[3].geoms) == 2
    assert frame["kml_folder"].tolist()[4] == "east bank"  # inherits its parent folder's class
    assert layer.crs == CRS.from_epsg(4326)
    assert not frame.geometry.has_z.any()
    assert frame.geometry.iloc[0].equals_exact(_square(0), tolerance=1e-9)
    # one Point placemark per folder (the empty one too) dropped and counted
    assert layer.dropped == {"not_polygon": 7} and layer.repaired == 0


def test_folder_names_in_the_forms_users_write(tmp_path: Path) -> None:
    names = {
        "1": 1, "LCZ 10": 10, "LCZ 1 - Compact high-rise": 1, "3 compact lowrise": 3,
        "LCZ_8": 8, "lcz-e": 15, "A": 11, "LCZ B Scattered trees": 12, "C - Bush, scrub": 13,
        "11": 11, "14 low plants": 14, "17": 17,
    }  # fmt: skip
    areas: dict[str, list[Polygon | MultiPolygon]] = {n: [_square(i)] for i, n in enumerate(names)}
    path = write_wudapt_kml(tmp_path / "forms.kml", areas, placeholders=False)
    assert read_labels(path, "lcz").frame["code"].tolist() == list(names.values())


@pytest.mark.parametrize(
    ("folder", "where", "shown"),
    [("Roads", "folder 'Roads'", "'Roads'"), ("LCZ 11", "folder 'LCZ 11'", "'LCZ 11'"),
     ("Dense trees", "folder 'Dense trees'", "'Dense trees'"),
     ("101 dense trees", "folder '101 dense trees'", "'101 dense trees'"),
     ("", "placemarks outside named folders", "''")],
)  # fmt: skip
def test_an_unknown_folder_class_is_one_line(
    tmp_path: Path, folder: str, where: str, shown: str
) -> None:
    areas: dict[str, list[Polygon | MultiPolygon]] = {"LCZ 2": [_square(0)], folder: [_square(1)]}
    path = write_wudapt_kml(tmp_path / "areas.kmz", areas, kmz=True)
    with pytest.raises(UnknownLczValueError) as info:
        read_labels(path, "lcz")
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{path} ({where}): unknown LCZ label value(s) {shown};")


@pytest.mark.parametrize("label_in", ["name", "description"])
def test_placemark_names_when_no_folder_names_a_class(
    tmp_path: Path, label_in: Literal["name", "description"]
) -> None:
    areas: dict[str, list[Polygon | MultiPolygon]] = {
        "LCZ 2": [_square(0), _square(1)], "LCZ6b": [_square(2)], "D low plants": [_square(3)],
    }  # fmt: skip
    path = write_wudapt_kml(tmp_path / "named.kml", areas, label_in=label_in)
    assert read_labels(path, "lcz").frame["code"].tolist() == [2, 2, 6, 14]


def test_an_unknown_placemark_class_is_one_line(tmp_path: Path) -> None:
    areas: dict[str, list[Polygon | MultiPolygon]] = {"LCZ 2": [_square(0)], "park": [_square(1)]}
    path = write_wudapt_kml(tmp_path / "named.kml", areas, label_in="name")
    with pytest.raises(ValueError, match=r"named\.kml \(placemark 'park'\): unknown LCZ label "
                       r"value\(s\) 'park';"):  # fmt: skip
        read_labels(path, "lcz")


def test_a_label_field_in_extended_data_wins(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"lcz": ["3", "E"]}, geometry=[_square(0), _square(1)], crs=4326)
    path = tmp_path / "fields.kml"
    frame.to_file(path, layer="LCZ 5", driver="LIBKML")  # a folder naming another class
    assert read_labels(path, "lcz").frame["code"].tolist() == [3, 15]
    with pytest.raises(ValueError, match=r"no folder 'LCZ 6' \(folders: LCZ 5\)"):
        read_labels(path, "lcz", layer="LCZ 6")


def test_a_kmz_read_with_gdal_s_plain_kml_driver(tmp_path: Path) -> None:
    # GDAL builds without LIBKML read a .kmz through /vsizip/ with the KML driver.
    path = write_wudapt_kml(tmp_path / "areas.kmz", _template(), kmz=True)
    code = (
        "import sys; from sunet.geo.vector import read_labels; "
        "print(read_labels(sys.argv[1], 'lcz').frame['code'].tolist())"
    )
    env = {**os.environ, "GDAL_SKIP": "LIBKML", "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert done.stdout.strip() == "[1, 2, 2, 6, 6, 11, 17]"


def _quadrants(centre: tuple[float, float], half_m: float) -> dict[str, list[Polygon]]:
    """Four square training areas around a place, ``half_m`` metres a side, in EPSG:4326."""
    to_utm = Transformer.from_crs(4326, UTM50N, always_xy=True)
    x, y = to_utm.transform(*centre)
    quads = {"LCZ 2 - Compact midrise": box(x - half_m, y, x, y + half_m),
             "LCZ 6/north": box(x, y, x + half_m, y + half_m),
             "A dense trees": box(x - half_m, y - half_m, x, y),
             "17": box(x, y - half_m, x + half_m, y)}  # fmt: skip
    lonlat = gpd.GeoSeries(list(quads.values()), crs=UTM50N).to_crs(4326)
    return {name: [geom] for name, geom in zip(quads, lonlat, strict=True)}


def test_tile_takes_the_template_as_labels(
    tmp_path: Path, scene_at: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scene = scene_at(tmp_path / "scenes" / "a.tif", crs=3857, size_px=160, seed=1)
    labels = write_wudapt_kml(tmp_path / "training_areas.kmz", _quadrants(WUHAN, 80), kmz=True)
    out = tmp_path / "out"
    code = main(["tile", "--scenes", str(scene), "--labels", str(labels), "--out", str(out),
                 "--patch", "32", "--block", "1"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["patches"] > 0
    assert set(report["by_class"]) == {"2", "6", "A", "G"}
    assert report["labels_dropped"] == {"not_polygon": 4}  # the four placeholders


def test_assess_takes_the_template_as_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A 10 x 10 map of 20 m cells around Wuhan: LCZ 2 in the west half, LCZ 17 (G) in the east.
    x, y = Transformer.from_crs(4326, UTM50N, always_xy=True).transform(*WUHAN)
    codes = np.full((10, 10), 2, dtype=np.uint8)
    codes[:, 5:] = 17
    raster = tmp_path / "map.tif"
    with rasterio.open(raster, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8",
                       nodata=0, crs=UTM50N, transform=Affine(20, 0, x - 100, 0, -20, y + 100)
                       ) as dst:  # fmt: skip
        dst.write(codes, 1)
    reference = write_wudapt_kml(tmp_path / "reference.kml", _quadrants(WUHAN, 80))
    out = tmp_path / "assessed"
    code = main(["assess", "--map", str(raster), "--reference", str(reference), "--out", str(out),
                 "--bootstrap", "0"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    result = json.loads((out / "assessment.json").read_text())
    assert result["polygons"] == 4
    confusion = np.asarray(result["confusion"])
    # LCZ 2 (west, north) and G (east, south) right; LCZ 6 mapped as G; LCZ A mapped as LCZ 2
    assert confusion[1, 1] > 0 and confusion[16, 16] > 0
    assert confusion[5, 16] > 0 and confusion[10, 1] > 0
    assert confusion.sum() == confusion[[1, 16, 5, 10]].sum()
