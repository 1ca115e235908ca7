"""Label polygons and districts of the synthetic city, as a hand annotator would deliver them.

Labels are the plan's zones inside the imaged area, with the imperfections of hand-drawn layers:
some polygons are drawn a few metres short of their neighbours (unlabelled slivers along roads)
and a few have holes (an unlabelled yard or pond). They are delivered in EPSG:4326, not in the
imagery's CRS.

The five districts follow the city's rivers as Wuhan's do: north of the tributary and left of the
main river lies "Hankou" (split across the river's direction into Qiaokou, Jianghan and Jiangan),
south of the tributary "Hanyang", across the main river "Wuchang". Each is a union of whole zones
near the centre, so district borders run along roads.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, Point

from sunet.lcz import CLASSES
from sunet.synth.config import LAYOUT_CRS
from sunet.synth.layout import CityLayout
from sunet.synth.morphology import WATER_RIVER

__all__ = ["DISTRICT_NAMES", "district_polygons", "label_polygons"]

DISTRICT_NAMES = ("Qiaokou", "Jianghan", "Jiangan", "Hanyang", "Wuchang")


def label_polygons(plan: CityLayout, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """The label layer in layout metres: columns ``lcz`` (text '1'..'10', 'A'..'G'), ``zone``.

    About a third of the zones are drawn 1.5-5 m short (slivers), 5 % of the larger ones (at
    least two) get a hole of 12-30 m (both thinner in a miniature city); every geometry is valid.
    """
    geoms = shapely.intersection(plan.zones, plan.footprint)
    keep = ~shapely.is_empty(geoms) & (shapely.area(geoms) > 1.0)
    zone_ids = np.flatnonzero(keep)
    geoms = geoms[keep]
    zone = plan.config.zone_size_m
    assert zone is not None
    # Gaps of a few metres in a real city; proportionally thinner in a miniature one.
    gap = min(1.0, zone / 300.0)
    shrink = rng.random(len(geoms)) < 0.33
    depth = rng.uniform(1.5, 5.0, len(geoms)) * gap
    big = np.flatnonzero(shapely.area(geoms) > 0.8 * zone**2)
    holes = set(rng.choice(big, min(len(big), max(2, round(0.05 * len(big)))), replace=False))
    out = []
    for i, g in enumerate(geoms):
        if shrink[i]:
            shrunk = shapely.buffer(g, -depth[i], join_style="mitre")
            if not shrunk.is_empty and shrunk.area > 0.5 * g.area:
                g = shrunk
        if i in holes:
            centre = shapely.point_on_surface(g)
            for radius in np.array([30.0, 20.0, 12.0]) * gap:
                hole = centre.buffer(radius, quad_segs=6)
                if g.contains(hole):
                    g = g.difference(hole)
                    break
        out.append(shapely.make_valid(g))
    polys = [_polygonal(g) for g in out]
    letters = [CLASSES[int(plan.table.code[z]) - 1].letter for z in zone_ids]
    frame = gpd.GeoDataFrame(
        {"lcz": letters, "zone": zone_ids.astype(np.int32)}, geometry=polys, crs=LAYOUT_CRS
    )
    return frame[~frame.geometry.is_empty].reset_index(drop=True)


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """Drop any line or point debris that make_valid may leave."""
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    merged = shapely.union_all(parts)
    return merged


def _side(line: LineString, pts: np.ndarray) -> np.ndarray:
    """+1 for points left of ``line`` (facing along it), -1 for points on its right."""
    out = np.empty(len(pts))
    for i, (x, y) in enumerate(pts):
        p = Point(x, y)
        s = line.project(p)
        a = np.asarray(line.interpolate(max(s - 5.0, 0.0)).coords[0])
        b = np.asarray(line.interpolate(min(s + 5.0, line.length)).coords[0])
        t = b - a
        out[i] = 1.0 if t[0] * (y - a[1]) - t[1] * (x - a[0]) >= 0 else -1.0
    return out


def district_polygons(plan: CityLayout) -> gpd.GeoDataFrame:
    """The five districts in layout metres: columns ``name``, ``area_km2``."""
    t = plan.table
    land = t.water != WATER_RIVER
    ids = np.flatnonzero(land)
    pts = shapely.get_coordinates(shapely.point_on_surface(plan.zones[ids]))
    centre = np.asarray(plan.footprint.centroid.coords[0])
    minx, miny, maxx, maxy = plan.footprint.bounds
    radius = 0.5 * min(maxx - minx, maxy - miny)
    near = np.linalg.norm(pts - centre, axis=1) < 0.6 * radius
    ids, pts = ids[near], pts[near]
    main = _side(plan.waters.river_line, pts)
    trib = _side(plan.waters.tributary_line, pts)
    d = np.array([math.cos(plan.waters.direction), math.sin(plan.waters.direction)])
    along = (pts - centre) @ d
    groups: dict[str, np.ndarray] = {}
    hankou = (main > 0) & (trib > 0)
    if hankou.any():
        cuts = np.quantile(along[hankou], [1 / 3, 2 / 3])
        groups["Qiaokou"] = hankou & (along < cuts[0])
        groups["Jianghan"] = hankou & (along >= cuts[0]) & (along < cuts[1])
        groups["Jiangan"] = hankou & (along >= cuts[1])
    groups["Hanyang"] = (main > 0) & (trib <= 0)
    groups["Wuchang"] = main <= 0
    inner = plan.footprint.buffer(-0.01 * radius)
    names, polys = [], []
    for name in DISTRICT_NAMES:
        sel = groups.get(name)
        if sel is None or not sel.any():
            continue
        # Zone edges are shared but not bit-identical everywhere; close hairline gaps.
        g = shapely.union_all(plan.zones[ids[sel]]).buffer(1.0).buffer(-1.0)
        g = shapely.intersection(g, inner).simplify(1.0)
        g = _polygonal(shapely.make_valid(g))
        if not g.is_empty:
            names.append(name)
            polys.append(g)
    if len(names) < len(DISTRICT_NAMES):
        names, polys = list(DISTRICT_NAMES), _sectors(centre, 0.6 * radius, inner)
    frame = gpd.GeoDataFrame({"name": names}, geometry=polys, crs=LAYOUT_CRS)
    frame["area_km2"] = (frame.geometry.area / 1e6).round(3)
    return frame


def _sectors(centre: np.ndarray, radius: float, inner: shapely.Geometry) -> list[shapely.Geometry]:
    """Fallback for cities too small to hold all five districts: five sectors of a disc."""
    disc = Point(*centre).buffer(radius)
    out = []
    for k in range(5):
        a0, a1 = 2 * math.pi * k / 5, 2 * math.pi * (k + 1) / 5
        arc = [
            centre + 3 * radius * np.array([math.cos(a), math.sin(a)])
            for a in np.linspace(a0, a1, 8)
        ]
        wedge = shapely.Polygon([tuple(centre), *map(tuple, arc)])
        out.append(shapely.intersection(shapely.intersection(disc, wedge), inner))
    return out
