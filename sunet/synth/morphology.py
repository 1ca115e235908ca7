"""What each Local Climate Zone looks like from above: per-class styles and per-zone parameters.

The quantitative part comes from Stewart & Oke's Table 3 in :mod:`sunet.lcz`: every zone draws its
building surface fraction, its impervious/pervious split of the open ground and its building (or
tree) height from the class's ranges. This module adds what the table leaves open: lot sizes and
building shapes, roof materials, trees, the kind of ground, and colour palettes.

Look-alike pairs are made hard on purpose, as in the imagery of the paper:

* LCZ 2 vs 5: the same slab buildings, roofs and heights; only the spacing (Table 3 building
  fraction 40-70 % vs 20-40 %) and the share of greenery differ, and the two ranges meet at 40 %.
* LCZ 6 vs F: open low-rise yards are often bare soil of the same palette as LCZ F, roofs include
  earthy tiles, and LCZ F carries sparse site huts and tracks.
* LCZ D vs F: both are cut into field parcels with rows; D includes dry and fallow parcels, F
  includes ploughed parcels and weedy patches, and their colours overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from sunet.lcz import CLASSES, Range
from sunet.synth.palettes import PALETTE_IDS, PALETTES

__all__ = [
    "GROUND_FIELDS",
    "GROUND_FOREST",
    "GROUND_ROCK",
    "GROUND_SLABS",
    "GROUND_SOIL",
    "GROUND_URBAN",
    "WATER_LAKE",
    "WATER_NONE",
    "WATER_PONDS",
    "WATER_RIVER",
    "ZoneTable",
    "zone_parameters",
]

# Ground kinds (how the open ground between buildings and trees is drawn).
GROUND_URBAN, GROUND_FIELDS, GROUND_SLABS, GROUND_ROCK, GROUND_SOIL, GROUND_FOREST = range(6)
# Water kinds of LCZ G zones.
WATER_NONE, WATER_RIVER, WATER_LAKE, WATER_PONDS = range(4)


@dataclass(frozen=True)
class _Buildings:
    lot_w: tuple[float, float]  # lot size across the building's short side, metres
    lot_d: tuple[float, float]  # lot size along its long side, metres
    lots: tuple[int, int]  # lots per block side (streets between blocks)
    street: tuple[float, float]  # internal street width, metres
    presence: float  # share of lots that hold a building
    depth_share: float  # how the fill area splits between depth and width (0.5 = square)
    height: tuple[float | None, float | None]  # closes Table 3's open height bounds
    roof: str
    gable: float = 0.0  # probability of a pitched roof
    tank: float = 0.0  # probability of a round tank instead of a block
    wing: float = 0.0  # probability of a second wing (L/T shapes)
    units: float = 0.0  # rooftop equipment / solar heaters density


@dataclass(frozen=True)
class _Trees:
    radius: tuple[float, float]  # crown radius, metres
    height: tuple[float, float]  # crown top, metres
    cover: tuple[float, float]  # crown cover of the open ground
    palette: str = "crown"
    street: float = 0.0  # probability of a tree at each street-side slot


@dataclass(frozen=True)
class _Style:
    buildings: _Buildings | None
    trees: _Trees | None
    ground: int
    veg: tuple[float, float]  # vegetated share of the pervious ground
    natural_bsf: tuple[float, float] = (0.0, 0.0)  # building fraction drawn for natural classes


# fmt: off
_STYLES: dict[str, _Style] = {
    "1": _Style(
        _Buildings((38, 55), (40, 60), (2, 3), (10, 16), 0.92, 0.5, (25, 120), "highrise", wing=0.35, units=0.6),
        _Trees((2.5, 4.0), (7, 12), (0.05, 0.15), street=0.6),
        GROUND_URBAN, (0.7, 1.0),
    ),
    "2": _Style(
        _Buildings((20, 30), (36, 60), (2, 4), (8, 12), 0.92, 0.72, (None, None), "midrise", gable=0.1, wing=0.3, units=0.45),
        _Trees((2.0, 4.0), (6, 12), (0.08, 0.25), street=0.5),
        GROUND_URBAN, (0.5, 0.9),
    ),
    "3": _Style(
        _Buildings((7, 12), (8, 14), (4, 8), (3, 6), 0.9, 0.55, (None, None), "tile", gable=0.55, wing=0.25, units=0.05),
        _Trees((1.5, 3.5), (5, 9), (0.05, 0.15), street=0.2),
        GROUND_URBAN, (0.4, 0.8),
    ),
    "4": _Style(
        _Buildings((45, 75), (55, 95), (2, 3), (10, 16), 0.85, 0.6, (25, 100), "highrise", wing=0.2, units=0.5),
        _Trees((2.5, 5.0), (7, 14), (0.25, 0.45), street=0.6),
        GROUND_URBAN, (0.7, 1.0),
    ),
    "5": _Style(
        _Buildings((26, 40), (50, 80), (2, 4), (8, 12), 0.9, 0.85, (None, None), "midrise", gable=0.15, wing=0.15, units=0.45),
        _Trees((2.0, 4.5), (6, 13), (0.25, 0.5), street=0.5),
        GROUND_URBAN, (0.6, 1.0),
    ),
    "6": _Style(
        _Buildings((16, 26), (18, 30), (3, 6), (5, 8), 0.85, 0.55, (None, None), "tile", gable=0.5, wing=0.3, units=0.05),
        _Trees((2.0, 4.0), (5, 10), (0.08, 0.3), street=0.3),
        GROUND_URBAN, (0.25, 0.7),
    ),
    "7": _Style(
        _Buildings((5, 8), (5, 9), (5, 10), (1.5, 3), 0.95, 0.55, (None, None), "shack", gable=0.1, wing=0.2),
        _Trees((1.5, 3.0), (4, 7), (0.0, 0.05)),
        GROUND_URBAN, (0.2, 0.6),
    ),
    "8": _Style(
        _Buildings((45, 110), (60, 150), (1, 3), (12, 20), 0.85, 0.6, (5, 12), "metal", gable=0.1, wing=0.15, units=0.25),
        _Trees((2.0, 4.0), (6, 10), (0.05, 0.15), street=0.4),
        GROUND_URBAN, (0.5, 0.9),
    ),
    "9": _Style(
        _Buildings((30, 60), (30, 60), (3, 6), (4, 6), 0.7, 0.55, (None, None), "tile", gable=0.5, wing=0.3),
        _Trees((2.0, 4.5), (5, 12), (0.1, 0.3), street=0.2),
        GROUND_FIELDS, (0.6, 0.95),
    ),
    "10": _Style(
        _Buildings((35, 80), (40, 100), (1, 3), (10, 16), 0.8, 0.6, (None, None), "industrial", tank=0.3, wing=0.2, units=0.3),
        _Trees((2.0, 3.5), (5, 9), (0.0, 0.05)),
        GROUND_URBAN, (0.0, 0.2),
    ),
    "A": _Style(
        None,
        _Trees((2.5, 6.0), (8, 25), (0.9, 1.0)),
        GROUND_FOREST, (1.0, 1.0),
    ),
    "B": _Style(
        _Buildings((40, 80), (40, 80), (3, 5), (3, 5), 0.3, 0.55, (3, 6), "hut"),
        _Trees((2.0, 5.0), (5, 14), (0.25, 0.5)),
        GROUND_URBAN, (0.8, 1.0), natural_bsf=(0.0, 0.01),
    ),
    "C": _Style(
        None,
        _Trees((0.8, 2.2), (0.8, 2.0), (0.35, 0.6), palette="shrub"),
        GROUND_URBAN, (0.5, 0.8),
    ),
    "D": _Style(
        _Buildings((50, 90), (50, 90), (3, 5), (3, 5), 0.3, 0.55, (3, 5), "hut"),
        _Trees((2.0, 4.0), (5, 10), (0.0, 0.03)),
        GROUND_FIELDS, (0.75, 1.0), natural_bsf=(0.0, 0.01),
    ),
    "E": _Style(
        _Buildings((40, 80), (40, 80), (3, 5), (4, 8), 0.3, 0.55, (3, 5), "hut"),
        None,
        GROUND_SLABS, (0.0, 0.1), natural_bsf=(0.0, 0.02),
    ),
    "F": _Style(
        _Buildings((30, 70), (30, 70), (2, 5), (4, 8), 0.35, 0.55, (2.5, 4), "hut"),
        _Trees((1.5, 3.0), (3, 7), (0.0, 0.02)),
        GROUND_SOIL, (0.0, 0.2), natural_bsf=(0.0, 0.045),
    ),
    "G": _Style(
        _Buildings((60, 120), (60, 160), (2, 4), (20, 40), 0.25, 0.85, (2, 4), "boat"),
        None,
        GROUND_SOIL, (0.3, 0.8), natural_bsf=(0.0, 0.004),
    ),
}
# fmt: on

# Ground palettes per class: (paved, vegetated, soil).
_GROUND_PALETTES: dict[str, tuple[str, str, str]] = {
    **{k: ("paved", "grass", "soil") for k in ("1", "2", "3", "4", "5", "6", "7", "8", "9")},
    "10": ("paved", "dry", "industrial_ground"),
    "A": ("paved", "forest_floor", "soil"),
    "B": ("paved", "grass", "dry"),
    "C": ("paved", "dry", "soil"),
    "D": ("paved", "crop", "soil"),
    "E": ("paved", "dry", "rock"),
    "F": ("paved", "dry", "soil"),
    "G": ("paved", "grass", "soil"),
}


@dataclass
class ZoneTable:
    """Rendering parameters of every zone, one array entry per zone id (lengths ``n``).

    Orientation and lots: ``cos_t``/``sin_t`` rotate layout metres into the zone's lot frame
    ``(u, v)``; lots are ``lot_w`` x ``lot_d`` m, grouped ``nu`` x ``nv`` per block with ``street``
    m between blocks. Building sizes follow ``fill_w``/``fill_d`` (share of the lot), heights
    ``h_mean`` (m, each building 0.6-1.4 times). Trees sit on lattices of ``t_cell`` m. Colours are
    ``(n, 3)`` RGB in 0-255.
    """

    code: np.ndarray
    water: np.ndarray
    cos_t: np.ndarray
    sin_t: np.ndarray
    off_u: np.ndarray
    off_v: np.ndarray
    bsf: np.ndarray
    b_on: np.ndarray
    lot_w: np.ndarray
    lot_d: np.ndarray
    nu: np.ndarray
    nv: np.ndarray
    street: np.ndarray
    presence: np.ndarray
    fill_w: np.ndarray
    fill_d: np.ndarray
    h_mean: np.ndarray
    gable: np.ndarray
    tank: np.ndarray
    wing: np.ndarray
    units: np.ndarray
    roof_pal: np.ndarray
    t_on: np.ndarray
    t_layers: np.ndarray
    t_cell: np.ndarray
    t_rmin: np.ndarray
    t_rmax: np.ndarray
    t_pres: np.ndarray
    t_hmin: np.ndarray
    t_hmax: np.ndarray
    t_pal: np.ndarray
    t_street: np.ndarray
    ground: np.ndarray
    green: np.ndarray
    ploughed: np.ndarray
    q_paved: np.ndarray
    q_veg: np.ndarray
    paved_rgb: np.ndarray
    veg_rgb: np.ndarray
    soil_rgb: np.ndarray
    water_rgb: np.ndarray
    veg_pal: np.ndarray
    soil_pal: np.ndarray

    def __len__(self) -> int:
        return int(self.code.shape[0])

    def as_columns(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _closed(r: Range, low: float | None, high: float | None) -> tuple[float, float]:
    lo = r.low if r.low is not None else (low if low is not None else 0.0)
    hi = r.high if r.high is not None else (high if high is not None else lo * 1.5)
    return float(lo), float(hi)


def _pick(rng: np.random.Generator, palette: str, jitter: float) -> np.ndarray:
    colours = PALETTES[palette]
    base = colours[rng.integers(len(colours))]
    return np.clip(base * rng.normal(1.0, jitter) + rng.normal(0.0, 4.0, 3), 20, 240)


def zone_parameters(
    codes: np.ndarray, water: np.ndarray, angles: np.ndarray, rng: np.random.Generator
) -> ZoneTable:
    """Draw every zone's rendering parameters from its class (Table 3 ranges plus class style).

    Args:
        codes: ``(n,)`` raster codes 1-17 of the zones.
        water: ``(n,)`` water kind of each zone (``WATER_*``; ``WATER_NONE`` on land).
        angles: ``(n,)`` orientation of each zone's lots in radians (plan frame, from east).
        rng: the generator (consumed in zone order, so the result is deterministic).
    """
    n = len(codes)
    cols: dict[str, list[object]] = {f.name: [] for f in fields(ZoneTable)}
    for i in range(n):
        cls = CLASSES[int(codes[i]) - 1]
        style = _STYLES[cls.letter]
        props = cls.properties
        b = style.buildings
        row: dict[str, object] = {"code": int(codes[i]), "water": int(water[i])}
        row["cos_t"], row["sin_t"] = math.cos(angles[i]), math.sin(angles[i])
        row["off_u"], row["off_v"] = rng.uniform(0, 500, 2)
        # An open low-rise "village on bare soil" (sparse houses, dirt yards, few trees) is what
        # the paper's LCZ 6 is mistaken for LCZ F with.
        village = cls.letter == "6" and rng.random() < 0.35
        if village:
            bsf = rng.uniform(0.2, 0.27)
        elif cls.is_built:
            bsf = rng.uniform(*_closed(props["building_surface_pct"], None, None)) / 100.0
        else:
            bsf = rng.uniform(*style.natural_bsf)
            if cls.letter == "G" and int(water[i]) != WATER_RIVER:
                bsf = 0.0  # boats only on the river
        row["bsf"] = bsf
        # Table 3: paved share of the open ground from the impervious/pervious fractions.
        isf = props["impervious_surface_pct"].mid(0.0, 100.0)
        psf = props["pervious_surface_pct"].mid(0.0, 100.0)
        q_paved = float(np.clip(isf / (isf + psf) + rng.normal(0, 0.06), 0.0, 1.0))
        # The few percent of impervious ground of natural classes are their tracks and roads.
        row["q_paved"] = q_paved if cls.is_built or cls.letter == "E" else 0.0
        if village:
            row["q_paved"] = rng.uniform(0.05, 0.2)  # dirt yards, little concrete
        row["q_veg"] = rng.uniform(0.05, 0.3) if village else rng.uniform(*style.veg)
        # Fields: share of parcels under green crops. D ranges from lush to mostly fallow, F is
        # ploughed soil with a few green parcels, so the two meet in the middle.
        row["green"] = {
            "D": rng.uniform(0.25, 0.95),
            "9": rng.uniform(0.5, 0.95),
            "F": rng.uniform(0.0, 0.15),
        }.get(cls.letter, 0.8)
        row["ploughed"] = cls.letter == "F" and rng.random() < 0.5
        if b is not None and bsf > 0.0015:
            lot_w, lot_d = rng.uniform(*b.lot_w), rng.uniform(*b.lot_d)
            nu, nv = (
                int(rng.integers(b.lots[0], b.lots[1] + 1)),
                int(rng.integers(b.lots[0], b.lots[1] + 1)),
            )
            street = rng.uniform(*b.street)
            block = (nu * lot_w * nv * lot_d) / ((nu * lot_w + street) * (nv * lot_d + street))
            # Lots near zone edges lose their building to the setback check: aim a little higher.
            area = bsf * (1.15 if cls.is_built else 1.0) / (b.presence * block)
            presence = b.presence
            if area > 0.9:
                area = 0.9
            if not cls.is_built:
                # Natural classes: a few small huts rather than many tiny ones.
                presence = min(1.0, bsf / (0.02 * block))
                area = 0.02
            fill_d = min(0.96, area**b.depth_share * 1.05)
            fill_w = min(0.95, area / fill_d)
            if cls.is_built:
                table_h = _closed(props["roughness_height_m"], *b.height)
            else:
                table_h = (float(b.height[0] or 2.0), float(b.height[1] or 4.0))  # huts, boats
            row.update(
                b_on=True,
                lot_w=lot_w,
                lot_d=lot_d,
                nu=nu,
                nv=nv,
                street=street,
                presence=presence,
                fill_w=fill_w,
                fill_d=fill_d,
                h_mean=rng.uniform(*table_h),
                gable=b.gable,
                tank=b.tank,
                wing=b.wing,
                units=b.units,
                roof_pal=PALETTE_IDS[b.roof],
            )
        else:
            row.update(
                b_on=False,
                lot_w=50.0,
                lot_d=50.0,
                nu=1,
                nv=1,
                street=0.0,
                presence=0.0,
                fill_w=0.0,
                fill_d=0.0,
                h_mean=0.0,
                gable=0.0,
                tank=0.0,
                wing=0.0,
                units=0.0,
                roof_pal=0,
            )
        if village:
            # Low houses with earthy tiled roofs, hardly taller than a site's stacks.
            row.update(h_mean=rng.uniform(3.5, 6.0), gable=0.3, roof_pal=PALETTE_IDS["village"])
        if cls.letter == "F" and rng.random() < 0.45:
            # A building site: foundations, material stacks and site huts on bare soil, laid out
            # like the open low-rise it will become (the LCZ 6 / F confusion of the paper).
            lot_w, lot_d = rng.uniform(14, 24), rng.uniform(16, 28)
            nu, nv = int(rng.integers(3, 6)), int(rng.integers(3, 6))
            row.update(
                b_on=True,
                lot_w=lot_w,
                lot_d=lot_d,
                nu=nu,
                nv=nv,
                street=rng.uniform(5, 8),
                presence=rng.uniform(0.18, 0.32),
                fill_w=0.55,
                fill_d=0.6,
                h_mean=rng.uniform(1.0, 3.5),
                gable=0.0,
                tank=0.3,  # round stockpiles of sand and gravel
                wing=0.2,
                units=0.0,
                roof_pal=PALETTE_IDS["site"],
            )
        t = style.trees
        if t is not None:
            cover = rng.uniform(*t.cover) * (0.4 if village else 1.0)
            cell = 2.0 * t.radius[1] + 0.6
            mean_area = math.pi * (0.5 * sum(t.radius)) ** 2
            # Dense canopies use two offset lattices, cover ~ 1 - (1 - p a / c^2)^2 for presence
            # p; sparse ones one lattice (cover ~ p a / c^2), which halves the work.
            layers = 2 if cover > 0.35 else 1
            per = 1.0 - math.sqrt(max(0.0, 1.0 - min(cover, 0.999))) if layers == 2 else cover
            row.update(
                t_on=cover > 0.0 or t.street > 0.0,
                t_layers=layers,
                t_cell=cell,
                t_rmin=t.radius[0],
                t_rmax=t.radius[1],
                t_pres=min(1.0, per * cell * cell / mean_area),
                t_hmin=t.height[0],
                t_hmax=t.height[1],
                t_pal=PALETTE_IDS[t.palette],
                t_street=t.street,
            )
        else:
            row.update(
                t_on=False,
                t_layers=1,
                t_cell=10.0,
                t_rmin=1.0,
                t_rmax=1.0,
                t_pres=0.0,
                t_hmin=0.0,
                t_hmax=0.0,
                t_pal=0,
                t_street=0.0,
            )
        ground = style.ground
        if cls.letter == "E" and rng.random() < 0.35:
            ground = GROUND_ROCK
        row["ground"] = ground
        paved, veg, soil = _GROUND_PALETTES[cls.letter]
        row["paved_rgb"] = _pick(rng, paved, 0.06)
        row["veg_rgb"] = _pick(rng, veg, 0.07)
        row["soil_rgb"] = _pick(rng, soil, 0.07)
        row["veg_pal"], row["soil_pal"] = PALETTE_IDS[veg], PALETTE_IDS[soil]
        wk = int(water[i])
        water_pal = {WATER_RIVER: "river", WATER_LAKE: "lake", WATER_PONDS: "pond"}.get(wk, "lake")
        row["water_rgb"] = _pick(rng, water_pal, 0.05)
        for k, v in row.items():
            cols[k].append(v)
    # Lot counts stay float32 so that lot arithmetic is never promoted to float64.
    dtypes = {
        "code": np.uint8,
        "water": np.int8,
        "b_on": bool,
        "ploughed": bool,
        "t_on": bool,
        "roof_pal": np.int32,
        "t_pal": np.int32,
        "ground": np.int32,
        "veg_pal": np.int32,
        "soil_pal": np.int32,
    }
    arrays = {
        k: np.asarray(v, dtype=dtypes.get(k, np.float32)).reshape(
            (n, 3) if k.endswith("_rgb") else (n,)
        )
        for k, v in cols.items()
    }
    return ZoneTable(**arrays)
