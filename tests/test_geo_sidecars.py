"""The files beside a JPEG/PNG scene: the names GDAL reads, the ``.prj``, and what makes an image a
scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from earth_exports import write_image_export, write_world_file
from pyproj import CRS

from sunet.geo.sidecars import (
    georeferenced_image,
    image_sidecars,
    prj_crs,
    world_file,
    world_file_problem,
)

AREA = (114.2990, 30.5890, 114.3000, 30.5898)  # about 96 x 89 m near Wuhan


@pytest.mark.parametrize(
    ("image", "sidecar"),
    [("a.jpg", "a.jgw"), ("a.jpg", "a.jpgw"), ("a.jpeg", "a.jgw"), ("a.JPG", "a.JGW"),
     ("a.png", "a.pgw"), ("a.png", "a.pngw"), ("a.png", "a.wld"), ("a.PNG", "a.WLD")],
)  # fmt: skip
def test_the_world_file_found_is_the_one_gdal_reads(
    tmp_path: Path, image: str, sidecar: str
) -> None:
    path = write_image_export(tmp_path / image, AREA, world_suffix=Path(sidecar).suffix)
    assert world_file(path) == tmp_path / sidecar
    with rasterio.open(path) as src:
        written = src.transform
    # The world file holds the centre of the upper-left pixel; GDAL gives its corner.
    lines = [float(v) for v in (tmp_path / sidecar).read_text().split()]
    assert written.almost_equals(
        Affine(lines[0], lines[2], lines[4] - lines[0] / 2, lines[1], lines[3],
               lines[5] - lines[3] / 2)
    )  # fmt: skip


def test_an_esri_prj_gives_the_crs_and_a_bad_one_one_line(tmp_path: Path) -> None:
    path = write_image_export(tmp_path / "a.jpg", AREA)
    assert "PROJCS" in (tmp_path / "a.prj").read_text()  # ESRI WKT, as GIS software writes it
    assert prj_crs(path) == CRS.from_epsg(3857)
    (tmp_path / "a.prj").write_text("Pseudo Mercator, I think")
    with pytest.raises(ValueError, match="not a known CRS") as err:
        prj_crs(path)
    assert "a.prj" in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "a.prj").unlink()
    assert prj_crs(path) is None
    assert image_sidecars(path) == [tmp_path / "a.jgw"]


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_only_images_with_georeferencing_beside_them_are_scenes(tmp_path: Path) -> None:
    export = write_image_export(tmp_path / "export.png", AREA)
    assert georeferenced_image(export)
    preview = tmp_path / "preview.png"
    with rasterio.open(preview, "w", driver="PNG", width=8, height=8, count=3,
                       dtype="uint8") as dst:  # fmt: skip
        dst.write(np.full((3, 8, 8), 9, np.uint8))
    assert not georeferenced_image(preview)
    # QGIS leaves statistics beside an image it showed: still no georeferencing.
    (tmp_path / "preview.png.aux.xml").write_text("<PAMDataset><Metadata/></PAMDataset>")
    assert not georeferenced_image(preview)
    (tmp_path / "preview.png.aux.xml").write_text(
        "<PAMDataset><GeoTransform>0, 1, 0, 0, 0, -1</GeoTransform></PAMDataset>"
    )
    assert georeferenced_image(preview)
    assert not georeferenced_image(tmp_path / "scene.tif")  # other formats: inside the file


@pytest.mark.parametrize(
    ("text", "problem"),
    [(None, "no world file (.jgw/.jpgw/.jpw/.wld) or .aux.xml beside it"),
     ("0.5\n0\n0\n-0.5\n", "not six numbers"),
     ("0.5 0 0 -0.5 100 200", "not six numbers"),
     ("0.5\n0\n0\n0\n100\n200\n", "zero pixel size"),
     ("0\n0\n0\n-0.5\n100\n200\n", "zero pixel size")],
)  # fmt: skip
def test_why_a_world_file_gave_no_georeferencing(
    tmp_path: Path, text: str | None, problem: str
) -> None:
    path = tmp_path / "a.jpg"
    if text is not None:
        (tmp_path / "a.jgw").write_text(text)
    assert problem in world_file_problem(path)


def test_a_world_file_written_by_hand_round_trips(tmp_path: Path) -> None:
    t = Affine(0.5, 0.1, 1000.0, 0.1, -0.5, 2000.0)
    wld = write_world_file(tmp_path / "a.wld", t)
    a, d, b, e, c, f = (float(v) for v in wld.read_text().split())
    assert (a, b, d, e) == (0.5, 0.1, 0.1, -0.5)
    assert (c, f) == pytest.approx(t @ (0.5, 0.5))
