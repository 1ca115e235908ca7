"""Where to label next: spatially spread places where new labels would teach the model most.

``suggest(SuggestConfig(map=..., n=50, out=...))`` reads a finished map (``lcz-map map`` output)
and scores every model window of it (``patch x patch`` ground pixels on the map's cell grid) by

* **uncertainty**: the normalised entropy of the window's abundances (the map's uncertainty);
* **margin**: how close the runner-up class comes to the dominant one (1 - (a1 - a2));
* **rarity**: how rarely the map's runner-up class wins anywhere: a class the model seldom
  predicts may be one it misses (1 - its share of mapped cells / the largest class share);
* **disagreement** (with the model): how much the abundances change between the eight
  rotations and mirror images of the window (mean half L1 distance to their mean);
* **novelty** (with a model carrying a feature profile): how far the window lies from the nearest
  training patches, in the feature or the colour view (:mod:`sunet.model.novelty`): 0 at the
  held-out median distance, 1 at 1.5 times it or beyond.

The score is their weighted mean (:data:`WEIGHTS`, renormalised over the terms available). The
model terms are measured on the ``candidates x n`` best windows by the map terms, re-read from the
map's scenes. Suggestions are then taken greedily from the best, at least ``spacing`` metres apart
(centre to centre), away from ``avoid`` polygons (labels one already has, reference polygons kept
for assessment). ``strategy="random"`` draws the same number of windows at random under the same
rules: the baseline to beat.

Output: a GeoPackage (layer ``suggestions``, map CRS): one square per suggestion with ``rank``,
``score``, each term, the mapped and runner-up classes, a ``reason`` and an empty ``lcz`` field to
fill in when digitising; QGIS opens it styled (outlines labelled by rank).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from numpy.lib.stride_tricks import sliding_window_view
from pyproj import CRS

from sunet.atomic import atomic_path
from sunet.geo.crs import from_rasterio
from sunet.geo.raster import inspect_scenes
from sunet.geo.vector import read_polygons, write_gpkg
from sunet.lcz import CLASSES, NUM_CLASSES
from sunet.mapping.accumulate import ABUNDANCE_NODATA
from sunet.mapping.config import SuggestConfig
from sunet.mapping.incremental import finished_map
from sunet.mapping.mosaic import SceneMosaic
from sunet.mapping.predictor import load_predictor
from sunet.mapping.styles import suggestion_qml
from sunet.mapping.vectors import write_layer_styles
from sunet.threads import cpu_threads

__all__ = ["WEIGHTS", "SuggestConfig", "suggest"]

# Weights of the terms in the score (renormalised over the terms available).
WEIGHTS = {
    "uncertainty": 0.3,
    "margin": 0.2,
    "rarity": 0.15,
    "disagreement": 0.2,
    "novelty": 0.15,
}
_VIEWS = [(k, f) for f in (False, True) for k in range(4)]


def _read_map(folder: Path) -> tuple[dict, np.ndarray, np.ndarray, Affine, CRS]:
    record_path, raster = finished_map(folder)
    record = json.loads(record_path.read_text(encoding="utf-8"))
    with rasterio.open(raster) as src:
        abundances = src.read().astype(np.float32)
        transform, crs = src.transform, from_rasterio(src.crs)
    valid = (abundances[0] != ABUNDANCE_NODATA) & np.isfinite(abundances).all(axis=0)
    return record, abundances, valid, transform, crs


def _map_terms(abundances: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    """Per-cell uncertainty, margin and rarity ``(H, W)``, 0 where unmapped."""
    a = np.where(valid[None], abundances, 0.0)
    order = np.argsort(-a, axis=0)
    top1, top2 = order[0], order[1]
    a1 = np.take_along_axis(a, top1[None], 0)[0]
    a2 = np.take_along_axis(a, top2[None], 0)[0]
    p = np.clip(a, 1e-12, 1.0)
    entropy = -(a * np.log(p)).sum(axis=0) / math.log(NUM_CLASSES)
    share = np.bincount(top1[valid], minlength=NUM_CLASSES) / max(int(valid.sum()), 1)
    rarity = 1.0 - share / max(share.max(), 1e-12)
    terms = {"uncertainty": entropy, "margin": 1.0 - (a1 - a2), "rarity": rarity[top2]}
    return {k: np.where(valid, v, 0.0).astype(np.float64) for k, v in terms.items()}


def _windows(valid: np.ndarray, k: int) -> np.ndarray:
    """bool ``(H, W)``: windows anchored at cell (r, c), covering cells r..r+k-1, c..c+k-1, that
    are mapped whole."""
    out = np.zeros_like(valid)
    h, w = valid.shape
    if h >= k and w >= k:
        out[: h - k + 1, : w - k + 1] = sliding_window_view(valid, (k, k)).all(axis=(-2, -1))
    return out


def _box_mean(values: np.ndarray, k: int) -> np.ndarray:
    """Mean over each window's ``k x k`` cells, at the window's anchor cell."""
    out = np.zeros_like(values)
    h, w = values.shape
    if h >= k and w >= k:
        out[: h - k + 1, : w - k + 1] = sliding_window_view(values, (k, k)).mean(axis=(-2, -1))
    return out


def _corner(transform: Affine, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, ...]:
    """Upper-left corners ``(x, y)`` of cells (north-up map grid)."""
    return transform.c + cols * transform.a, transform.f + rows * transform.e


def _greedy(order: np.ndarray, centres: np.ndarray, n: int, spacing: float) -> list[int]:
    """Indices (into ``order``'s targets) taken best first, ``spacing`` apart."""
    chosen: list[int] = []
    for i in order:
        if len(chosen) == n:
            break
        if chosen and np.min(np.hypot(*(centres[chosen] - centres[i]).T)) < spacing:
            continue
        chosen.append(int(i))
    return chosen


def _model_terms(
    config: SuggestConfig,
    record: dict,
    transform: Affine,
    crs: CRS,
    anchors: np.ndarray,
    gsd: float,
    patch: int,
) -> dict[str, np.ndarray]:
    """Disagreement and novelty of the windows anchored at ``anchors`` ``(m, 2)`` (row, col)."""
    cfg = record["config"]
    model_path = config.model or (Path(cfg["model"]) if cfg.get("model") else None)
    if model_path is None:
        raise ValueError(f"{config.map}: the map records no model; pass --model or --no-use-model")
    predictor = load_predictor(model_path)
    scenes = inspect_scenes(cfg["scenes"], threads=cpu_threads(), scene_crs=cfg.get("scene_crs"))
    mosaic = SceneMosaic(scenes, crs, cfg["bands"], getattr(predictor, "radiometry", None))
    xs, ys = _corner(transform, anchors[:, 0], anchors[:, 1])
    images = []
    try:
        for x, y in zip(xs, ys, strict=True):
            image, _ = mosaic.read(Affine(gsd, 0, float(x), 0, -gsd, float(y)), patch, patch)
            images.append(image)
    finally:
        mosaic.close()
    batch = np.stack(images)
    views = []
    for k, flip in _VIEWS:
        view = np.flip(batch, -1) if flip else batch
        views.append(
            predictor.predict_abundances(np.ascontiguousarray(np.rot90(view, k, (-2, -1))))
        )
    stack = np.stack(views)  # (8, m, 17)
    mean = stack.mean(axis=0)
    terms = {"disagreement": 0.5 * np.abs(stack - mean).sum(axis=2).mean(axis=0)}
    if getattr(predictor, "profile", None) is not None:
        ratios = predictor.novelty(batch)  # type: ignore[attr-defined]
        terms["novelty"] = np.clip((np.asarray(ratios).max(axis=1) - 1.0) / 0.5, 0.0, 1.0)
    return terms


def _reason(row: dict[str, float], mapped: str, runner: str) -> str:
    parts = []
    if row["margin"] > 0.7:
        parts.append(f"torn between LCZ {mapped} and LCZ {runner}")
    if row.get("disagreement", 0.0) > 0.15:
        parts.append("rotated views disagree")
    if row.get("novelty", 0.0) > 0.5:
        parts.append("unlike the training data")
    if row["rarity"] > 0.8:
        parts.append(f"LCZ {runner} is rarely mapped")
    if row["uncertainty"] > 0.5 and not parts:
        parts.append("uncertain mixture")
    return "; ".join(parts) or "best remaining score"


def suggest(config: SuggestConfig) -> gpd.GeoDataFrame:
    """Suggest ``config.n`` places to label; writes ``config.out`` and returns its rows.

    Raises:
        FileNotFoundError, ValueError: one line naming the bad input.
    """
    record, abundances, valid, transform, crs = _read_map(config.map)
    grid = record["grid"]
    gsd, patch, stride = float(grid["gsd_m"]), int(grid["patch_px"]), int(grid["stride_px"])
    k = patch // stride
    side = patch * gsd
    terms = _map_terms(abundances, valid)
    ok = _windows(valid, k)
    for path in config.avoid:
        frame = read_polygons(path).frame.to_crs(crs)
        area = shapely.union_all(frame.geometry.to_numpy())
        rows, cols = np.nonzero(ok)
        xs, ys = _corner(transform, rows, cols)
        squares = shapely.box(xs, ys - side, xs + side, ys)
        hit = shapely.intersects(squares, area)
        ok[rows[hit], cols[hit]] = False
    rows, cols = np.nonzero(ok)
    if not len(rows):
        raise ValueError(f"{config.map}: no mapped window is free to suggest (all avoided?)")
    xs, ys = _corner(transform, rows, cols)
    centres = np.column_stack([xs + side / 2, ys - side / 2])
    mapped_area = float(valid.sum()) * (stride * gsd) ** 2
    spacing = config.spacing or max(2 * side, 0.5 * math.sqrt(mapped_area / config.n))
    window_terms = {name: _box_mean(terms[name], k)[rows, cols] for name in
                    ("uncertainty", "margin", "rarity")}  # fmt: skip
    weights = {name: WEIGHTS[name] for name in window_terms}

    def score(terms: dict[str, np.ndarray]) -> np.ndarray:
        total = sum(weights[name] for name in terms)
        return np.asarray(sum(weights[name] * terms[name] for name in terms) / total)

    if config.strategy == "random":
        order = np.random.default_rng(config.seed).permutation(len(rows))
        chosen = _greedy(order, centres, config.n, spacing)
    else:
        first = score(window_terms)
        pool = _greedy(np.argsort(-first, kind="stable"), centres,
                       config.n * config.candidates, spacing / 2)  # fmt: skip
        if config.use_model:
            extra = _model_terms(config, record, transform, crs,
                                 np.column_stack([rows[pool], cols[pool]]), gsd, patch)  # fmt: skip
            for name, measured in extra.items():
                weights[name] = WEIGHTS[name]
                full = np.zeros(len(rows))
                full[pool] = measured
                window_terms[name] = full
        final = score({name: t[pool] for name, t in window_terms.items()})
        order = np.asarray(pool)[np.argsort(-final, kind="stable")]
        chosen = _greedy(order, centres, config.n, spacing)
    letters = [c.letter for c in CLASSES]
    out_rows = []
    for rank, i in enumerate(chosen, start=1):
        r, c = rows[i], cols[i]
        # The window's own dominant and runner-up: of its cells' mean abundances.
        mean = abundances[:, r : r + k, c : c + k].reshape(NUM_CLASSES, -1).mean(axis=1)
        top = np.argsort(-mean)
        here = {name: float(t[i]) for name, t in window_terms.items()}
        out_rows.append(
            {
                "rank": rank,
                "score": float(score({name: np.asarray(v) for name, v in here.items()})),
                "lcz": "",
                "mapped": letters[top[0]],
                "runner_up": letters[top[1]],
                "reason": _reason(here, letters[top[0]], letters[top[1]])
                if config.strategy == "informative"
                else "random",
                **here,
                "geometry": shapely.box(
                    centres[i, 0] - side / 2,
                    centres[i, 1] - side / 2,
                    centres[i, 0] + side / 2,
                    centres[i, 1] + side / 2,
                ),
            }  # fmt: skip
        )
    frame = gpd.GeoDataFrame(out_rows, geometry="geometry", crs=crs)
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        write_gpkg(frame, tmp, layer="suggestions")
        write_layer_styles(tmp, {"suggestions": suggestion_qml()})
    return frame
