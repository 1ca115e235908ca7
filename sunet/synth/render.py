"""Render windows of the mosaic grid from the city layout: layers, shadows, facades, radiometry.

A window (any rectangle of the global EPSG:3857 pixel grid) is padded on the sides from which
shadows and facades reach into it, its pixel centres are mapped to layout metres (exact pyproj
transforms on a coarse grid, bilinear in between: the 3857 -> UTM map is smooth to far below a
pixel over 32 px), the zones are rasterised onto it, and the layers of :mod:`sunet.synth.layers`
paint it. Heights then give shadows (cast away from the sun, length ``h / tan(elevation)``) and
facades of tall buildings (towards the satellite, length ``h * tan(off-nadir)``), both by a
doubling max-plus sweep over the height map (``log2(length)`` shifted maxima instead of one per
pixel of shadow). Last comes the scene's own radiometry: season, blur (and sharpening),
saturation, gain, contrast, colour cast, haze, gamma and sensor noise.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer
from rasterio import features
from rasterio.transform import array_bounds
from scipy import ndimage

from sunet.synth.canvas import Canvas, SceneLook, Surfaces
from sunet.synth.config import IMAGE_CRS, LAYOUT_CRS, SceneTile
from sunet.synth.layers import paint_ground, paint_roads, paint_water
from sunet.synth.layout import CityLayout
from sunet.synth.morphology import WATER_NONE, WATER_PONDS
from sunet.synth.structures import facade_colours, paint_buildings, paint_trees

__all__ = ["pixel_plan_xy", "render_scene", "render_window", "window_codes"]

_F32 = np.float32
_BASE_PAD = 48  # distances to road centrelines (<= 25 px) and banks (<= 42 px), blur
_STRIP = 1000
_HAZE = np.array([186.0, 192.0, 202.0], dtype=_F32)[:, None, None]


@lru_cache(maxsize=4)
def _to_plan() -> Transformer:
    return Transformer.from_crs(IMAGE_CRS, LAYOUT_CRS, always_xy=True)


def pixel_plan_xy(
    plan: CityLayout, row0: int, col0: int, h: int, w: int, anchored: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Plan coordinates (metres from ``plan.origin``, float32 ``(h, w)``) of the centres of the
    ``h`` x ``w`` window at global pixel ``(row0, col0)``.

    Exact at nodes every 32 px, bilinear in between. The nodes start at the window's corner, or
    with ``anchored`` lie on global multiples of 32 px, so that every window gives a pixel the
    very same coordinates (what binning pixels into cells needs).
    """
    step = 32
    if anchored:
        rn = np.arange(row0 // step * step, row0 + h - 1 + step, step) - row0
        cn = np.arange(col0 // step * step, col0 + w - 1 + step, step) - col0
    else:
        rn = np.unique(np.r_[np.arange(0, h, step), h - 1])
        cn = np.unique(np.r_[np.arange(0, w, step), w - 1])
    m = plan.mosaic
    xs = m.left + (col0 + cn + 0.5) * m.pixel
    ys = m.top - (row0 + rn + 0.5) * m.pixel
    xx, yy = np.meshgrid(xs, ys)
    px, py = _to_plan().transform(xx, yy)
    px, py = np.asarray(px) - plan.origin[0], np.asarray(py) - plan.origin[1]

    def weights(nodes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        pos = np.arange(n)
        i = np.clip(np.searchsorted(nodes, pos, side="right") - 1, 0, max(len(nodes) - 2, 0))
        span = np.maximum(nodes[np.minimum(i + 1, len(nodes) - 1)] - nodes[i], 1)
        return i, ((pos - nodes[i]) / span).astype(_F32)

    ci, wc = weights(cn, w)
    ri, wr = weights(rn, h)
    c1 = np.minimum(ci + 1, len(cn) - 1)
    r1 = np.minimum(ri + 1, len(rn) - 1)

    def interp(coarse: np.ndarray) -> np.ndarray:
        coarse = coarse.astype(_F32)
        tmp = coarse[:, ci] * (1 - wc) + coarse[:, c1] * wc
        return tmp[ri] * (1 - wr)[:, None] + tmp[r1] * wr[:, None]

    return interp(px), interp(py)


def window_codes(
    plan: CityLayout, row0: int, col0: int, h: int, w: int
) -> tuple[np.ndarray, np.ndarray]:
    """Zone ids (int32, -1 outside) and LCZ codes (uint8, 0 outside) of a window's pixels."""
    transform = plan.mosaic.window_transform(row0, col0)
    left, bottom, right, top = array_bounds(h, w, transform)
    zone = np.full((h, w), -1, dtype=np.int32)
    hits = plan.zone_tree_image.query(shapely.box(left, bottom, right, top))
    if len(hits):
        features.rasterize(
            ((plan.zones_image[i], int(i)) for i in np.sort(hits)), out=zone, transform=transform
        )
    codes = np.where(zone >= 0, plan.table.code[np.maximum(zone, 0)], 0).astype(np.uint8)
    return zone, codes


def _shift(a: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    """``out[r, c] = a[r - dy, c - dx]`` (``fill`` where that falls outside)."""
    out = np.full_like(a, fill)
    h, w = a.shape
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = a[
        max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def _sweep(
    height: np.ndarray,
    direction: tuple[float, float],
    drop: float,
    length: int,
    attr: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``max_k height(p - k d) - k drop`` over ``0 <= k <= length`` by doubling (and the
    attribute of the winning source pixel)."""
    s = height.copy()
    a = None if attr is None else attr.copy()
    m = 1
    while m <= length:
        dy, dx = round(m * direction[0]), round(m * direction[1])
        cand = _shift(s, dy, dx, -1e9) - _F32(m * drop)
        win = cand > s
        s = np.where(win, cand, s)
        if a is not None:
            a = np.where(win, _shift(a, dy, dx, 0), a)
        m *= 2
    return s, a


def _tallest(plan: CityLayout, zones: np.ndarray, decks: np.ndarray) -> float:
    """Height (m) above which nothing in ``zones`` (and the given bridge decks) rises."""
    t = plan.table
    b = zones[t.b_on[zones]]
    tr = zones[t.t_on[zones]]
    return float(
        max(
            (t.h_mean[b] * 1.4).max(initial=0.0) + 3.0,
            t.t_hmax[tr].max(initial=0.0),
            decks.max(initial=0.0) + 2.0,
            5.0,
        )
    )


def _reach(look: SceneLook, tallest: float, gsd: float) -> tuple[int, int, int, int]:
    """Pads (top, bottom, left, right) in pixels from which shadows and facades of objects up
    to ``tallest`` metres can reach into a window."""
    shadow_len = tallest / (gsd * math.tan(math.radians(look.sun_elevation)))
    facade_len = tallest * math.tan(math.radians(look.view_off_nadir)) / gsd
    sa, va = math.radians(look.sun_azimuth), math.radians(look.view_azimuth)
    sd = (math.cos(sa), -math.sin(sa))  # shadow direction (drow, dcol): away from the sun
    fd = (-math.cos(va), math.sin(va))  # facades extend towards the satellite
    pads = (
        shadow_len * max(sd[0], 0) + facade_len * max(fd[0], 0),
        shadow_len * max(-sd[0], 0) + facade_len * max(-fd[0], 0),
        shadow_len * max(sd[1], 0) + facade_len * max(fd[1], 0),
        shadow_len * max(-sd[1], 0) + facade_len * max(-fd[1], 0),
    )
    return tuple(_BASE_PAD + math.ceil(p) for p in pads)  # type: ignore[return-value]


def _window_pads(
    plan: CityLayout, look: SceneLook, row0: int, col0: int, h: int, w: int
) -> tuple[tuple[int, int, int, int], float]:
    """Pads for one window, from the tallest object that could cast into it."""
    t = plan.table
    every = np.arange(len(t))
    reach = max(_reach(look, _tallest(plan, every, plan.roads.deck), plan.mosaic.gsd_m))
    transform = plan.mosaic.window_transform(row0 - reach, col0 - reach)
    left, bottom, right, top = array_bounds(h + 2 * reach, w + 2 * reach, transform)
    area = shapely.box(left, bottom, right, top)
    zones = plan.zone_tree_image.query(area)
    roads = plan.road_tree.query(area) if len(plan.roads) else np.zeros(0, dtype=np.int64)
    tallest = _tallest(plan, zones, plan.roads.deck[roads])
    return _reach(look, tallest, plan.mosaic.gsd_m), tallest


def render_window(
    plan: CityLayout,
    look: SceneLook,
    row0: int,
    col0: int,
    h: int,
    w: int,
    ramp_origin: tuple[int, int, int] | None = None,
    surfaces: Surfaces | None = None,
) -> np.ndarray:
    """Render the ``h`` x ``w`` window at global pixel ``(row0, col0)``: uint8 ``(3, h, w)``.

    Every pixel is at least 1 in every band (0 is the scenes' nodata). ``ramp_origin``
    ``(row0, col0, size)`` anchors the scene-wide haze gradient (default: this window). Given
    ``surfaces`` (``(h, w)`` arrays), what each pixel is in plan view is written into it too; the
    image is the same with or without.
    """
    (pt, pb, pl, pr), tallest = _window_pads(plan, look, row0, col0, h, w)
    R0, C0 = row0 - pt, col0 - pl
    H, W = h + pt + pb, w + pl + pr
    x, y = pixel_plan_xy(plan, R0, C0, H, W)
    zone, _ = window_codes(plan, R0, C0, H, W)
    n = H * W
    cv = Canvas(
        plan=plan,
        look=look,
        bank=plan.textures,
        attrs=plan.attributes,
        row0=R0,
        col0=C0,
        height_px=H,
        width_px=W,
        x=x.ravel(),
        y=y.ravel(),
        zone=zone.ravel(),
        rgb=np.empty((3, n), dtype=_F32),
        height=np.zeros(n, _F32),
        bheight=np.zeros(n, _F32),
        bkey=np.zeros(n, np.uint32),
        veg=np.zeros(n, _F32),
        surface=None if surfaces is None else np.zeros(n, np.uint8),
        crown=None if surfaces is None else np.zeros(n, _F32),
    )
    cv.rgb[:] = np.array([[132], [122], [104]], dtype=_F32)
    t = plan.table
    zc = np.maximum(cv.zone, 0)
    valid = cv.zone >= 0
    wk = t.water[zc]
    # Water, then buildings and internal streets, then the ground they leave open (no texture
    # work under roofs), then roads and trees on top.
    covered = np.zeros(n, dtype=bool)
    covered[paint_water(cv, np.flatnonzero(valid & (wk != WATER_NONE)))] = True
    covered[paint_buildings(cv, np.flatnonzero(valid & t.b_on[zc]))] = True
    land = valid & ((wk == WATER_NONE) | (wk == WATER_PONDS)) & ~covered
    paint_ground(cv, np.flatnonzero(land))
    paint_roads(cv)
    paint_trees(cv, np.flatnonzero(valid & t.t_on[zc] & ((wk == WATER_NONE) | (wk == WATER_PONDS))))
    if surfaces is not None:
        assert cv.surface is not None and cv.crown is not None
        inner = (slice(pt, pt + h), slice(pl, pl + w))
        surfaces.surface[:] = cv.surface.reshape(H, W)[inner]
        surfaces.roof[:] = cv.bheight.reshape(H, W)[inner]
        surfaces.crown[:] = cv.crown.reshape(H, W)[inner]

    rgb = cv.rgb.reshape(3, H, W)
    height = cv.height.reshape(H, W)
    # Season: vegetation dries towards yellow-brown in some acquisitions.
    if look.season > 0.02:
        veg = cv.veg.reshape(H, W) * _F32(0.55 * look.season)
        lum = rgb[0] * _F32(0.45) + rgb[1] * _F32(0.4) + rgb[2] * _F32(0.15)
        dry = np.stack([lum * _F32(1.16), lum * _F32(1.04), lum * _F32(0.74)])
        rgb += (dry - rgb) * veg

    # Shadows.
    gsd = plan.mosaic.gsd_m
    sa = math.radians(look.sun_azimuth)
    drop = gsd * math.tan(math.radians(look.sun_elevation))
    s, _ = _sweep(height, (math.cos(sa), -math.sin(sa)), drop, math.ceil(tallest / drop))
    shadow = np.clip((s - height - _F32(0.3)) / _F32(1.2), 0, 1) * _F32(look.shadow_depth)
    rgb *= 1 - shadow
    rgb[2] += shadow * _F32(14.0)

    # Facades of buildings, towards the satellite.
    if look.view_off_nadir > 1.0:
        va = math.radians(look.view_azimuth)
        vdrop = gsd / math.tan(math.radians(look.view_off_nadir))
        bh = cv.bheight.reshape(H, W)
        v, key = _sweep(
            bh,
            (-math.cos(va), math.sin(va)),
            vdrop,
            math.ceil(tallest / vdrop),
            cv.bkey.reshape(H, W),
        )
        assert key is not None
        face = (v > height + 0.5) & (v > 0.5)
        if face.any():
            sun = look.sun_vector()
            facing = math.sin(va) * sun[0] + math.cos(va) * sun[1]
            lit = 0.72 + 0.35 * max(0.0, facing)
            rr, cc = np.nonzero(face)
            # Window columns: vertical edges project along the facade direction.
            across = (rr + R0) * math.sin(va) + (cc + C0) * math.cos(va)
            stripes = 1 + _F32(0.07) * np.sin(_F32(2 * np.pi / 3.2) * across.astype(_F32))
            grain = plan.textures.sample("fine", 61, rr + R0, cc + C0)
            fc = facade_colours(key[face], lit) * (_F32(0.94) + _F32(0.12) * grain) * stripes
            rgb[:, face] = fc

    # Scene radiometry.
    sigma = look.blur
    for b in range(3):
        rgb[b] = ndimage.gaussian_filter(rgb[b], sigma, truncate=3.0)
        if look.sharpen > 0:  # an unsharp mask, as image exports often apply
            detail = rgb[b] - ndimage.gaussian_filter(rgb[b], 1.5, truncate=3.0)
            rgb[b] += _F32(look.sharpen) * detail
    core = rgb[:, pt : pt + h, pl : pl + w]
    if look.saturation != 1.0:
        lum = core.mean(axis=0, keepdims=True)
        core = lum + (core - lum) * _F32(look.saturation)
    core = (core - _F32(110.0)) * _F32(look.contrast) + _F32(110.0)
    core *= (_F32(look.gain) * np.asarray(look.cast, dtype=_F32))[:, None, None]
    r0, c0, size = ramp_origin if ramp_origin is not None else (row0, col0, max(h, w))
    rows = (np.arange(row0, row0 + h, dtype=_F32) - r0) / _F32(size)
    cols = (np.arange(col0, col0 + w, dtype=_F32) - c0) / _F32(size)
    ramp = rows[:, None] * _F32(math.sin(look.haze_direction)) + cols[None, :] * _F32(
        math.cos(look.haze_direction)
    )
    haze = _F32(look.haze) * (_F32(0.6) + _F32(0.5) * ramp)
    core = core * (1 - haze) + _HAZE * haze
    # Gamma through a lookup table (quarter-level steps) rather than a per-pixel power.
    lut = _F32(255.0) * np.power(np.arange(1024, dtype=_F32) / _F32(1023.0), _F32(look.gamma))
    core = lut[np.clip(core * _F32(1023.0 / 255.0), 0, 1023).astype(np.int32)]
    grain = plan.textures.sample(
        "grain",
        71 + int(look.wind * 1000),
        np.arange(row0, row0 + h)[:, None],
        np.arange(col0, col0 + w)[None, :],
    )
    core += (grain - _F32(0.5)) * _F32(look.noise * 3.46)
    return np.clip(np.rint(core), 1, 255).astype(np.uint8)


def render_scene(
    plan: CityLayout, look: SceneLook, tile: SceneTile, surfaces: Surfaces | None = None
) -> np.ndarray:
    """Render one scene (uint8 ``(3, size, size)``), strip by strip to bound memory; given
    ``surfaces`` (``(size, size)``), record what its pixels are in plan view there."""
    size = tile.size
    n = max(1, math.ceil(size / _STRIP))
    step = math.ceil(size / n)
    out = np.empty((3, size, size), dtype=np.uint8)
    for r in range(0, size, step):
        hh = min(step, size - r)
        out[:, r : r + hh] = render_window(
            plan,
            look,
            tile.row0 + r,
            tile.col0,
            hh,
            size,
            ramp_origin=(tile.row0, tile.col0, size),
            surfaces=None if surfaces is None else surfaces.rows(r, r + hh),
        )
    return out
