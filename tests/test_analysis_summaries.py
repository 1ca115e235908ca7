"""Per-area summaries (sunet.analysis.summaries): quantiles in fixed memory, composition both
ways, mixing, parameter change; every expected value computed by hand or by numpy."""

from __future__ import annotations

import math
from typing import get_args

import numpy as np
import pytest

from sunet.analysis.config import ParameterName
from sunet.analysis.parameters import PARAMETER_NODATA, PARAMETERS, class_values
from sunet.analysis.summaries import (
    BUILDING,
    Composition,
    Distribution,
    Mixing,
    ParameterChange,
    parameter_distributions,
)
from sunet.lcz import NUM_CLASSES
from sunet.mapping.accumulate import ABUNDANCE_NODATA


def test_the_options_name_the_parameters_of_the_table() -> None:
    assert get_args(ParameterName) == tuple(p.name for p in PARAMETERS)


@pytest.mark.parametrize("q", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_quantiles_of_few_distinct_values_are_exact(q: float) -> None:
    # Looked-up class values: a handful of distinct values, each in a bin of its own.
    rng = np.random.default_rng(0)
    values = rng.choice(class_values()[BUILDING], size=997)
    d = parameter_distributions()[BUILDING]
    for chunk in np.array_split(values, 7):  # fed block by block
        d.add(chunk)
    assert d.count == 997
    assert d.quantile(q) == pytest.approx(np.quantile(values, q, method="inverted_cdf"), abs=1e-12)
    assert d.mean == pytest.approx(values.mean())


def test_quantiles_of_continuous_values_are_within_a_bin() -> None:
    rng = np.random.default_rng(1)
    values = rng.uniform(0.0002, 2.0, size=5000) ** 2
    for log, low in ((False, 0.0), (True, 1e-8)):
        d = Distribution(low, 4.0, bins=4096, log=log)
        d.add(values)
        for q in (0.1, 0.5, 0.9):
            exact = np.quantile(values, q, method="inverted_cdf")
            width = 4.0 / 4096 if not log else exact * (math.log(4.0 / low) / 4096)
            assert abs(d.quantile(q) - exact) <= width


def test_an_empty_distribution_has_no_values() -> None:
    d = Distribution(0.0, 1.0)
    d.add(np.array([]))
    assert d.count == 0 and math.isnan(d.mean) and math.isnan(d.quantile(0.5))


def test_composition_by_dominant_class_and_by_abundance() -> None:
    # 100 cells of 256 m²: 80 dominated by LCZ 6, 20 by LCZ 2; abundances sum to 68 % LCZ 6,
    # 12 % LCZ A, 4.8 % LCZ 2, 4 % each LCZ 3, 8 and D, 3.2 % LCZ G.
    dominant = np.zeros(NUM_CLASSES)
    dominant[[5, 1]] = [80 * 256.0, 20 * 256.0]
    abundance = np.zeros(NUM_CLASSES)
    abundance[[5, 10, 1, 2, 7, 13, 16]] = np.array([68, 12, 4.8, 4, 4, 4, 3.2]) * 256.0
    c = Composition(dominant, abundance)
    assert c.dominant[5] == pytest.approx(0.8) and c.dominant[1] == pytest.approx(0.2)
    assert c.abundance[5] == pytest.approx(0.68) and c.abundance[10] == pytest.approx(0.12)
    assert c.built_dominant == pytest.approx(1.0)
    assert c.built_abundance == pytest.approx(0.68 + 0.048 + 0.04 + 0.04)
    # |0.8 - 0.68| + |0.2 - 0.048| + the 0.272 held only by abundance, halved.
    assert c.difference == pytest.approx(0.5 * (0.12 + 0.152 + 0.12 + 0.04 * 3 + 0.032))
    assert c.top(c.dominant) == pytest.approx({"6": 0.8, "2": 0.2})
    assert list(c.top(c.abundance)) == ["6", "A", "2"]


def test_mixing_counts_mixed_cells_and_weak_dominant_classes() -> None:
    a = np.zeros((NUM_CLASSES, 2, 3), dtype=np.float32)
    a[5, 0, 0] = 1.0  # pure
    a[5, 0, 1], a[10, 0, 1] = 0.7, 0.3
    a[[1, 2, 7, 13, 16], 0, 2] = [0.24, 0.2, 0.2, 0.2, 0.16]  # five classes: mixed, weak
    a[:, 1, :2] = ABUNDANCE_NODATA  # two cells not mapped
    a[5, 1, 2] = 1.0
    m = Mixing(mixed_entropy=0.5, weak_dominance=0.6)
    m.add(a[:, :1])
    m.add(a[:, 1:])  # two blocks of rows
    h_mix = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3)) / math.log(17)
    h_five = -sum(p * math.log(p) for p in (0.24, 0.2, 0.2, 0.2, 0.16)) / math.log(17)
    assert h_five > 0.5 > h_mix
    assert m.cells == 4
    assert m.entropy.mean == pytest.approx((h_mix + h_five) / 4, abs=1e-6)
    assert m.entropy.quantile(0.5) == pytest.approx(0.0)  # two of the four cells are pure
    assert m.mixed_share == 0.25 and m.weak_share == 0.25


def test_parameter_change_over_cells_mapped_in_both() -> None:
    p = len(PARAMETERS)
    before = np.full((p, 1, 4), 1.0, dtype=np.float32)
    after = before.copy()
    before[BUILDING, 0] = [0.30, 0.30, 0.30, 0.30]
    after[BUILDING, 0] = [0.30, 0.34, 0.55, 0.10]
    after[:, 0, 3] = PARAMETER_NODATA  # no longer mapped: left out
    change = ParameterChange(building_change=0.05)
    delta = change.add(before, after)
    assert change.cells == 3
    assert change.building_changed_share == pytest.approx(1 / 3)  # only 0.30 -> 0.55
    assert change.mean_change[BUILDING] == pytest.approx((0.04 + 0.25) / 3)
    assert np.isnan(delta[:, 0, 3]).all()
    assert delta[BUILDING, 0, 2] == pytest.approx(0.25)
