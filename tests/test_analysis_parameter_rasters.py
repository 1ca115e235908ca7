"""``lcz-map parameters``: the parameter rasters of every area of a map, their bands, tags, grids
and styles, and the command's one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from abundance_maps import CELL, LEFT, MIX_ROW, NODATA_ROW, PURE_ROW, TOP, UTM, example_map
from canopy_values import EXPECTED, NAMES, mix_2_d
from pyproj import Transformer

from sunet.analysis.config import PARAMETERS_RECORD as RECORD
from sunet.analysis.config import ParametersConfig
from sunet.analysis.parameter_rasters import RASTERS, style_files, write_parameters
from sunet.analysis.parameters import PARAMETER_NODATA, PARAMETERS, from_classes
from sunet.cli import main
from sunet.lcz import NUM_CLASSES


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = example_map(tmp_path_factory.mktemp("parameters") / "map")
    write_parameters(ParametersConfig(map=root))
    return root


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


# -- the rasters ------------------------------------------------------------------------------


def test_every_area_gets_the_rasters_and_styles(mapped: Path) -> None:
    record = json.loads((mapped / RECORD).read_text())
    assert record["areas"] == ["city", "east-side"]
    for area in ("city", "east-side"):
        for name in [*RASTERS, *style_files()]:
            assert (mapped / area / name).is_file(), f"{area}/{name}"
    assert [p["name"] for p in record["parameters"]] == NAMES
    assert record["parameters"][6]["class_values"]["1"] == 2.0  # z0 of LCZ 1
    assert not list(mapped.glob(".work-*")) and not list(mapped.glob(".tmp-*"))


def test_pure_and_mixed_cells_in_both_rasters(mapped: Path) -> None:
    aggregated = _read(mapped / "city" / "lcz_parameters.tif")
    lookup = _read(mapped / "city" / "lcz_parameters_lookup.tif")
    expected = np.array([EXPECTED[code] for code in range(1, NUM_CLASSES + 1)], np.float32).T
    assert np.array_equal(aggregated[:, PURE_ROW, :NUM_CLASSES], expected)
    assert np.array_equal(lookup[:, PURE_ROW, :NUM_CLASSES], expected)
    mixed = mix_2_d()
    np.testing.assert_allclose(aggregated[:, MIX_ROW, 5], [mixed[n] for n in NAMES], rtol=1e-6)
    # The lookup version knows only that LCZ 2 dominates the mixed cells.
    assert np.array_equal(lookup[:, MIX_ROW, 5], np.array(EXPECTED[2], np.float32))


def test_nodata_where_the_map_has_none(mapped: Path) -> None:
    for name in ("lcz_parameters.tif", "lcz_parameters_lookup.tif"):
        with rasterio.open(mapped / "city" / name) as src:
            assert src.nodata == PARAMETER_NODATA
            data = src.read()
        assert (data[:, NODATA_ROW, :4] == PARAMETER_NODATA).all()
        assert (data[:, NODATA_ROW, 4:] != PARAMETER_NODATA).all()
    east = _read(mapped / "east-side" / "lcz_parameters.tif")
    assert (east != PARAMETER_NODATA).all()  # the district's own cells, all mapped


def test_band_names_units_and_tags(mapped: Path) -> None:
    for name in RASTERS:
        with rasterio.open(mapped / "city" / name) as src:
            assert src.count == len(PARAMETERS) and src.dtypes[0] == "float32"
            assert src.descriptions[5] == "Height of roughness elements [m]"
            assert src.descriptions[7] == "Surface admittance [J m-2 s-1/2 K-1]"
            assert src.units[9] == "W m-2"
            tags = src.tags()
            assert tags["PARAMETERS"].split(",") == NAMES
            assert tags["LCZ_PRODUCT"] == (
                "parameters_lookup" if "lookup" in name else "parameters"
            )
            band = src.tags(7)
            assert band["NAME"] == "roughness_length" and band["UNIT"] == "m"
            assert "Davenport" in band["SOURCE"] and "Table 3" in band["SOURCE"]
            if "lookup" in name:
                assert "dominant" in band["AGGREGATION"]
            else:
                assert band["AGGREGATION"].startswith("geometric mean")
                assert "building surface fraction" in src.tags(6)["AGGREGATION"]
            assert "Table 4" in src.tags(9)["SOURCE"]


def test_100m_rasters_sit_on_the_wudapt_grid(mapped: Path) -> None:
    for area in ("city", "east-side"):
        with rasterio.open(mapped / area / "lcz_wudapt_100m.tif") as wudapt:
            grid = (wudapt.crs, wudapt.transform, wudapt.shape)
            codes = wudapt.read(1)
        for name in ("lcz_parameters_100m.tif", "lcz_parameters_lookup_100m.tif"):
            with rasterio.open(mapped / area / name) as src:
                assert (src.crs, src.transform, src.shape) == grid
                data = src.read()
            assert ((data == PARAMETER_NODATA).all(axis=0) == (codes == 0)).all()
        lookup = _read(mapped / area / "lcz_parameters_lookup_100m.tif")
        assert np.array_equal(lookup, from_classes(codes))
    # A 100 m pixel whose whole footprint is LCZ 6 (the map's interior) holds LCZ 6's values.
    coarse = _read(mapped / "city" / "lcz_parameters_100m.tif")
    with rasterio.open(mapped / "city" / "lcz_parameters_100m.tif") as src:
        lonlat = Transformer.from_crs(UTM, 4326, always_xy=True).transform(
            LEFT + 12 * CELL, TOP - 16 * CELL
        )
        row, col = src.index(*lonlat)
    np.testing.assert_allclose(coarse[:, row, col], EXPECTED[6], rtol=1e-6)


def test_out_folder_and_rerun(mapped: Path, tmp_path: Path) -> None:
    out = tmp_path / "ucp"
    report = write_parameters(ParametersConfig(map=mapped, out=out))
    assert report.areas == ["city", "east-side"]
    assert (out / "east-side" / "lcz_parameters_100m.tif").is_file() and (out / RECORD).is_file()
    first = (out / "city" / "lcz_parameters.tif").read_bytes()
    write_parameters(ParametersConfig(map=mapped, out=out))
    assert (out / "city" / "lcz_parameters.tif").read_bytes() == first  # reproducible bytes
    assert first == (mapped / "city" / "lcz_parameters.tif").read_bytes()


# -- the command ------------------------------------------------------------------------------


def test_command_writes_and_refuses_a_folder_that_is_not_a_map(
    mapped: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parameters", "--map", str(mapped), "--out", str(tmp_path / "o")]) == 0
    assert "2 area(s) (city, east-side)" in capsys.readouterr().out

    (tmp_path / "not_a_map").mkdir()
    assert main(["parameters", "--map", str(tmp_path / "not_a_map")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == (
        f"lcz-map parameters: error: {tmp_path / 'not_a_map'}: not a lcz-map map folder "
        "(no city/lcz_abundance.tif)\n"
    )
    assert main(["parameters", "--map", str(mapped / "city")]) == 2
    assert "give the folder above it" in capsys.readouterr().err
    assert main(["parameters", "--map", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.endswith("missing: no such map folder\n")
