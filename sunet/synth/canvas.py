"""The state shared by the drawing layers: a scene's acquisition and one padded window's pixels.

A :class:`Canvas` holds flat per-pixel arrays of one window of the global mosaic grid (plan
coordinates, zone ids, colour, heights); layers read and paint it with numpy on index
selections. :class:`SceneLook` is one scene's acquisition (sun, view, radiometry).

When the city's truth is asked for, the layers also record what each pixel is in plan view (a
``SURFACE_*`` code, the roof height, the leaf-on crown top), returned as :class:`Surfaces`; those
records depend on the plan alone, never on the look (see :mod:`sunet.synth.truth`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sunet.synth.layout import CityLayout
from sunet.synth.looks import LOOKS, Look
from sunet.synth.noise import AttributeTable, TextureBank

__all__ = [
    "SURFACE_BUILDING",
    "SURFACE_IMPERVIOUS",
    "SURFACE_PERVIOUS",
    "SURFACE_WATER",
    "Canvas",
    "SceneLook",
    "Surfaces",
    "lot_frame",
    "palette_colours",
]

_F32 = np.float32

# What a pixel is in plan view, under anything raised (trees) and whatever the sun and the view
# lay over it (shadows, facades): Stewart & Oke's building / impervious / pervious split, with
# water kept apart from the rest of the pervious ground. A canvas starts as bare ground, pervious.
SURFACE_PERVIOUS, SURFACE_IMPERVIOUS, SURFACE_BUILDING, SURFACE_WATER = range(4)


@dataclass(frozen=True)
class SceneLook:
    """How one scene was 'acquired': sun, view and radiometry (angles in degrees).

    ``sun_azimuth`` is the direction to the sun, clockwise from north; shadows point away from
    it with length ``height / tan(sun_elevation)``. ``view_azimuth``/``view_off_nadir`` give the
    direction and tilt to the satellite (facades of tall buildings show on that side).
    """

    sun_azimuth: float
    sun_elevation: float
    view_azimuth: float
    view_off_nadir: float
    gain: float
    contrast: float
    cast: tuple[float, float, float]
    gamma: float
    haze: float
    haze_direction: float
    noise: float
    season: float
    glint: float
    shadow_depth: float
    blur: float
    wind: float

    leaf_off: float = 0.0
    flooded_fields: float = 0.0
    saturation: float = 1.0
    sharpen: float = 0.0

    @classmethod
    def draw(cls, rng: np.random.Generator, look: Look = LOOKS["default"]) -> SceneLook:
        """One scene's acquisition in ``look`` (by default a plausible late-morning acquisition
        over central China). The draws come in a fixed order, whatever the look."""

        def between(span: tuple[float, float]) -> float:
            return float(rng.uniform(*span))

        season_low, season_high = look.season
        return cls(
            sun_azimuth=between(look.sun_azimuth),
            sun_elevation=between(look.sun_elevation),
            view_azimuth=float(rng.uniform(0.0, 360.0)),
            view_off_nadir=between(look.view_off_nadir),
            gain=between(look.gain),
            contrast=between(look.contrast),
            cast=(
                float(rng.normal(1, look.cast_sd[0])),
                float(rng.normal(1, look.cast_sd[1])),
                float(rng.normal(1, look.cast_sd[2])),
            ),
            gamma=between(look.gamma),
            haze=between(look.haze),
            haze_direction=float(rng.uniform(0, 2 * np.pi)),
            noise=between(look.noise),
            season=season_low + (season_high - season_low) * float(rng.uniform(0.0, 1.0) ** 1.5),
            glint=float(rng.uniform(0.0, 1.0) if rng.random() < look.glint_chance else 0.0),
            shadow_depth=between(look.shadow_depth),
            blur=between(look.blur),
            wind=float(rng.uniform(0, 2 * np.pi)),
            leaf_off=look.leaf_off,
            flooded_fields=look.flooded_fields,
            saturation=look.saturation,
            sharpen=look.sharpen,
        )

    def sun_vector(self) -> np.ndarray:
        """Unit horizontal vector towards the sun, ``(east, north)``."""
        a = math.radians(self.sun_azimuth)
        return np.array([math.sin(a), math.cos(a)], dtype=_F32)


@dataclass
class Canvas:
    """Flat per-pixel state of one padded window (``n = height * width`` pixels).

    ``x``/``y`` are layout metres relative to ``plan.origin``; ``rgb`` is ``(3, n)`` float 0-255;
    ``height`` the top of whatever covers a pixel (m), ``bheight``/``bkey`` the building roofs
    and their lot keys (for facades); ``veg`` marks vegetation (for the season tint). Only when
    the truth is recorded: ``surface`` (uint8 ``SURFACE_*``) and ``crown`` (leaf-on crown top, m,
    0 off crowns); layers skip the recording where they are None.
    """

    plan: CityLayout
    look: SceneLook
    bank: TextureBank
    attrs: AttributeTable
    row0: int
    col0: int
    height_px: int
    width_px: int
    x: np.ndarray
    y: np.ndarray
    zone: np.ndarray
    rgb: np.ndarray
    height: np.ndarray
    bheight: np.ndarray
    bkey: np.ndarray
    veg: np.ndarray
    surface: np.ndarray | None = None
    crown: np.ndarray | None = None

    @property
    def salt(self) -> int:
        return (self.plan.seed * 1_000_003) & 0x7FFFFFFF

    def rows(self, idx: np.ndarray) -> np.ndarray:
        return idx // self.width_px + self.row0

    def cols(self, idx: np.ndarray) -> np.ndarray:
        return idx % self.width_px + self.col0

    def field(self, name: str, salt: int, idx: np.ndarray, scale: int = 1) -> np.ndarray:
        """Texture field ``name`` at the pixels ``idx`` (uniform 0-1)."""
        if len(idx) * 4 < self.height_px * self.width_px:
            return self.bank.sample(name, self.salt + salt, self.rows(idx), self.cols(idx), scale)
        # For large selections one broadcast gather over the whole window, then a flat one, is
        # cheaper than per-pixel row/column arithmetic.
        rows = np.arange(self.row0, self.row0 + self.height_px)[:, None]
        cols = np.arange(self.col0, self.col0 + self.width_px)[None, :]
        return self.bank.sample(name, self.salt + salt, rows, cols, scale).ravel()[idx]

    def plan_value(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Plan raster (zone id, -1 carriageway/water edge, -2 verge) at local plan points."""
        plan = self.plan
        tr = plan.raster_transform
        col = np.floor((x + (plan.origin[0] - tr.c)) / tr.a).astype(np.int64)
        row = np.floor((y + (plan.origin[1] - tr.f)) / tr.e).astype(np.int64)
        h, w = plan.raster.shape
        ok = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        out = np.full(x.shape, -1, dtype=np.int32)
        out[ok] = plan.raster[row[ok], col[ok]]
        return out


