"""The LCZ class registry and the label parser."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from sunet import lcz

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "lcz_classes.csv"


def test_registry_has_17_classes_in_raster_code_order() -> None:
    assert lcz.NUM_CLASSES == 17
    assert [c.code for c in lcz.CLASSES] == list(range(1, 18))
    assert [c.letter for c in lcz.CLASSES[10:]] == list("ABCDEFG")
    assert [c.index for c in lcz.CLASSES] == list(range(17))
    assert all(c.is_built for c in lcz.CLASSES[:10])
    assert not any(c.is_built for c in lcz.CLASSES[10:])


def test_labels_columns_and_palette() -> None:
    assert lcz.by_code(1).label == "LCZ 1 Compact high-rise"
    assert lcz.by_code(17).label == "LCZ G Water"
    assert lcz.abundance_columns()[:2] == ["lcz_1", "lcz_2"]
    assert lcz.abundance_columns()[-1] == "lcz_G"
    assert lcz.by_code(17).rgb == (0x6A, 0x6A, 0xFF)
    assert lcz.by_code(11).colour == "#006a00"


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference table not beside the repo")
def test_packaged_table_matches_reference() -> None:
    rows = list(csv.DictReader(REFERENCE.read_text().splitlines()))
    assert [(r["letter"], r["name"], r["colour"]) for r in rows] == [
        (c.letter, c.name, c.colour) for c in lcz.CLASSES
    ]


def test_property_ranges_parse_open_bounds() -> None:
    props = lcz.by_code(1).properties
    assert props["roughness_height_m"] == lcz.Range(25.0, None)
    assert props["pervious_surface_pct"] == lcz.Range(None, 10.0)
    assert props["building_surface_pct"] == lcz.Range(40.0, 60.0)
    assert lcz.by_code(17).properties["roughness_height_m"] == lcz.Range(None, None)
    assert lcz.Range(40.0, 60.0).mid() == 50.0


def test_table_4_and_roughness_class_ranges() -> None:
    # Stewart & Oke (2012), Table 4 and Table 3's Davenport roughness class.
    one, trees, water = lcz.by_code(1), lcz.by_code(11), lcz.by_code(17)
    assert one.properties["surface_admittance"] == lcz.Range(1500.0, 1800.0)
    assert one.properties["anthropogenic_heat_w_m2"] == lcz.Range(50.0, 300.0)
    assert lcz.by_code(10).properties["anthropogenic_heat_w_m2"] == lcz.Range(300.0, None)
    assert lcz.by_code(2).properties["terrain_roughness_class"] == lcz.Range(6.0, 7.0)
    assert trees.properties["terrain_roughness_class"] == lcz.Range(8.0, 8.0)
    assert trees.properties["surface_admittance"] == lcz.Range(None, None)  # 'unknown'
    assert water.properties["surface_admittance"] == lcz.Range(1500.0, 1500.0)
    assert water.properties["surface_albedo"] == lcz.Range(0.02, 0.10)
    assert water.properties["anthropogenic_heat_w_m2"] == lcz.Range(0.0, 0.0)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1, 1),
        (17, 17),
        (np.int64(11), 11),
        (5.0, 5),
        ("1", 1),
        ("10", 10),
        ("A", 11),
        ("g", 17),
        ("LCZ 5", 5),
        ("lcz-a", 11),
        ("LCZ_G", 17),
        ("Lcz10", 10),
        (" lcz  e ", 15),
    ],
)
def test_parse_accepts_common_forms(value: object, code: int) -> None:
    assert lcz.parse_lcz(value) == code


@pytest.mark.parametrize("value", [0, 18, "H", "LCZ 11", "11", "LCZ", "", None, 2.5, True, "5A"])
def test_parse_rejects_unknown(value: object) -> None:
    with pytest.raises(lcz.UnknownLczValueError):
        lcz.parse_lcz(value)


def test_parse_values_lists_every_unknown_value_and_source() -> None:
    with pytest.raises(lcz.UnknownLczValueError) as err:
        lcz.parse_lcz_values(["1", "X", "A", 99, "X"], source="labels.gpkg")
    message = str(err.value)
    assert "labels.gpkg" in message
    assert "'X'" in message and "99" in message
    assert err.value.values == sorted({"'X'", "99"})
    codes = lcz.parse_lcz_values(["1", "lcz b", 17])
    assert codes.dtype == np.uint8
    assert codes.tolist() == [1, 12, 17]


def test_top_classes_text() -> None:
    shares = {"2": 0.125, "6": 0.40, "D": 0.30, "G": 0.175, "A": 0.0}
    assert lcz.top_classes(shares) == "LCZ 6 40%, LCZ D 30%, LCZ G 18%"
    assert lcz.top_classes(shares, n=5) == "LCZ 6 40%, LCZ D 30%, LCZ G 18%, LCZ 2 12%"
    assert lcz.top_classes({"1": 0.5, "2": 0.5}) == "LCZ 1 50%, LCZ 2 50%"  # ties keep order
    assert lcz.top_classes({"A": 0.0}) == ""
