"""``lcz-map analyse``: the numbers of a hand-made map in the tables, the comparison with an
earlier map, the page's links, and the command's one-line errors."""

from __future__ import annotations

import csv
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from analysis_maps import FIVE_MIX, write_district_map, write_earlier_map
from canopy_values import EXPECTED

from sunet.analysis.config import ANALYSIS_RECORD as RECORD
from sunet.analysis.config import AnalyseConfig, ParametersConfig
from sunet.analysis.parameter_rasters import write_parameters
from sunet.analysis.parameters import PARAMETERS, from_abundances
from sunet.analysis.report import analyse
from sunet.analysis.tables import TABLES
from sunet.cli import main

LN17 = math.log(17)
H_TREES = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3)) / LN17
H_FIVE = -sum(p * math.log(p) for p in FIVE_MIX.values()) / LN17
BSF = [p.name for p in PARAMETERS].index("building_surface_fraction")


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A map root with two versions: v0001 the earlier map, v0002 the hand-made one."""
    root = tmp_path_factory.mktemp("analyse")
    write_earlier_map(root / "versions" / "v0001")
    write_district_map(root / "versions" / "v0002")
    return root


@pytest.fixture(scope="module")
def analysed(versions: Path) -> Path:
    """v0002 analysed into its own analysis/ folder (the earlier version found by itself)."""
    report = analyse(AnalyseConfig(map=versions / "versions" / "v0002"))
    assert report.out == versions / "versions" / "v0002" / "analysis"
    return report.out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _by(rows: list[dict[str, str]], **match: str) -> dict[str, str]:
    (row,) = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return row


# -- the tables -------------------------------------------------------------------------------


def test_composition_by_dominant_class_and_by_abundance(analysed: Path) -> None:
    rows = _rows(analysed / TABLES["composition"])
    assert list(rows[0]) == ["area", "name", "code", "letter", "class", "kind", "method",
                             "area_m2", "share"]  # fmt: skip
    assert len(rows) == 2 * 2 * 17  # areas x methods x classes
    for area in ("city", "west-side"):  # the district has the city's rows of cells
        shares = {(r["method"], r["letter"]): float(r["share"]) for r in rows if r["area"] == area}
        assert shares["dominant", "6"] == pytest.approx(0.8)
        assert shares["dominant", "2"] == pytest.approx(0.2)
        assert shares["dominant", "A"] == 0.0  # the trees never win a cell ...
        assert shares["abundance", "A"] == pytest.approx(0.12, abs=1e-6)  # ... but cover 12 %
        assert shares["abundance", "6"] == pytest.approx(0.68, abs=1e-6)
        assert shares["abundance", "2"] == pytest.approx(0.048, abs=1e-6)
        assert shares["abundance", "G"] == pytest.approx(0.032, abs=1e-6)
    city = _by(rows, area="city", method="dominant", letter="6")
    assert city["name"] == "City" and city["kind"] == "built"
    assert float(city["area_m2"]) == 80 * 256.0


def test_district_rows_hold_built_shares_and_mixing(analysed: Path) -> None:
    rows = _rows(analysed / TABLES["districts"])
    assert list(rows[0]) == [
        "area", "name", "cells", "area_km2", "built_share_dominant", "built_share_abundance",
        "natural_share_dominant", "natural_share_abundance", "composition_difference",
        "top_dominant", "top_abundance", "entropy_mean", "entropy_median", "mixed_share",
        "weak_dominant_share", "parameters_from",
    ]  # fmt: skip
    assert [(r["area"], r["name"], r["cells"]) for r in rows] == [
        ("city", "City", "100"),
        ("west-side", "West Side", "50"),
    ]
    city = rows[0]
    number = {k: float(v) for k, v in city.items() if k in ("area_km2",) or "share" in k}
    assert number["area_km2"] == pytest.approx(100 * 256 / 1e6)
    assert number["built_share_dominant"] == pytest.approx(1.0)
    assert number["built_share_abundance"] == pytest.approx(0.808, abs=1e-6)
    assert number["natural_share_abundance"] == pytest.approx(0.192, abs=1e-6)
    assert float(city["composition_difference"]) == pytest.approx(0.272, abs=1e-5)
    assert city["top_dominant"] == "6:0.800 2:0.200"
    assert city["top_abundance"] == "6:0.680 A:0.120 2:0.048"
    # Entropy: 40 pure cells, 40 of 70/30, 20 of five classes.
    assert float(city["entropy_mean"]) == pytest.approx((40 * H_TREES + 20 * H_FIVE) / 100)
    assert float(city["entropy_median"]) == pytest.approx(H_TREES, abs=1e-5)
    assert number["mixed_share"] == pytest.approx(0.2)  # the five-class cells, above 0.5
    assert number["weak_dominant_share"] == pytest.approx(0.2)  # 0.24 < 0.6; 0.7 is not
    assert city["parameters_from"].startswith("computed")


def test_parameter_statistics_both_ways(analysed: Path) -> None:
    from analysis_maps import district_abundances

    rows = _rows(analysed / TABLES["parameters"])
    assert list(rows[0]) == ["area", "name", "parameter", "unit", "method", "cells", "mean",
                             "median", "p10", "p90"]  # fmt: skip
    assert len(rows) == 2 * len(PARAMETERS) * 2
    # Lookup: 80 cells of LCZ 6's value, 20 of LCZ 2's.
    lookup = _by(rows, area="city", parameter="building_surface_fraction", method="lookup")
    assert lookup["unit"] == "1" and lookup["cells"] == "100"
    assert float(lookup["mean"]) == pytest.approx(0.8 * 0.30 + 0.2 * 0.55)
    assert (float(lookup["median"]), float(lookup["p10"]), float(lookup["p90"])) == (
        pytest.approx(0.30),
        pytest.approx(0.30),
        pytest.approx(0.55),
    )
    # From the abundances: three distinct values per parameter, each statistic exact.
    values = from_abundances(district_abundances()).reshape(len(PARAMETERS), -1)
    for i, p in enumerate(PARAMETERS):
        row = _by(rows, area="city", parameter=p.name, method="abundance")
        v = values[i].astype(np.float64)
        assert float(row["mean"]) == pytest.approx(v.mean(), rel=1e-5)
        for q, column in ((0.5, "median"), (0.1, "p10"), (0.9, "p90")):
            expected = np.quantile(v, q, method="inverted_cdf")
            assert float(row[column]) == pytest.approx(expected, rel=1e-5), (p.name, column)
    height = _by(rows, area="city", parameter="roughness_element_height", method="lookup")
    assert height["unit"] == "m" and float(height["p90"]) == EXPECTED[2][5]


def test_changes_since_the_earlier_version(analysed: Path, versions: Path) -> None:
    rows = _rows(analysed / TABLES["changes"])
    assert list(rows[0])[:6] == ["area", "name", "previous", "compared_cells", "compared_km2",
                                 "building_changed_share"]  # fmt: skip
    assert list(rows[0])[6:] == [f"{p.name}_change" for p in PARAMETERS]
    city, west = _by(rows, area="city"), _by(rows, area="west-side")
    assert city["previous"] == str(versions / "versions" / "v0001")
    # The earlier map lacks the last column: 90 cells compared; rows 0-3 went from LCZ 2 to 6.
    assert city["compared_cells"] == "90" and west["compared_cells"] == "50"
    for row, cells in ((city, 90), (west, 50)):
        changed = 4 * (cells // 10)
        assert float(row["building_changed_share"]) == pytest.approx(changed / cells)
        assert float(row["building_surface_fraction_change"]) == pytest.approx(
            changed * (0.30 - 0.55) / cells, abs=1e-6
        )
        assert float(row["anthropogenic_heat_change"]) == pytest.approx(
            changed * (EXPECTED[6][9] - EXPECTED[2][9]) / cells, abs=1e-4
        )
    record = json.loads((analysed / RECORD).read_text())
    assert record["previous"] == str(versions / "versions" / "v0001")
    assert "change_building_surface_fraction.png" in record["files"]


def test_parameter_rasters_are_read_when_the_map_has_them(
    versions: Path, analysed: Path, tmp_path: Path
) -> None:
    # The same map with lcz-map parameters' rasters: read, and the same numbers.
    copy = write_district_map(tmp_path / "map")
    write_parameters(ParametersConfig(map=copy))
    out = analyse(AnalyseConfig(map=copy, previous=versions / "versions" / "v0001")).out
    for table in ("parameters", "changes"):
        mine = [{k: v for k, v in r.items() if k != "previous"} for r in _rows(out / TABLES[table])]
        theirs = [
            {k: v for k, v in r.items() if k != "previous"} for r in _rows(analysed / TABLES[table])
        ]
        assert mine == theirs, table
    assert _rows(out / TABLES["districts"])[0]["parameters_from"] == (
        "lcz_parameters.tif, lcz_parameters_lookup.tif"
    )


def test_a_map_on_its_own_has_no_changes_and_a_rerun_clears_old_files(
    tmp_path: Path,
) -> None:
    mapped = write_district_map(tmp_path / "map")
    out = tmp_path / "report"
    first = analyse(AnalyseConfig(map=mapped, out=out, parameter_maps=["surface_albedo"]))
    assert first.previous is None and not (out / TABLES["changes"]).exists()
    assert (out / "parameter_surface_albedo.png").is_file()
    analyse(AnalyseConfig(map=mapped, out=out, parameter_maps=["sky_view_factor"]))
    assert not (out / "parameter_surface_albedo.png").exists()  # the first run's figure went
    assert (out / "parameter_sky_view_factor.png").is_file()
    assert not list(mapped.glob("*/analysis")) and not (mapped / "analysis").exists()


# -- the page ---------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def test_the_page_links_only_files_beside_it(analysed: Path) -> None:
    page = (analysed / "index.html").read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(page)
    files = [r for r in parser.refs if not r.startswith("#")]
    assert not re.search(r"https?:", page)  # nothing from the network, not even in text
    assert not parser.tags & {"script", "link", "iframe", "object"}
    assert {r for r in files if r.endswith(".png")} == {
        "composition.png", "composition_city.png", "composition_west-side.png",
        "parameter_building_surface_fraction.png", "parameter_roughness_element_height.png",
        "parameter_sky_view_factor.png", "parameter_anthropogenic_heat.png",
        "change_building_surface_fraction.png",
    }  # fmt: skip
    assert set(TABLES.values()) | {RECORD} <= set(files)
    for ref in files:
        assert "/" not in ref and (analysed / ref).is_file(), ref
    for ref in parser.refs:
        if ref.startswith("#"):
            assert f'id="{ref[1:]}"' in page, ref
    record = json.loads((analysed / RECORD).read_text())
    assert set(record["files"]) == (set(files) - {RECORD}) | {"index.html"}


def test_the_page_explains_both_compositions(analysed: Path) -> None:
    page = (analysed / "index.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    text = re.sub(r" ([:.,])", r"\1", text)  # where a tag ended just before the mark
    assert "Why they differ." in text
    assert "By dominant class: every cell counts whole" in text
    assert "By abundance: every class counts the share it holds in every cell" in text
    assert "West Side" in text and "Changes since v0001" in text
    # The city's table: LCZ A holds 12 % by abundance and none by dominant class.
    assert "LCZ A Dense trees natural 0.0 % 12.0 % +12.0 pp" in text


# -- the command ------------------------------------------------------------------------------


def test_command_writes_and_names_a_folder_that_is_not_a_map(
    versions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "a"
    args = ["analyse", "--map", str(versions / "latest"), "--out", str(out)]
    (versions / "latest").symlink_to(Path("versions") / "v0002")
    assert main([*args, "--parameter-maps", "surface_albedo"]) == 0
    said = capsys.readouterr().out
    assert "2 area(s) (city, west-side), compared with" in said and "v0001" in said
    assert (out / "index.html").is_file() and (out / "parameter_surface_albedo.png").is_file()

    (tmp_path / "not_a_map").mkdir()
    assert main(["analyse", "--map", str(tmp_path / "not_a_map")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not_a_map" in err

    assert main(["analyse", "--map", str(versions / "versions" / "v0002"),
                 "--previous", str(tmp_path / "nowhere")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere: no such map folder" in err

    with pytest.raises(SystemExit) as exit_:
        main(["analyse", "--map", str(versions / "latest"), "--change-map", "sky"])
    assert exit_.value.code == 2 and "invalid choice 'sky'" in capsys.readouterr().err
