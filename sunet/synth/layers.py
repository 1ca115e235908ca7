"""Ground-level layers of the renderer: open ground, water and roads.

Each layer is a pointwise function of plan position (metres) and global pixel indices, evaluated
with numpy on the flat arrays of a :class:`~sunet.synth.canvas.Canvas`: field parcels, ponds and
cars live on hashed lattices, so no layer loops over objects or pixels and any window renders the
same ground as any other. The renderer calls the layers in order: water, buildings (with internal
streets, :mod:`sunet.synth.structures`), the ground they leave open, roads, trees; they record
heights for the shadow and facade passes.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from rasterio import features
from rasterio.transform import array_bounds
from scipy import ndimage

from sunet.synth.canvas import (
    SURFACE_IMPERVIOUS,
    SURFACE_PERVIOUS,
    SURFACE_WATER,
    Canvas,
    lot_frame,
    palette_colours,
)
from sunet.synth.morphology import (
    GROUND_FIELDS,
    GROUND_FOREST,
    GROUND_ROCK,
    GROUND_SLABS,
    GROUND_SOIL,
    WATER_LAKE,
    WATER_NONE,
    WATER_PONDS,
    WATER_RIVER,
)
from sunet.synth.noise import hash_ints
from sunet.synth.palettes import CARS, PALETTE_IDS

__all__ = ["paint_ground", "paint_roads", "paint_water"]

_F32 = np.float32


def paint_ground(cv: Canvas, idx: np.ndarray) -> None:
    """Open ground of land zones: paving, grass, soil, fields, slabs, rock, forest floor."""
    t = cv.plan.table
    z = cv.zone[idx]
    kind = t.ground[z]
    grain = cv.field("grain", 1, idx) - _F32(0.5)
    fine = cv.field("fine", 2, idx) - _F32(0.5)
    small = cv.field("small", 3, idx) - _F32(0.5)
    large = cv.field("large", 5, idx, scale=2) - _F32(0.5)
    q_paved = t.q_paved[z]
    # The edge jitter must not create paving where the zone has none.
    paved = (q_paved > 0) & (cv.field("medium", 6, idx) + _F32(0.1) * fine < q_paved)
    vegetated = cv.field("medium", 7, idx, scale=2) + _F32(0.15) * small < t.q_veg[z]
    surface = np.where(paved, 0, np.where(vegetated, 1, 2))
    col = cv.plan.ground_colours[z * 3 + surface].T
    amp = np.where(paved, _F32(0.07), np.where(vegetated, _F32(0.2), _F32(0.13)))
    col *= 1 + _F32(0.12) * large + _F32(0.14) * small + amp * grain + _F32(0.08) * fine
    veg = (~paved & vegetated).astype(_F32)

    u, v = lot_frame(cv, idx, z)
    zkey = hash_ints(z, salt=cv.salt + 11)
    zu = (zkey & 0xFFFF).astype(_F32) / _F32(65535.0)
    zv = (zkey >> 16).astype(_F32) / _F32(65535.0)

    # Fields (LCZ D, the open ground of LCZ 9, ploughed LCZ F): parcels with crop rows.
    ploughed = (kind == GROUND_SOIL) & t.ploughed[z]
    fields = ((kind == GROUND_FIELDS) | ploughed) & ~paved
    if fields.any():
        f = np.flatnonzero(fields)
        pw = _F32(18.0) + _F32(40.0) * zu[f]
        pd = _F32(50.0) + _F32(110.0) * zv[f]
        iu, iv = np.floor(u[f] / pw), np.floor(v[f] / pd)
        fu, fv = u[f] - iu * pw, v[f] - iv * pd
        key = hash_ints(z[f], iu, iv, salt=cv.salt + 12)
        a = cv.attrs
        soil_pal = t.soil_pal[z[f]]
        # Green crop parcels in the zone's share; the others fallow or ploughed soil, drawn the
        # same way in D and F (their look-alike parcels).
        crop = a.get(key, 0) < t.green[z[f]]
        dry = a.get(key, 1) < np.where(ploughed[f], _F32(0.15), _F32(0.4))
        pal = np.where(crop, PALETTE_IDS["crop"], np.where(dry, PALETTE_IDS["dry"], soil_pal))
        pcol = palette_colours(cv.plan.palettes, pal, a.get(key, 2)) * (
            _F32(0.9) + _F32(0.2) * a.get(key, 3)
        )
        period = _F32(2.0) + _F32(1.5) * a.get(key, 4)
        along = np.where(a.get(key, 5) < 0.5, fu, fv)
        furrows = _F32(1.0) + _F32(0.09) * np.sin(_F32(2 * np.pi) * along / period)
        pcol *= furrows * (1 + _F32(0.1) * small[f] + _F32(0.12) * grain[f] + _F32(0.08) * large[f])
        edge = (fu < 1.2) | (fv < 1.2)
        flooded = np.zeros(len(f), dtype=bool)
        if cv.look.flooded_fields > 0:
            # Rice paddies in the flooding season: shallow water between rows of seedlings.
            flooded = (a.get(key, 8) < cv.look.flooded_fields) & ~ploughed[f]
            seedlings = np.sin(_F32(2 * np.pi) * along / period) > _F32(0.3)
            water = t.water_rgb[z[f]].T * _F32(0.9) * (1 + _F32(0.06) * small[f])
            rice = palette_colours(cv.plan.palettes, np.full(len(f), PALETTE_IDS["crop"]),
                                   a.get(key, 2))  # fmt: skip
            paddy = np.where(seedlings, water * _F32(0.55) + rice * _F32(0.45), water)
            pcol = np.where(flooded, paddy, pcol)
        pcol[:, edge] = t.soil_rgb[z[f][edge]].T * _F32(1.08)
        col[:, f] = pcol
        veg[f] = (crop & ~edge & ~flooded).astype(_F32)

    # Bare soil and sand: two soils blended at large scale, vehicle tracks, weedy patches.
    soil = (kind == GROUND_SOIL) & ~paved & ~ploughed
    if soil.any():
        s = np.flatnonzero(soil)
        alt = palette_colours(cv.plan.palettes, t.soil_pal[z[s]], zv[s])
        mix = np.clip(large[s] * 2.5 + 0.5, 0, 1)
        col[:, s] = col[:, s] * mix + alt * (1 - mix) * (
            1 + _F32(0.1) * small[s] + _F32(0.1) * grain[s]
        )
        track = np.abs(cv.field("medium", 13, idx[s], scale=3) - _F32(0.5)) < 0.008
        col[:, s[track]] *= _F32(0.86)
    # Paved slabs (LCZ E): concrete joints and stains; some zones with parking bays.
    slabs = kind == GROUND_SLABS
    if slabs.any():
        s = np.flatnonzero(slabs)
        joint = ((u[s] % 6.0) < 0.6) | ((v[s] % 6.0) < 0.6)
        # Panels poured or resurfaced at different times differ in tone.
        panel = hash_ints(z[s], np.floor(u[s] / 24.0), np.floor(v[s] / 18.0), salt=cv.salt + 15)
        tone = _F32(0.9) + _F32(0.2) * cv.attrs.get(panel, 0)
        col[:, s] = (
            t.paved_rgb[z[s]].T
            * tone
            * (1 + _F32(0.12) * large[s] + _F32(0.06) * small[s] + _F32(0.05) * grain[s])
        )
        stain = cv.field("medium", 16, idx[s]) < 0.12
        col[:, s[stain]] *= _F32(0.82)
        col[:, s[joint]] *= _F32(0.9)
        bays = (zu[s] < 0.5) & ((v[s] % 18.0) < 14.0) & ((u[s] % 2.6) < 0.35)
        col[:, s[bays]] = _F32(205.0)
        veg[s] = 0
    rock = kind == GROUND_ROCK
    if rock.any():
        s = np.flatnonzero(rock)
        col[:, s] = t.soil_rgb[z[s]].T * (
            1 + _F32(0.35) * fine[s] + _F32(0.25) * small[s] + _F32(0.15) * large[s]
        )
        crack = np.abs(cv.field("small", 14, idx[s]) - _F32(0.5)) < 0.012
        col[:, s[crack]] *= _F32(0.6)
        veg[s] = 0
    forest = kind == GROUND_FOREST
    if forest.any():
        veg[forest] = 1
    cv.rgb[:, idx] = col
    cv.veg[idx] = veg
    cv.height[idx] = 0
    if cv.surface is not None:
        # Paving, slabs and rock are impervious; fields, soil, grass and forest floor are not.
        hard = paved | slabs | rock
        cv.surface[idx] = np.where(hard, SURFACE_IMPERVIOUS, SURFACE_PERVIOUS)


def paint_water(cv: Canvas, idx: np.ndarray) -> np.ndarray:
    """Water zones: rivers and lakes with ripples and glint; fish ponds with earth dikes.

    Returns the pixels painted as water (pond dikes are left to the ground layer).
    """
    t = cv.plan.table
    z = cv.zone[idx]
    rows, cols = cv.rows(idx).astype(_F32), cv.cols(idx).astype(_F32)
    small = cv.field("small", 21, idx)
    medium = cv.field("medium", 22, idx)
    large = cv.field("large", 23, idx, scale=2)
    col = t.water_rgb[z].T * (1 + _F32(0.08) * (large - 0.5) + _F32(0.05) * (medium - 0.5))
    k = np.array([math.cos(cv.look.wind), math.sin(cv.look.wind)], dtype=_F32) / _F32(5.0)
    ripple = np.sin(_F32(2 * np.pi) * (cols * k[0] + rows * k[1]) + _F32(7.0) * small)
    col *= 1 + _F32(0.035) * ripple * (_F32(0.4) + medium)
    if cv.look.glint > 0:
        glow = np.clip((large - 0.62) / 0.3, 0, 1) * (0.5 + 0.5 * ripple) * cv.look.glint
        col += _F32(90.0) * glow
    # Shallows: silt-coloured water within a few metres of the bank, a dark wet line at it.
    open_water = (t.water[z] == WATER_RIVER) | (t.water[z] == WATER_LAKE)
    if open_water.any():
        mask = np.zeros(cv.height_px * cv.width_px, dtype=bool)
        mask[idx[open_water]] = True
        bank = ndimage.distance_transform_edt(mask.reshape(cv.height_px, cv.width_px)).ravel()[idx]
        reach = _F32(4.0) + _F32(10.0) * medium
        # Cut off at 42 px so that the render never depends on land beyond the window's pad.
        near = (bank < 42.0) & open_water
        silt = np.exp(-bank.astype(_F32) / reach)[None, :] * near
        col += (t.soil_rgb[z].T * _F32(0.85) - col) * silt * _F32(0.55)
        col[:, open_water & (bank < 1.5)] *= _F32(0.8)
    ponds = t.water[z] == WATER_PONDS
    keep = np.ones(len(idx), dtype=bool)
    if ponds.any():
        p = np.flatnonzero(ponds)
        u, v = lot_frame(cv, idx[p], z[p])
        zkey = hash_ints(z[p], salt=cv.salt + 24)
        pw = _F32(40.0) + _F32(50.0) * (zkey & 0xFF).astype(_F32) / _F32(255.0)
        pd = _F32(30.0) + _F32(35.0) * ((zkey >> 8) & 0xFF).astype(_F32) / _F32(255.0)
        iu, iv = np.floor(u / pw), np.floor(v / pd)
        fu, fv = u - iu * pw, v - iv * pd
        dike = (fu < 3.5) | (fv < 3.5)
        key = hash_ints(z[p], iu, iv, salt=cv.salt + 25)
        pond_col = palette_colours(
            cv.plan.palettes, np.full(len(p), PALETTE_IDS["pond"]), cv.attrs.get(key, 0)
        )
        col[:, p] = pond_col * (1 + _F32(0.05) * (large[p] - 0.5)) * (1 + _F32(0.03) * ripple[p])
        keep[p[dike]] = False  # dikes keep the ground layer underneath
    w = idx[keep]
    cv.rgb[:, w] = col[:, keep]
    cv.veg[w] = 0
    cv.height[w] = 0
    if cv.surface is not None:
        cv.surface[w] = SURFACE_WATER
    return w


def _road_raster(cv: Canvas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Burn road centrelines into the window and measure distance to the nearest one.

    Returns ``(road index + 1 of the nearest centreline, distance in pixels, normal direction
    flag)``, all flat.
    """
    plan = cv.plan
    shape = (cv.height_px, cv.width_px)
    burn = np.zeros(shape, dtype=np.int32)
    if len(plan.roads):
        transform = plan.mosaic.window_transform(cv.row0, cv.col0)
        left, bottom, right, top = array_bounds(cv.height_px, cv.width_px, transform)
        hits = plan.road_tree.query(shapely.box(left - 60, bottom - 60, right + 60, top + 60))
        if len(hits):
            features.rasterize(
                ((plan.roads_image[i], int(i) + 1) for i in np.sort(hits)),
                out=burn,
                transform=transform,
                all_touched=True,
            )
    if not burn.any():
        n = burn.size
        return np.zeros(n, np.int32), np.full(n, 1e6, _F32), np.zeros(n, bool)
    dist, (iy, ix) = ndimage.distance_transform_edt(burn == 0, return_indices=True)
    nearest = burn[iy, ix].ravel()
    rows = np.arange(shape[0])[:, None]
    cols = np.arange(shape[1])[None, :]
    horizontal = (np.abs(iy - rows) >= np.abs(ix - cols)).ravel()
    return nearest, dist.astype(_F32).ravel(), horizontal


