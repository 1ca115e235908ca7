"""CRS primitives: naming, the metric CRS choice, comparison and the rasterio conversion."""

from __future__ import annotations

import pytest
from pyproj import CRS
from rasterio.crs import CRS as RioCRS

from sunet.geo.crs import crs_name, from_rasterio, resolve_crs, same_crs, to_rasterio, utm_crs

UTM50N = CRS.from_epsg(32650)
# A Lambert azimuthal equal-area projection of no registry: it has a WKT but no EPSG code.
CUSTOM = CRS.from_proj4("+proj=laea +lat_0=30 +lon_0=114 +datum=WGS84 +units=m +no_defs")


def test_auto_crs_is_the_utm_zone_of_the_data() -> None:
    assert resolve_crs("auto", (114.1, 30.4, 114.5, 30.8)).to_epsg() == 32650  # Wuhan
    assert resolve_crs("auto", (-43.3, -23.0, -43.1, -22.8)).to_epsg() == 32723  # Rio
    assert utm_crs(180.0, 0.0).to_epsg() == 32660
    assert resolve_crs("EPSG:32650", (0, 0, 1, 1)) == UTM50N


@pytest.mark.parametrize("spec", ["EPSG:4326", "not-a-crs", "EPSG:2263"])
def test_non_metric_or_unknown_crs_is_refused(spec: str) -> None:
    # EPSG:2263 is projected but in US feet.
    with pytest.raises(ValueError, match="--crs"):
        resolve_crs(spec, (114.1, 30.4, 114.5, 30.8))


def test_a_crs_is_named_by_its_epsg_code_else_by_its_wkt() -> None:
    assert crs_name(UTM50N) == "EPSG:32650"
    assert CUSTOM.to_epsg() is None
    assert crs_name(CUSTOM) == CUSTOM.to_wkt()
    assert CRS.from_user_input(crs_name(CUSTOM)) == CUSTOM  # the name reads back as the CRS
    assert resolve_crs(crs_name(CUSTOM), (0, 0, 1, 1)) == CUSTOM


def test_same_crs_compares_crs_objects_and_names() -> None:
    assert same_crs("EPSG:32650", UTM50N)
    assert same_crs(crs_name(CUSTOM), CUSTOM)
    assert not same_crs("EPSG:32650", "EPSG:32651")


def test_rasterio_conversion_uses_the_epsg_code_else_the_wkt() -> None:
    rio = to_rasterio(UTM50N)
    assert rio == RioCRS.from_epsg(32650) and rio.to_epsg() == 32650
    custom = to_rasterio(CUSTOM)
    assert custom.to_epsg() is None
    assert from_rasterio(custom) == CUSTOM
    assert from_rasterio(rio) == UTM50N
