"""Rivers, lakes and a sandbar for the synthetic city, in layout metres (EPSG:32650).

Modelled on Wuhan: a wide main river (the Yangtze) crosses the city from south-west to north-east
near its centre, a narrower tributary (the Han) joins it from the west on the left bank, which
splits the left bank into a northern and a southern part (Hankou and Hanyang) and leaves the right
bank (Wuchang) whole; a large lake lies on the right bank and smaller lakes are scattered over the
city. Banks are offset curves of a meandering centreline, so widths vary smoothly and never fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon

__all__ = ["Waters", "make_waters"]


@dataclass(frozen=True)
class Waters:
    """Water bodies and the river lines the rest of the plan builds on (layout metres).

    Attributes:
        river: the main river's polygon (clipped to the plan extent), sandbar excluded.
        river_line: its centreline, extended well beyond the extent.
        tributary: the tributary's polygon; ``tributary_line`` its centreline (source -> mouth,
            the mouth a little past the main centreline).
        lakes: lake polygons, the first one the large lake.
        island: a sandbar in the main river (or None when the city is too small for one).
        direction: the main river's downstream direction, radians from east.
        confluence: where the tributary meets the main centreline.
        width: the main river's nominal width, metres.
    """

    river: Polygon
    river_line: LineString
    tributary: Polygon
    tributary_line: LineString
    lakes: list[Polygon]
    island: Polygon | None
    direction: float
    confluence: Point
    width: float

    def left_normal(self) -> np.ndarray:
        """Unit vector pointing to the left bank (facing downstream)."""
        return np.array([-math.sin(self.direction), math.cos(self.direction)])

    def along(self, t: float, side: float = 0.0) -> Point:
        """Point at ``t`` metres downstream of the centre along the river frame, ``side`` metres
        to the left (approximate: the straight river frame, not the meander)."""
        d = np.array([math.cos(self.direction), math.sin(self.direction)])
        c = np.asarray(self.river_line.interpolate(0.5, normalized=True).coords[0])
        p = c + d * t + self.left_normal() * side
        return Point(float(p[0]), float(p[1]))


def _meander(
    start: np.ndarray,
    direction: float,
    length: float,
    step: float,
    waves: list[tuple[float, float, float]],
) -> tuple[np.ndarray, np.ndarray]:
    """Centreline points and unit normals of a meandering line.

    ``waves`` are ``(amplitude m, wavelength m, phase rad)`` of lateral sine offsets.
    """
    t = np.arange(0.0, length + step, step)
    d = np.array([math.cos(direction), math.sin(direction)])
    n = np.array([-d[1], d[0]])
    lateral = sum((a * np.sin(2 * np.pi * t / lam + ph) for a, lam, ph in waves), np.zeros_like(t))
    pts = start[None, :] + t[:, None] * d[None, :] + lateral[:, None] * n[None, :]
    tangent = np.gradient(pts, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    return pts, normal


def _band(
    pts: np.ndarray, normal: np.ndarray, half_left: np.ndarray, half_right: np.ndarray
) -> Polygon:
    left = pts + normal * half_left[:, None]
    right = pts - normal * half_right[:, None]
    poly = Polygon(np.vstack([left, right[::-1]]))
    return shapely.make_valid(poly) if not poly.is_valid else poly  # type: ignore[return-value]


def _lake(centre: np.ndarray, radius: float, rng: np.random.Generator) -> Polygon:
    """An irregular lobed lake outline around ``centre``."""
    phi = np.linspace(0.0, 2 * np.pi, 120, endpoint=False)
    r = np.ones_like(phi)
    for k in range(2, 8):
        r += rng.uniform(0.0, 0.28 / k**0.7) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    r = radius * np.maximum(r, 0.35)
    poly = Polygon(np.stack([centre[0] + r * np.cos(phi), centre[1] + r * np.sin(phi)], axis=1))
    return poly if poly.is_valid else poly.buffer(0)


def make_waters(
    extent: Polygon, centre: np.ndarray, width: float, rng: np.random.Generator
) -> Waters:
    """Lay out the river, its tributary, lakes and a sandbar over ``extent`` (layout metres).

    Args:
        extent: the plan's rectangle.
        centre: ``(2,)`` city centre.
        width: main river width in metres.
        rng: the plan's generator.
    """
    minx, miny, maxx, maxy = extent.bounds
    side = min(maxx - minx, maxy - miny)
    diag = math.hypot(maxx - minx, maxy - miny)
    direction = math.radians(rng.uniform(28.0, 52.0))
    d = np.array([math.cos(direction), math.sin(direction)])
    n = np.array([-d[1], d[0]])
    # The river passes close to the centre, as the Yangtze does at Wuhan.
    offset = rng.uniform(-0.06, 0.06) * side
    length = 2.0 * diag
    start = centre + n * offset - d * (length / 2.0)
    waves = [
        (0.06 * side, 0.95 * side, rng.uniform(0, 2 * np.pi)),
        (0.018 * side, 0.33 * side, rng.uniform(0, 2 * np.pi)),
    ]
    step = max(width / 8.0, 10.0)
    pts, normal = _meander(start, direction, length, step, waves)
    t = np.arange(len(pts)) * step
    half = 0.5 * width * (1.0 + 0.14 * np.sin(2 * np.pi * t / (0.5 * side) + rng.uniform(0, 6.3)))
    river = _band(pts, normal, half, half)
    river_line = LineString(pts)

    # Tributary: from the confluence upstream, towards the west on the left bank.
    c_idx = int(np.argmin(np.abs(t - length / 2.0 - rng.uniform(-0.08, 0.04) * side)))
    mouth = pts[c_idx] - normal[c_idx] * 0.1 * width  # just past the centreline (right side)
    upstream = direction + math.pi - math.radians(rng.uniform(40.0, 65.0))
    trib_w = max(0.22 * width, 12.0)
    tpts, tnormal = _meander(
        mouth,
        upstream,
        diag,
        max(trib_w / 6.0, 5.0),
        [(0.035 * side, 0.45 * side, rng.uniform(0, 6.3)), (0.01 * side, 0.15 * side, 0.0)],
    )
    # Start the meander at zero lateral offset so that the mouth stays on the main river.
    tpts = tpts - (tpts[0] - mouth)
    tri_half = np.full(len(tpts), 0.5 * trib_w)
    tributary = _band(tpts, tnormal, tri_half, tri_half)
    tributary_line = LineString(tpts[::-1])

    # Sandbar: a tapering island in the main river, away from the centre.
    island = None
    if width >= 60.0:
        sign = 1.0 if rng.random() < 0.5 else -1.0
        t0 = length / 2.0 + sign * rng.uniform(0.22, 0.32) * side
        span = (t >= t0 - 0.07 * side) & (t <= t0 + 0.07 * side)
        if span.sum() >= 4:
            s = np.linspace(0.0, np.pi, int(span.sum()))
            w_isl = 0.2 * width * np.sin(s) + 0.5
            shift = rng.uniform(-0.08, 0.08) * width
            island = _band(pts[span] + normal[span] * shift, normal[span], w_isl, w_isl)
            if not island.intersects(extent):
                island = None

    # Lakes: one large lake on the right bank, then small ones wherever they fit.
    water = shapely.union(river, tributary).buffer(width * 0.3)
    lakes: list[Polygon] = []
    big_r = 0.06 * side
    for _ in range(60):
        ang = rng.uniform(0, 2 * np.pi)
        p = centre + np.array([math.cos(ang), math.sin(ang)]) * rng.uniform(0.22, 0.36) * side
        if np.dot(p - centre, n) > -0.12 * side:  # right bank only
            continue
        lake = _lake(p, big_r, rng)
        if not lake.intersects(water) and extent.buffer(-0.05 * side).contains(lake.centroid):
            lakes.append(lake)
            break
    n_small = int(round((maxx - minx) * (maxy - miny) / (side * side) * 4))
    taken = shapely.union_all([water, *[lk.buffer(0.04 * side) for lk in lakes]])
    for _ in range(n_small * 15):
        if len(lakes) >= n_small + 1:
            break
        p = np.array([rng.uniform(minx, maxx), rng.uniform(miny, maxy)])
        if np.linalg.norm(p - centre) < 0.12 * side:
            continue
        lake = _lake(p, rng.uniform(0.012, 0.035) * side, rng)
        if lake.intersects(taken) or not extent.contains(lake):
            continue
        lakes.append(lake)
        taken = shapely.union(taken, lake.buffer(0.03 * side))

    river = shapely.intersection(river, extent)
    if island is not None:
        island = shapely.intersection(island, extent)
        river = shapely.difference(river, island)
    return Waters(
        river=river,
        river_line=river_line,
        tributary=shapely.difference(shapely.intersection(tributary, extent), river.buffer(0.01)),
        tributary_line=tributary_line,
        lakes=lakes,
        island=island,
        direction=direction,
        confluence=Point(*pts[c_idx]),
        width=width,
    )
