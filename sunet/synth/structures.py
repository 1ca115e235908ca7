"""Raised layers of the renderer: tree crowns and buildings.

Trees and buildings sit on hashed lattices in each zone's lot frame (see
:mod:`sunet.synth.morphology` for the per-class lot sizes, fills and heights drawn from Stewart & Oke's
Table 3). Every pixel works out which lot or tree cell it falls in and whether that lot's
building or that cell's crown covers it, so nothing loops over objects; whether a lot may hold a
building (its corners inside the zone, clear of roads) is decided once per distinct lot.
"""

from __future__ import annotations

import numpy as np

from sunet.synth.canvas import (
    SURFACE_BUILDING,
    SURFACE_IMPERVIOUS,
    SURFACE_PERVIOUS,
    Canvas,
    lot_frame,
    palette_colours,
)
from sunet.synth.noise import hash_ints
from sunet.synth.palettes import FACADES, PALETTE_IDS

__all__ = ["facade_colours", "paint_buildings", "paint_trees"]

_F32 = np.float32


def paint_trees(cv: Canvas, idx: np.ndarray) -> None:
    """Tree crowns on two offset lattices per zone, kept off carriageways and other zones."""
    t = cv.plan.table
    z = cv.zone[idx]
    sun = cv.look.sun_vector()
    fine = cv.field("fine", 41, idx) - _F32(0.5)
    grain = cv.field("grain", 42, idx) - _F32(0.5)
    # The truth's crowns are those of a leaf-on acquisition, whatever this look's season: they
    # are painted by the same rule against heights of their own, which leafless trees (not
    # painted where bare) would otherwise change.
    leaf_on = cv.height.copy() if cv.crown is not None else None
    for lattice in range(2):
        if lattice == 1:
            # The second, offset lattice only where the canopy is dense.
            two = t.t_layers[z] > 1
            idx, z, fine, grain = idx[two], z[two], fine[two], grain[two]
            if not len(idx):
                break
        cell = t.t_cell[z]
        off = _F32(0.5 * lattice) * cell
        x, y = cv.x[idx] + off, cv.y[idx] + off
        iu, iv = np.floor(x / cell), np.floor(y / cell)
        fu, fv = x - iu * cell, y - iv * cell
        key = hash_ints(z, iu, iv, lattice, salt=cv.salt + 43)
        a = cv.attrs
        r = t.t_rmin[z] + (t.t_rmax[z] - t.t_rmin[z]) * a.get(key, 1)
        slack = np.maximum(cell - 2 * r, 0)
        cu = r + slack * a.get(key, 2)
        cv_ = r + slack * a.get(key, 3)
        du, dv = fu - cu, fv - cv_
        d2 = du * du + dv * dv
        inside = d2 < r * r
        if not inside.any():
            continue
        s = np.flatnonzero(inside)
        ks, zs = key[s], z[s]
        # Where is the trunk? Inside the zone -> zone density; on a verge -> street trees.
        centre_x = cv.x[idx[s]] - du[s]
        centre_y = cv.y[idx[s]] - dv[s]
        where = cv.plan_value(centre_x, centre_y)
        p = np.where(where == zs, t.t_pres[zs], np.where(where == -2, t.t_street[zs], _F32(0)))
        keep = a.get(ks, 0) < p
        s, ks, zs = s[keep], ks[keep], zs[keep]
        if not len(s):
            continue
        rr = r[s]
        nd = np.sqrt(d2[s]) / rr
        lit = (du[s] * sun[0] + dv[s] * sun[1]) / rr
        shade = _F32(0.78) + _F32(0.22) * np.sqrt(np.maximum(1 - nd * nd, 0)) + _F32(0.28) * lit
        colour = palette_colours(cv.plan.palettes, t.t_pal[zs], a.get(ks, 4)) * (
            _F32(0.85) + _F32(0.3) * a.get(ks, 5)
        )
        colour *= shade * (1 + _F32(0.35) * fine[s] + _F32(0.15) * grain[s])
        h = (t.t_hmin[zs] + (t.t_hmax[zs] - t.t_hmin[zs]) * a.get(ks, 6)) * (
            _F32(0.6) + _F32(0.4) * np.sqrt(np.maximum(1 - nd * nd, 0))
        )
        if leaf_on is not None and cv.crown is not None:
            crowns = idx[s]
            up = (h >= leaf_on[crowns] - 0.5) & (cv.bheight[crowns] == 0)
            leaf_on[crowns[up]] = h[up]
            cv.crown[crowns[up]] = h[up]
        leafy = np.ones(len(s), dtype=_F32)
        if cv.look.leaf_off > 0:
            # Leafless trees: grey-brown branches over the ground, which shows through.
            bare = a.get(ks, 7) < cv.look.leaf_off
            twig = bare & (fine[s] + _F32(0.5) * nd < _F32(0.25))
            keep = ~bare | twig
            branches = (
                np.array([[104], [92], [78]], dtype=_F32) * shade * (1 + _F32(0.2) * grain[s])
            )
            colour = np.where(bare, branches, colour)
            leafy = (~bare).astype(_F32)
            s, ks, zs, nd, leafy, h = s[keep], ks[keep], zs[keep], nd[keep], leafy[keep], h[keep]
            colour = colour[:, keep]
        target = idx[s]
        higher = (h >= cv.height[target] - 0.5) & (cv.bheight[target] == 0)
        target, colour, h = target[higher], colour[:, higher], h[higher]
        cv.rgb[:, target] = colour
        cv.height[target] = h
        cv.veg[target] = leafy[higher]