def paint_roads(cv: Canvas) -> None:
    """Roads over land (and bridges over water): carriageway, sidewalks, markings, cars."""
    plan = cv.plan
    nearest, dist, horizontal = _road_raster(cv)
    ridx = np.maximum(nearest - 1, 0)
    if not len(plan.roads):
        return
    half = plan.roads.half_width[ridx]
    deck = plan.roads.deck[ridx]
    surface = plan.roads.surface[ridx]
    kind = plan.table.water[np.maximum(cv.zone, 0)]
    land = (kind == WATER_NONE) | (kind == WATER_PONDS)
    on = (nearest > 0) & (dist <= half) & (land | (deck > 0)) & (cv.bheight == 0)
    idx = np.flatnonzero(on)
    if not len(idx):
        return
    d, h, srf, dk = dist[idx], half[idx], surface[idx], deck[idx]
    grain = cv.field("grain", 31, idx) - _F32(0.5)
    medium = cv.field("medium", 32, idx) - _F32(0.5)
    base = plan.palettes[PALETTE_IDS["road"]][srf].T
    col = base * (1 + _F32(0.1) * medium + _F32(0.06) * grain)
    paved = srf == 0
    walk = paved & (h >= 6) & (d > h - 2.5)
    col[:, walk] = np.array([[168], [162], [152]], dtype=_F32) * (1 + _F32(0.06) * grain[walk])
    centre = paved & (h >= 7) & (d < 0.55)
    col[:, centre] = np.array([[206], [192], [128]], dtype=_F32)
    rows, cols = cv.rows(idx), cv.cols(idx)
    lane = paved & (h >= 9) & (d < h - 3.0) & (np.abs(d - 3.5 * np.round(d / 3.5)) < 0.45) & (d > 2)
    dash = ((rows // 5 + cols // 5) % 2) == 0
    col[:, lane & dash] = _F32(205.0)
    # Cars: small rectangles on a pixel lattice, long side along the road.
    ck = hash_ints(rows // 6, cols // 6, salt=cv.salt + 33)
    a = cv.attrs
    density = np.where(paved & (h >= 9), _F32(0.16), np.where(paved, _F32(0.06), _F32(0.01)))
    oy, ox = (rows % 6).astype(_F32), (cols % 6).astype(_F32)
    long_x = horizontal[idx]
    hy = np.where(long_x, _F32(0.9), _F32(2.2))
    hx = np.where(long_x, _F32(2.2), _F32(0.9))
    cy, cx = _F32(1.5) + _F32(3.0) * a.get(ck, 1), _F32(1.5) + _F32(3.0) * a.get(ck, 2)
    car = (a.get(ck, 0) < density) & (np.abs(oy - cy) < hy) & (np.abs(ox - cx) < hx) & (d < h - 2.5)
    car &= ~centre
    if car.any():
        car_col = CARS[np.minimum((a.get(ck[car], 3) * len(CARS)).astype(np.int64), len(CARS) - 1)]
        col[:, car] = car_col.T
    cv.rgb[:, idx] = col
    cv.veg[idx] = 0
    cv.height[idx] = np.where(car, _F32(1.5), _F32(0.0)) + dk
    if cv.surface is not None:
        # Dirt tracks are bare soil; carriageways, sidewalks and bridge decks are paved.
        dirt = (srf == 2) & (dk == 0)
        cv.surface[idx] = np.where(dirt, SURFACE_PERVIOUS, SURFACE_IMPERVIOUS)
    rail = (dk > 0) & (d > h - 1.0)
    cv.height[idx[rail]] += _F32(1.2)