@dataclass(frozen=True)
class Surfaces:
    """What the rendered pixels of one window are in plan view: ``(h, w)`` arrays.

    Attributes:
        surface: uint8 ``SURFACE_*`` code of the roof or of the ground (under any tree crown).
        roof: float32 roof height in metres (rooftop equipment included), 0 off buildings.
        crown: float32 top of the tree crown over the pixel in metres, as a leaf-on acquisition
            draws it, 0 where no crown is.
    """

    surface: np.ndarray
    roof: np.ndarray
    crown: np.ndarray

    @classmethod
    def empty(cls, h: int, w: int) -> Surfaces:
        return cls(np.zeros((h, w), dtype=np.uint8), np.zeros((h, w), _F32), np.zeros((h, w), _F32))

    def rows(self, start: int, stop: int) -> Surfaces:
        """Rows ``start:stop`` (views, which a renderer fills in place)."""
        return Surfaces(self.surface[start:stop], self.roof[start:stop], self.crown[start:stop])


def palette_colours(
    palettes: tuple[np.ndarray, ...], pal_ids: np.ndarray, pick: np.ndarray
) -> np.ndarray:
    """Colours ``(3, n)`` from per-pixel palette ids and uniform picks (``palettes``: the
    plan's, indexed by palette id)."""
    out = np.empty((3, len(pick)), dtype=_F32)
    for pid in np.unique(pal_ids):
        sel = pal_ids == pid
        pal = palettes[int(pid)]
        out[:, sel] = pal[np.minimum((pick[sel] * len(pal)).astype(np.int64), len(pal) - 1)].T
    return out


def lot_frame(cv: Canvas, idx: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zone lot-frame coordinates ``(u, v)`` (metres) of pixels ``idx``."""
    t = cv.plan.table
    c, s = t.cos_t[z], t.sin_t[z]
    x, y = cv.x[idx], cv.y[idx]
    return c * x + s * y + t.off_u[z], -s * x + c * y + t.off_v[z]