def paint_buildings(cv: Canvas, idx: np.ndarray) -> np.ndarray:
    """Lots of built zones: internal streets, then buildings (blocks, L-shapes, tanks) with
    flat, pitched or round roofs, parapets and rooftop equipment.

    Returns the pixels painted (streets and roofs), which the ground layer then skips.
    """
    t = cv.plan.table
    a = cv.attrs
    z = cv.zone[idx]
    u, v = lot_frame(cv, idx, z)
    lw, ld, st = t.lot_w[z], t.lot_d[z], t.street[z]
    bu_w = t.nu[z] * lw + st
    bv_w = t.nv[z] * ld + st
    bu, bv = np.floor(u / bu_w), np.floor(v / bv_w)
    ru, rv = u - bu * bu_w, v - bv * bv_w
    iu, iv = np.floor(ru / lw), np.floor(rv / ld)
    street = (iu >= t.nu[z]) | (iv >= t.nv[z])
    # Internal streets are paved ground (built zones only; natural zones keep their ground).
    # Building sites (LCZ F) get graded dirt streets, laid out like the LCZ 6 they will become.
    # Villages (LCZ 6 on bare soil) share those dirt streets.
    site = (t.roof_pal[z] == PALETTE_IDS["site"]) | (t.roof_pal[z] == PALETTE_IDS["village"])
    srt = np.flatnonzero(street & ((t.code[z] <= 10) | site))
    streets = idx[srt]
    if len(srt):
        grain = cv.field("grain", 51, idx[srt]) - _F32(0.5)
        zs = z[srt]
        base = np.where(site[srt], t.soil_rgb[zs].T * _F32(1.1), t.paved_rgb[zs].T * _F32(0.72))
        cv.rgb[:, streets] = base * (1 + _F32(0.06) * grain)
        cv.veg[streets] = 0
        cv.height[streets] = 0
        if cv.surface is not None:
            cv.surface[streets] = np.where(site[srt], SURFACE_PERVIOUS, SURFACE_IMPERVIOUS)
    fu, fv = ru - iu * lw, rv - iv * ld
    key = hash_ints(z, bu * 64 + iu, bv * 64 + iv, salt=cv.salt + 52)
    present = ~street & (a.get(key, 0) < t.presence[z])
    s = np.flatnonzero(present)
    if not len(s):
        return streets
    z, key, fu, fv, lw, ld = z[s], key[s], fu[s], fv[s], lw[s], ld[s]
    u0 = bu[s] * bu_w[s] + iu[s] * lw
    v0 = bv[s] * bv_w[s] + iv[s] * ld
    idx = idx[s]
    hw = np.minimum(
        _F32(0.5) * lw * t.fill_w[z] * (_F32(0.8) + _F32(0.4) * a.get(key, 1)), 0.5 * lw - 0.6
    )
    hd = np.minimum(
        _F32(0.5) * ld * t.fill_d[z] * (_F32(0.85) + _F32(0.3) * a.get(key, 2)), 0.5 * ld - 0.6
    )
    hw, hd = np.maximum(hw, 1.2), np.maximum(hd, 1.2)
    cu = 0.5 * lw + (0.5 * lw - hw) * (2 * a.get(key, 3) - 1) * _F32(0.9)
    cv_ = 0.5 * ld + (0.5 * ld - hd) * (2 * a.get(key, 4) - 1) * _F32(0.9)
    du, dv = fu - cu, fv - cv_
    tank = a.get(key, 5) < t.tank[z]
    radius = np.minimum(hw, hd)
    inside = np.where(
        tank, du * du + dv * dv < radius * radius, (np.abs(du) < hw) & (np.abs(dv) < hd)
    )
    # A wing at one end makes L and T shapes.
    wing = ~tank & (a.get(key, 6) < t.wing[z])
    room = np.where(a.get(key, 7) < 0.5, cu - hw, lw - cu - hw) - 0.8
    ext = np.clip(room, 0, 2.2 * hw)
    side = np.where(a.get(key, 7) < 0.5, _F32(-1.0), _F32(1.0))
    wd = _F32(0.3) * hd
    end = np.where(a.get(key, 8) < 0.5, _F32(-1.0), _F32(1.0))
    in_wing = (
        wing
        & (ext > 2)
        & (np.abs(dv - end * (hd - wd)) < wd)
        & (du * side > -hw)
        & (du * side < hw + ext)
    )
    inside |= in_wing
    if not inside.any():
        return streets
    k = np.flatnonzero(inside)
    z, key, du, dv, hw, hd, idx = z[k], key[k], du[k], dv[k], hw[k], hd[k], idx[k]
    tank, ext, side, radius = tank[k], ext[k], side[k], radius[k]
    # Setback test on the plan raster: every corner (with a margin) must be in this zone. The
    # test is per lot, so evaluate it once per distinct lot and spread the answer to its pixels.
    lot = key.astype(np.uint64) | (z.astype(np.uint64) << np.uint64(32))
    _, first, inv = np.unique(lot, return_index=True, return_inverse=True)
    f = k[first]
    zf = z[first]
    cx = u0[f] + cu[f] - t.off_u[zf]
    cy = v0[f] + cv_[f] - t.off_v[zf]
    ext_pos = np.where(side[first] > 0, ext[first], 0)
    ext_neg = np.where(side[first] < 0, ext[first], 0)
    c, sn = t.cos_t[zf], t.sin_t[zf]
    hwf, hdf = hw[first], hd[first]
    lot_ok = np.ones(len(first), dtype=bool)
    m = _F32(1.5)
    for su, sv in ((-1, -1), (-1, 1), (1, -1), (1, 1), (0, 0)):
        pu = cx + np.where(su > 0, hwf + ext_pos + m, np.where(su < 0, -(hwf + ext_neg + m), 0))
        pv = cy + sv * (hdf + m)
        px, py = c * pu - sn * pv, sn * pu + c * pv
        lot_ok &= cv.plan_value(px, py) == zf
    ok = lot_ok[inv.ravel()]
    if not ok.any():
        return streets
    z, key, du, dv, hw, hd, idx, tank, radius = (
        z[ok],
        key[ok],
        du[ok],
        dv[ok],
        hw[ok],
        hd[ok],
        idx[ok],
        tank[ok],
        radius[ok],
    )
    code = t.code[z]
    hgt = t.h_mean[z] * (_F32(0.6) + _F32(0.8) * a.get(key, 9))
    hgt = np.where(tank, np.minimum(hgt, 18) * _F32(0.8), hgt)
    colour = palette_colours(cv.plan.palettes, t.roof_pal[z], a.get(key, 10)) * (
        _F32(0.88) + _F32(0.24) * a.get(key, 11)
    )
    # Tanks are painted steel; on building sites the round shapes are heaps of soil and gravel.
    heap = t.roof_pal[z] == PALETTE_IDS["site"]
    steel = np.array([[214], [212], [206]], dtype=_F32)
    colour = np.where(
        tank,
        np.where(heap, t.soil_rgb[z].T, steel) * (0.9 + 0.15 * a.get(key, 11)),
        colour,
    )
    grain = cv.field("grain", 53, idx) - _F32(0.5)
    small = cv.field("small", 54, idx) - _F32(0.5)
    shade = 1 + _F32(0.06) * grain + _F32(0.05) * small
    sun = cv.look.sun_vector()
    c, sn = t.cos_t[z], t.sin_t[z]
    # Pitched roofs: two planes lit differently, the ridge along the long side.
    gable = ~tank & (a.get(key, 12) < t.gable[z])
    face = np.where(du > 0, _F32(1.0), _F32(-1.0))
    facing = face * (c * sun[0] + sn * sun[1])  # the u axis in plan is (cos t, sin t)
    shade = np.where(gable, shade * (1 + _F32(0.22) * facing), shade)
    shade = np.where(gable & (np.abs(du) < 0.6), shade * _F32(1.08), shade)
    # Flat roofs: a parapet rim.
    rim = np.minimum(hw - np.abs(du), hd - np.abs(dv))
    parapet = ~gable & ~tank & (rim < 0.9) & (rim > -0.5)
    shade = np.where(parapet, shade * np.where(a.get(key, 13) < 0.5, _F32(0.82), _F32(1.12)), shade)
    # Tanks: a dome lit from the sun.
    nd = np.sqrt(du * du + dv * dv) / np.maximum(radius, 1e-3)
    tl = (du * (c * sun[0] + sn * sun[1]) + dv * (-sn * sun[0] + c * sun[1])) / np.maximum(
        radius, 1e-3
    )
    shade = np.where(tank, shade * (_F32(0.88) + _F32(0.2) * tl - _F32(0.1) * nd * nd), shade)
    colour *= shade
    # Rooftop equipment and solar heaters on flat roofs.
    cell = _F32(6.0)
    ku, kv = np.floor(du / cell), np.floor(dv / cell)
    unit_key = hash_ints(key, ku, kv, salt=7)
    uu, uv = du - ku * cell, dv - kv * cell
    usize = _F32(1.6) + _F32(1.8) * a.get(unit_key, 2)
    unit = (
        ~gable
        & ~tank
        & (rim > 1.5)
        & (a.get(unit_key, 0) < t.units[z] * 0.3)
        & (uu > 1.0)
        & (uu < 1.0 + usize)
        & (uv > 1.0)
        & (uv < 1.0 + usize * 1.3)
    )
    if unit.any():
        tone = a.get(unit_key[unit], 1)
        ucol = np.where(
            tone < 0.3,
            np.array([[64], [72], [96]], dtype=_F32),
            np.where(tone < 0.75, _F32(196.0), _F32(120.0)),
        )
        colour[:, unit] = np.broadcast_to(ucol, (3, int(unit.sum())))
    hgt = hgt + np.where(unit, _F32(1.5), _F32(0.0))
    del code
    cv.rgb[:, idx] = colour
    cv.height[idx] = hgt
    cv.bheight[idx] = hgt
    cv.bkey[idx] = key
    cv.veg[idx] = 0
    if cv.surface is not None:
        cv.surface[idx] = SURFACE_BUILDING
    return np.concatenate([streets, idx])


def facade_colours(keys: np.ndarray, lit: float) -> np.ndarray:
    """Facade colours ``(3, n)`` of the buildings with lot ``keys``, lit or not."""
    pick = ((keys >> np.uint32(3)) % np.uint32(len(FACADES))).astype(np.int64)
    return FACADES[pick].T * _F32(lit)
