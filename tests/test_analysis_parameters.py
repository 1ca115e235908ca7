"""Urban canopy parameters from abundances, and from the dominant class: the class values and
each parameter's aggregation rule, on arrays.

The expected values are written out by hand in ``canopy_values.py``.
"""

from __future__ import annotations

import numpy as np
from abundance_maps import mix, one_hot
from canopy_values import EXPECTED, NAMES, mix_2_d

from sunet.analysis.parameters import (
    PARAMETER_NODATA,
    class_values,
    from_abundances,
    from_classes,
)
from sunet.lcz import NUM_CLASSES
from sunet.mapping.accumulate import ABUNDANCE_NODATA


def test_class_values_are_the_middle_of_each_range() -> None:
    expected = np.array([EXPECTED[code] for code in range(1, NUM_CLASSES + 1)]).T
    np.testing.assert_allclose(class_values(), expected, rtol=1e-12)


def test_pure_cells_give_the_class_value_under_every_rule() -> None:
    pure = np.eye(NUM_CLASSES, dtype=np.float32)  # (17 classes, 17 cells)
    expected = class_values().astype(np.float32)
    assert np.array_equal(from_abundances(pure), expected)
    assert np.array_equal(from_classes(np.arange(1, NUM_CLASSES + 1)), expected)


def test_a_sixty_forty_mix_follows_each_rule() -> None:
    got = from_abundances(mix({2: 0.6, 14: 0.4})[:, None])[:, 0]
    expected = mix_2_d()
    np.testing.assert_allclose(got, [expected[n] for n in NAMES], rtol=1e-6)
    # The rules differ from a plain mean where they should.
    plain = 0.6 * np.array(EXPECTED[2]) + 0.4 * np.array(EXPECTED[14])
    differs = {n for n, g, p in zip(NAMES, got, plain, strict=True) if abs(g - p) > 1e-3 * p}
    assert differs == {
        "sky_view_factor", "aspect_ratio", "roughness_element_height", "roughness_length"
    }  # fmt: skip


def test_unmapped_cells_stay_nodata() -> None:
    a = np.stack([one_hot(3), np.full(NUM_CLASSES, ABUNDANCE_NODATA, np.float32)], axis=1)
    got = from_abundances(a)
    assert (got[:, 1] == PARAMETER_NODATA).all() and (got[:, 0] != PARAMETER_NODATA).all()
    assert (from_classes(np.array([0, 3]))[:, 0] == PARAMETER_NODATA).all()
