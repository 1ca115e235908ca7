"""The city layout: LCZ zones, water, roads and districts in layout metres (EPSG:32650).

The plan is made once per city and every scene is rendered from it, so overlapping scenes show the
same ground and the labels are the plan's own zones. Steps:

1. Seeds on a rotated, jittered lattice (thinned in the outskirts) -> Voronoi cells, whose
   boundaries are warped by smooth noise so that blocks look hand-drawn rather than ruled.
2. Water (:mod:`sunet.synth.water`) is cut out of the cells; what remains are land zones.
3. Each zone takes a class along an urban gradient (compact high-rise core -> mid-rise ->
   open/low-rise -> sparse/industrial -> natural outskirts), with spatially correlated draws so
   that neighbouring zones often share a class; every class is then guaranteed at least once.
4. Roads follow cell boundaries: wide arterials on every third lattice line, streets elsewhere in
   the built city, tracks in the countryside, bridges over the rivers.
5. A coarse raster of the plan (zone id, -1 carriageway/water, -2 verge) lets the renderer keep
   buildings off roads and out of neighbouring zones without any window-dependent test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio import features
from scipy.spatial import cKDTree
from shapely.geometry import LineString, MultiPoint, Polygon, box

from sunet.lcz import CLASSES
from sunet.synth.config import IMAGE_CRS, LAYOUT_CRS, Mosaic, SynthConfig
from sunet.synth.morphology import (
    WATER_LAKE,
    WATER_NONE,
    WATER_PONDS,
    WATER_RIVER,
    ZoneTable,
    zone_parameters,
)
from sunet.synth.noise import AttributeTable, TextureBank, value_noise
from sunet.synth.palettes import PALETTE_LIST
from sunet.synth.water import Waters, make_waters

__all__ = ["CityLayout", "Roads", "build_layout", "PLAN_RES_M"]

PLAN_RES_M = 2.0  # resolution of the plan raster used for setback tests
ROAD_NONE = 0

# Where each class lives on the urban gradient u (0 = centre, 1 = mosaic edge):
# (letter, weight, mean u, spread). Order matters: neighbours in this list are what spatially
# correlated draws fall back on, so it runs from core to countryside.
_GRADIENT: list[tuple[str, float, float, float]] = [
    ("1", 2.2, 0.0, 0.2),
    ("4", 1.4, 0.25, 0.15),
    ("2", 1.6, 0.22, 0.15),
    ("5", 1.3, 0.42, 0.16),
    ("3", 1.0, 0.34, 0.15),
    ("7", 0.7, 0.6, 0.2),
    ("6", 1.2, 0.62, 0.16),
    ("9", 1.0, 0.86, 0.16),
    ("8", 1.0, 0.68, 0.15),
    ("10", 0.9, 0.8, 0.13),
    ("E", 0.5, 0.55, 0.35),
    ("F", 0.8, 0.85, 0.22),
    ("D", 1.2, 1.08, 0.2),
    ("C", 0.8, 1.04, 0.18),
    ("B", 0.9, 0.98, 0.2),
    ("A", 1.0, 1.12, 0.2),
    ("G", 0.3, 1.05, 0.2),
]
_BY_LETTER = {c.letter: c.code for c in CLASSES}


@dataclass
class Roads:
    """Road centrelines (layout metres) with half-widths (m), surface (0 asphalt, 1 concrete,
    2 dirt) and a bridge deck height (m, 0 on the ground)."""

    lines: np.ndarray  # shapely LineStrings
    half_width: np.ndarray
    surface: np.ndarray
    deck: np.ndarray

    def __len__(self) -> int:
        return len(self.lines)


@dataclass
class CityLayout:
    """Everything the renderer and the label writer need, in layout metres unless stated.

    Attributes:
        config: the resolved configuration.
        mosaic: the scene grid.
        footprint: the imaged area (union of the scenes) in layout metres.
        origin: ``(x0, y0)`` subtracted from plan coordinates in float32 rendering arrays.
        zones: ``(n,)`` zone polygons; ``zones_image`` the same in EPSG:3857.
        table: per-zone rendering parameters (``table.code`` = LCZ raster code).
        roads: the road network; ``roads_image`` their centrelines in EPSG:3857.
        raster: plan raster (int16/int32, zone id / -1 carriageway / -2 verge), ``raster_transform``.
        waters: the water layout.
        seed: the city seed (textures and hashes derive from it).
        palettes: colour palettes by :data:`~sunet.synth.palettes.PALETTE_IDS` (a look may
            replace some, see :func:`sunet.synth.looks.apply_look`).
    """

    config: SynthConfig
    mosaic: Mosaic
    footprint: Polygon
    origin: tuple[float, float]
    zones: np.ndarray
    zones_image: np.ndarray
    table: ZoneTable
    roads: Roads
    roads_image: np.ndarray
    raster: np.ndarray
    raster_transform: Affine
    waters: Waters
    seed: int
    palettes: tuple[np.ndarray, ...] = tuple(PALETTE_LIST)

    @cached_property
    def textures(self) -> TextureBank:
        """The city's texture tiles (seeded)."""
        return TextureBank(self.seed)

    @cached_property
    def attributes(self) -> AttributeTable:
        """Random attributes of hashed objects (seeded)."""
        return AttributeTable(self.seed)

    @cached_property
    def ground_colours(self) -> np.ndarray:
        """``(3 n, 3)`` paved, vegetated and soil colours of every zone, interleaved."""
        t = self.table
        return np.stack([t.paved_rgb, t.veg_rgb, t.soil_rgb], axis=1).reshape(-1, 3)

    @cached_property
    def zone_tree_image(self) -> shapely.STRtree:
        """Spatial index of ``zones_image`` (EPSG:3857)."""
        return shapely.STRtree(self.zones_image)

    @cached_property
    def road_tree(self) -> shapely.STRtree:
        """Spatial index of ``roads_image`` (EPSG:3857)."""
        return shapely.STRtree(self.roads_image)

    def lcz_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """LCZ raster code of the zone containing each plan point (0 outside every zone)."""
        pts = shapely.points(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        tree = shapely.STRtree(self.zones)
        pi, zi = tree.query(pts, predicate="intersects")
        out = np.zeros(len(pts), dtype=np.uint8)
        out[pi] = self.table.code[zi]
        return out


def _warp(geoms: np.ndarray, scale: float, salt: int) -> np.ndarray:
    """Displace vertices by smooth noise (two octaves), identically for shared boundaries."""
    geoms = shapely.segmentize(geoms, max(scale * 0.05, 4.0))

    def move(xy: np.ndarray) -> np.ndarray:
        xy = np.round(xy, 3)  # shared vertices must be bit-identical before the noise
        x, y = xy[:, 0], xy[:, 1]
        big, small = 0.8 * scale, 0.16 * scale
        dx = 0.07 * scale * value_noise(x / big, y / big, salt) + 0.012 * scale * value_noise(
            x / small, y / small, salt + 2
        )
        dy = 0.07 * scale * value_noise(x / big, y / big, salt + 1) + 0.012 * scale * value_noise(
            x / small, y / small, salt + 3
        )
        return np.stack([x + dx, y + dy], axis=1)

    return shapely.transform(geoms, move)


def _seeds(
    extent: Polygon, centre: np.ndarray, spacing: float, radius: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """Jittered seeds on a rotated lattice; returns ``(xy (n,2), ij (n,2) lattice index, angle)``."""
    minx, miny, maxx, maxy = extent.bounds
    angle = math.radians(rng.uniform(8.0, 30.0)) * (1 if rng.random() < 0.5 else -1)
    k = int(math.ceil(math.hypot(maxx - minx, maxy - miny) / spacing / 2)) + 2
    i, j = np.meshgrid(np.arange(-k, k + 1), np.arange(-k, k + 1), indexing="ij")
    ij = np.stack([i.ravel(), j.ravel()], axis=1)
    local = (ij + rng.uniform(-0.3, 0.3, ij.shape)) * spacing
    c, s = math.cos(angle), math.sin(angle)
    xy = centre + local @ np.array([[c, s], [-s, c]])
    inside = (xy[:, 0] > minx - spacing) & (xy[:, 0] < maxx + spacing)
    inside &= (xy[:, 1] > miny - spacing) & (xy[:, 1] < maxy + spacing)
    # Fewer, larger zones in the countryside.
    r = np.linalg.norm(xy - centre, axis=1) / radius
    keep = rng.random(len(xy)) > 0.45 * np.clip((r - 0.75) / 0.5, 0.0, 1.0)
    sel = inside & keep
    return xy[sel], ij[sel], angle


def _assign_classes(
    centroids: np.ndarray,
    areas: np.ndarray,
    centre: np.ndarray,
    radius: float,
    spacing: float,
    rng: np.random.Generator,
    salt: int,
) -> np.ndarray:
    """LCZ codes for land zones along the urban gradient (see ``_GRADIENT``)."""
    rel = centroids - centre
    ang = np.arctan2(rel[:, 1], rel[:, 0])
    # A lobed, noisy distance: the city is not a disc.
    lobes = (
        1.0
        + 0.16 * np.cos(2 * ang + rng.uniform(0, 6.3))
        + 0.08 * np.cos(3 * ang + rng.uniform(0, 6.3))
    )
    noise = value_noise(centroids[:, 0] / (2.5 * spacing), centroids[:, 1] / (2.5 * spacing), salt)
    u = np.linalg.norm(rel, axis=1) / radius * lobes + 0.1 * noise
    letters = [g[0] for g in _GRADIENT]
    w = np.array([g[1] for g in _GRADIENT])
    mu = np.array([g[2] for g in _GRADIENT])
    sd = np.array([g[3] for g in _GRADIENT])
    weights = w[None, :] * np.exp(-0.5 * ((u[:, None] - mu[None, :]) / sd[None, :]) ** 2) + 1e-4
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    # Spatially correlated uniforms: neighbouring zones draw similar numbers, hence similar classes.
    smooth = value_noise(
        centroids[:, 0] / (1.7 * spacing), centroids[:, 1] / (1.7 * spacing), salt + 7
    )
    score = smooth + 0.16 * rng.standard_normal(len(u))
    uniform = (np.argsort(np.argsort(score)) + 0.5) / len(u)
    pick = (cdf < uniform[:, None]).sum(axis=1).clip(0, len(letters) - 1)
    codes = np.array([_BY_LETTER[letters[k]] for k in pick], dtype=np.uint8)
    # Every class at least once: give a missing class to the zone that suits it best, taking it
    # from a class that has zones to spare, preferring big zones (room for pure patches).
    order = np.argsort(-areas, kind="stable")
    for k, letter in enumerate(letters):
        code = _BY_LETTER[letter]
        if (codes == code).any():
            continue
        counts = np.bincount(codes, minlength=18)
        fit = weights[:, k] / weights.max(axis=1)
        spare = counts[codes] > 1
        cand = order[spare[order]]
        if len(cand) == 0:
            continue
        best = cand[np.argmax(fit[cand] * np.sqrt(areas[cand]))]
        codes[best] = code
    return codes


def _plan_raster(
    zones: np.ndarray, roads: Roads, bounds: tuple[float, float, float, float]
) -> tuple[np.ndarray, Affine]:
    """Zone ids on a ``PLAN_RES_M`` grid, with carriageways (-1) and verges (-2) burnt in."""
    minx, miny, maxx, maxy = bounds
    width = int(math.ceil((maxx - minx) / PLAN_RES_M))
    height = int(math.ceil((maxy - miny) / PLAN_RES_M))
    transform = Affine(PLAN_RES_M, 0, minx, 0, -PLAN_RES_M, maxy)
    # int16 halves the memory of a city-sized raster; a plan rarely has 32k zones.
    dtype = np.int16 if len(zones) < 32000 else np.int32
    raster = np.full((height, width), -1, dtype=dtype)
    features.rasterize(((g, i) for i, g in enumerate(zones)), out=raster, transform=transform)
    land = roads.deck == 0
    verge = shapely.buffer(roads.lines[land], roads.half_width[land] + 4.0, cap_style="flat")
    carriage = shapely.buffer(roads.lines, roads.half_width + 1.0, cap_style="flat")
    features.rasterize(((g, -2) for g in verge if not g.is_empty), out=raster, transform=transform)
    features.rasterize(
        ((g, -1) for g in carriage if not g.is_empty), out=raster, transform=transform
    )
    return raster, transform


def _roads(
    edges: list[LineString],
    seeds_ij: np.ndarray,
    seeds_xy: np.ndarray,
    zone_tree: shapely.STRtree,
    codes: np.ndarray,
    water_kind: np.ndarray,
    water_all: shapely.Geometry,
    extent: Polygon,
    waters: Waters,
    rng: np.random.Generator,
    spacing: float,
) -> Roads:
    lines, half, surface, deck = [], [], [], []
    kd = cKDTree(seeds_xy)
    # Roads of a miniature city (small zones) narrow with it, so they do not swallow the blocks.
    scale = float(np.clip(spacing / 400.0, 0.3, 1.0))
    for e in edges:
        if e.is_empty or e.length < 1.0:
            continue
        mid = np.asarray(e.interpolate(0.5, normalized=True).coords[0])
        _, (a, b) = kd.query(mid, k=2)
        di = np.abs(seeds_ij[a] - seeds_ij[b])
        arterial = bool(
            (di[0] == 1 and di[1] == 0 and min(seeds_ij[a][0], seeds_ij[b][0]) % 3 == 0)
            or (di[1] == 1 and di[0] == 0 and min(seeds_ij[a][1], seeds_ij[b][1]) % 3 == 0)
        )
        p0, p1 = np.asarray(e.coords[0]), np.asarray(e.coords[-1])
        nrm = np.array([-(p1 - p0)[1], (p1 - p0)[0]])
        nrm /= max(np.linalg.norm(nrm), 1e-9)
        sides = shapely.points(np.stack([mid + 6 * nrm, mid - 6 * nrm]))
        _, hit_z = zone_tree.query(sides, predicate="intersects")
        side_codes = codes[hit_z]
        built = bool(((side_codes <= 10) | (side_codes == 15)).any())
        wet = bool((water_kind[hit_z] != WATER_NONE).any())
        if built and not wet:
            width = rng.uniform(28, 44) if arterial else rng.uniform(11, 22)
            if not arterial and rng.random() < 0.1:
                continue
            surf = 0
        elif arterial:
            width, surf = rng.uniform(10, 16), 0
        elif not wet and rng.random() < 0.35:
            width = rng.uniform(4.5, 7)
            surf = 2 if rng.random() < 0.35 else 1
        else:
            continue
        line = shapely.difference(shapely.intersection(e, extent), water_all)
        for part in shapely.get_parts(line):
            if part.length > 2 * width:
                lines.append(part)
                half.append(max(width * scale, 3.0) / 2)
                surface.append(surf)
                deck.append(0.0)
    # Bridges: straight decks across the rivers.
    minx, miny, maxx, maxy = extent.bounds
    side = min(maxx - minx, maxy - miny)
    for river_line, wid, count, dh in (
        (waters.river_line, waters.width, max(1, round(side / 6000)), 28.0),
        (waters.tributary_line, max(0.22 * waters.width, 12.0), max(1, round(side / 9000)), 14.0),
    ):
        inside = shapely.intersection(river_line, extent.buffer(-0.1 * side))
        if inside.is_empty:
            continue
        for f in (np.arange(count) + 0.5 + rng.uniform(-0.2, 0.2, count)) / count:
            p = np.asarray(inside.interpolate(f, normalized=True).coords[0])
            q = np.asarray(inside.interpolate(min(f + 0.01, 1.0), normalized=True).coords[0])
            t = (q - p) / max(np.linalg.norm(q - p), 1e-9)
            nrm = np.array([-t[1], t[0]])
            half_len = 0.5 * wid * 1.4 + 60.0
            lines.append(LineString([p - nrm * half_len, p + nrm * half_len]))
            half.append(rng.uniform(12, 17) if dh > 20 else rng.uniform(9, 12))
            surface.append(0)
            deck.append(dh)
    return Roads(
        lines=np.asarray(lines, dtype=object),
        half_width=np.asarray(half, dtype=np.float32),
        surface=np.asarray(surface, dtype=np.int8),
        deck=np.asarray(deck, dtype=np.float32),
    )


def _orientation(geom: shapely.Geometry) -> float:
    """Angle (radians from east) of the zone's lot frame: an edge of its oriented envelope,
    turned so that the long side of buildings runs roughly east-west (south-facing, as in China)."""
    env = shapely.oriented_envelope(geom)
    coords = np.asarray(env.exterior.coords) if isinstance(env, Polygon) else np.zeros((2, 2))
    if len(coords) < 3:
        return math.pi / 2
    e = coords[1] - coords[0]
    a = math.atan2(e[1], e[0])
    # Candidate frames a + k pi/2; u must point roughly north so that v (the long side) is E-W.
    cands = [a + k * math.pi / 2 for k in range(4)]
    return min(cands, key=lambda c: abs(math.remainder(c - math.pi / 2, 2 * math.pi)))


def build_layout(config: SynthConfig) -> CityLayout:
    """Lay out the whole city for ``config`` (deterministic for ``config.seed``)."""
    cfg = config.resolved()
    assert cfg.zone_size_m is not None and cfg.river_width_m is not None
    mosaic = Mosaic(cfg)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x9A17]))
    to_plan = Transformer.from_crs(IMAGE_CRS, LAYOUT_CRS, always_xy=True)
    to_image = Transformer.from_crs(LAYOUT_CRS, IMAGE_CRS, always_xy=True)

    def plan_xy(xy: np.ndarray) -> np.ndarray:
        return np.stack(to_plan.transform(xy[:, 0], xy[:, 1]), axis=1)

    # Straight 3857 edges are slightly curved in UTM: densify before transforming.
    left, bottom, right, top = mosaic.bounds
    step = mosaic.size * mosaic.pixel / 16
    outline = shapely.transform(shapely.segmentize(box(left, bottom, right, top), step), plan_xy)
    # The imaged area: the union of the scenes (the grid's last row may be partial).
    tiles = [shapely.segmentize(box(*mosaic.tile_bounds(t)), step) for t in mosaic.tiles]
    footprint = shapely.transform(shapely.union_all(tiles), plan_xy)
    spacing = cfg.zone_size_m
    margin = max(300.0, spacing)
    fminx, fminy, fmaxx, fmaxy = outline.bounds
    extent = box(fminx - margin, fminy - margin, fmaxx + margin, fmaxy + margin)
    centre = np.asarray(outline.centroid.coords[0])
    radius = 0.5 * min(fmaxx - fminx, fmaxy - fminy)

    seeds_xy, seeds_ij, _ = _seeds(extent, centre, spacing, radius, rng)
    mp = MultiPoint(seeds_xy)
    cells = shapely.get_parts(shapely.voronoi_polygons(mp, extend_to=extent, ordered=True))
    edges = shapely.get_parts(shapely.voronoi_polygons(mp, extend_to=extent, only_edges=True))
    salt = cfg.seed * 7919 + 11
    cells = _warp(shapely.intersection(cells, extent), spacing, salt)
    edges = list(_warp(edges, spacing, salt))

    waters = make_waters(extent, centre, cfg.river_width_m, rng)
    water_parts = [waters.river, waters.tributary, *waters.lakes]
    water_kinds = [WATER_RIVER, WATER_RIVER] + [WATER_LAKE] * len(waters.lakes)
    water_all = shapely.union_all(
        water_parts + ([waters.island] if waters.island is not None else [])
    )

    pieces = shapely.get_parts(shapely.difference(cells, water_all))
    pieces = pieces[shapely.area(pieces) > 1.0]
    areas = shapely.area(pieces)
    centroids = shapely.get_coordinates(shapely.point_on_surface(pieces))
    land_codes = _assign_classes(centroids, areas, centre, radius, spacing, rng, salt + 3)
    land_water = np.where(land_codes == 17, WATER_PONDS, WATER_NONE)

    zones = list(pieces)
    codes = list(land_codes)
    wkind = list(land_water)
    for geom, kind in zip(water_parts, water_kinds, strict=True):
        for part in shapely.get_parts(geom):
            if part.area > 1.0:
                zones.append(part)
                codes.append(17)
                wkind.append(kind)
    if waters.island is not None and not waters.island.is_empty:
        zones.append(waters.island)
        codes.append(_BY_LETTER[str(rng.choice(["F", "F", "D", "B"]))])
        wkind.append(WATER_NONE)
    zones_arr = np.empty(len(zones), dtype=object)
    zones_arr[:] = zones
    codes_arr = np.asarray(codes, dtype=np.uint8)
    wkind_arr = np.asarray(wkind, dtype=np.int8)
    angles = np.array([_orientation(g) for g in zones_arr])
    table = zone_parameters(codes_arr, wkind_arr, angles, rng)

    zone_tree = shapely.STRtree(zones_arr)
    roads = _roads(
        edges,
        seeds_ij,
        seeds_xy,
        zone_tree,
        codes_arr,
        wkind_arr,
        water_all,
        extent,
        waters,
        rng,
        spacing,
    )
    raster, raster_transform = _plan_raster(zones_arr, roads, extent.bounds)

    def image_xy(xy: np.ndarray) -> np.ndarray:
        return np.stack(to_image.transform(xy[:, 0], xy[:, 1]), axis=1)

    return CityLayout(
        config=cfg,
        mosaic=mosaic,
        footprint=footprint,
        origin=(float(extent.bounds[0]), float(extent.bounds[1])),
        zones=zones_arr,
        zones_image=shapely.transform(zones_arr, image_xy),
        table=table,
        roads=roads,
        roads_image=shapely.transform(roads.lines, image_xy) if len(roads) else roads.lines,
        raster=raster,
        raster_transform=raster_transform,
        waters=waters,
        seed=cfg.seed,
    )
