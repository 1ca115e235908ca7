"""What the renderer records of each pixel for the city's truth (sunet.synth.canvas.Surfaces),
on windows of one small city (4 scenes of 320 px, 70 m blocks, as in tests/test_synth.py)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely
import shapely.ops
from pyproj import Transformer

from sunet.synth import CityLayout, SynthConfig, build_layout
from sunet.synth.canvas import (
    SURFACE_BUILDING,
    SURFACE_IMPERVIOUS,
    SURFACE_PERVIOUS,
    SURFACE_WATER,
    Surfaces,
)
from sunet.synth.looks import LOOKS
from sunet.synth.render import render_window, window_codes
from sunet.synth.scenes import scene_look

CONFIG = SynthConfig(seed=3, scenes=4, size_px=320)


@pytest.fixture(scope="module")
def plan() -> CityLayout:
    return build_layout(CONFIG)


def _window(
    plan: CityLayout, look: str, r: int, c: int, h: int, w: int
) -> tuple[np.ndarray, Surfaces]:
    tile = plan.mosaic.tiles[0]
    surfaces = Surfaces.empty(h, w)
    image = render_window(
        plan,
        scene_look(CONFIG.seed, tile, LOOKS[look]),
        r,
        c,
        h,
        w,
        ramp_origin=(tile.row0, tile.col0, tile.size),
        surfaces=surfaces,
    )
    return image, surfaces


def _bank_window(plan: CityLayout) -> tuple[int, int]:
    """Upper-left pixel of a 120 x 140 window on a river bank: water, roads, roofs and trees."""
    bank = shapely.ops.nearest_points(plan.waters.river.boundary, plan.footprint.centroid)[0]
    x, y = Transformer.from_crs(32650, 3857, always_xy=True).transform(bank.x, bank.y)
    row, col = rasterio.transform.rowcol(plan.mosaic.transform, x, y)
    return int(row) - 60, int(col) - 70


def test_surfaces_are_recorded_without_changing_the_image_and_the_same_in_every_look(
    plan: CityLayout,
) -> None:
    r, c = _bank_window(plan)
    tile = plan.mosaic.tiles[0]
    ramp = (tile.row0, tile.col0, tile.size)
    recorded = {}
    for look in ("default", "winter", "monsoon"):
        acquisition = scene_look(CONFIG.seed, tile, LOOKS[look])
        plain = render_window(plan, acquisition, r, c, 120, 140, ramp_origin=ramp)
        image, surfaces = _window(plan, look, r, c, 120, 140)
        np.testing.assert_array_equal(image, plain)
        recorded[look] = surfaces
    # Leafless trees (winter) and flooded paddies (monsoon) change the picture, not the truth.
    for look in ("winter", "monsoon"):
        for name in ("surface", "roof", "crown"):
            a, b = getattr(recorded["default"], name), getattr(recorded[look], name)
            np.testing.assert_array_equal(a, b, err_msg=f"{look} {name}")


def test_surfaces_agree_with_the_zones_and_do_not_depend_on_the_window(plan: CityLayout) -> None:
    r, c = _bank_window(plan)
    _, big = _window(plan, "default", r, c, 120, 140)
    _, small = _window(plan, "default", r + 40, c + 40, 50, 60)
    np.testing.assert_array_equal(small.surface, big.surface[40:90, 40:100])
    np.testing.assert_array_equal(small.roof, big.roof[40:90, 40:100])
    # Crowns are domes over plan coordinates, which windows interpolate to within a millimetre.
    np.testing.assert_allclose(small.crown, big.crown[40:90, 40:100], atol=1e-3)
    _, codes = window_codes(plan, r, c, 120, 140)
    kinds = set(np.unique(big.surface))
    assert kinds == {SURFACE_PERVIOUS, SURFACE_IMPERVIOUS, SURFACE_BUILDING, SURFACE_WATER}
    assert np.array_equal(big.roof > 0, big.surface == SURFACE_BUILDING)
    assert (codes[big.surface == SURFACE_WATER] == 17).all()  # water only in LCZ G zones
    assert (big.crown > 0).any() and (big.crown[big.surface == SURFACE_BUILDING] == 0).all()
