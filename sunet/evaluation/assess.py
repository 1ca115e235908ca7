"""Assess any LCZ map against independent reference polygons, with bootstrap intervals.

``assess(AssessConfig(map=..., reference=...))`` compares a dominant-class raster (ours, or any
GeoTIFF of LCZ codes 1-17, e.g. a WUDAPT or global LCZ map) with reference polygons of any CRS and
any label form the tiler accepts:

* **Samples.** Every map cell whose centre lies in a reference polygon is one sample (reference:
  that polygon's class; mapped: the cell's code). Where polygons overlap, the smaller one wins, as
  in tiling. Unmapped cells (nodata, 0) are left out and counted.
* **Figures.** OA, kappa, per-class precision (user's accuracy), recall (producer's accuracy) and
  F1, and the WUDAPT figures OA_urban, OA_builtnatural and weighted OA, all from one confusion
  matrix (:mod:`sunet.evaluation.metrics`).
* **Intervals.** Cells of one polygon are not independent samples, so the uncertainty comes from
  resampling *polygons* (as the WUDAPT accuracy assessment does): ``bootstrap`` times, the
  polygons of each reference class are drawn with replacement (the class composition of the
  reference is kept), the confusion matrix is rebuilt from their cells and every figure is
  recomputed; the interval is the central ``confidence`` share of those figures (percentile
  bootstrap).

Outputs: ``assessment.json`` (written last), ``assessment_classes.csv`` (per class),
``assessment_figures.csv`` (headline figures with intervals), ``confusion.png``, ``config.json``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pydantic import BaseModel, ConfigDict, Field
from rasterio import features

from sunet.atomic import atomic_dir
from sunet.evaluation import metrics as m
from sunet.evaluation.config import AssessConfig
from sunet.evaluation.plots import plot_confusion
from sunet.geo.vector import read_labels
from sunet.lcz import CLASSES, NUM_CLASSES
from sunet.mapping.products import DOMINANT

__all__ = [
    "AssessConfig",
    "Assessment",
    "HEADLINE",
    "assess",
    "bootstrap_figures",
    "dominant_raster",
    "format_assessment",
    "polygon_confusions",
]

# The figures reported with intervals, in report order.
HEADLINE = ("oa", "kappa", "oa_urban", "oa_builtnatural", "oa_weighted", "f1_macro")


def dominant_raster(path: Path) -> Path:
    """The dominant-class raster of a map folder (``DIR/city/``, ``DIR/``) or the file itself.

    Raises:
        FileNotFoundError: one line, if there is none.
    """
    path = Path(path)
    if path.is_file():
        return path
    for candidate in (path / "city" / DOMINANT, path / DOMINANT):
        if candidate.is_file():
            return candidate
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such map folder or raster")
    raise FileNotFoundError(f"{path}: holds no {DOMINANT} (nor city/{DOMINANT})")


@dataclass
class PolygonConfusions:
    """Per reference polygon: its class and the mapped codes of its cells.

    Attributes:
        reference: ``(P,)`` class index 0-16 of each polygon that holds mapped cells.
        counts: ``(P, 17)`` cells of each polygon mapped as each class.
        unmapped: cells inside reference polygons that the map leaves empty.
        polygons_outside: reference polygons with no mapped cell.
    """

    reference: np.ndarray
    counts: np.ndarray
    unmapped: int
    polygons_outside: int

    def confusion(self, weights: np.ndarray | None = None) -> np.ndarray:
        """``(17, 17)`` confusion matrix; ``weights`` ``(P,)`` counts each polygon that often."""
        w = np.ones(len(self.reference)) if weights is None else weights
        cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.float64)
        np.add.at(cm, self.reference, self.counts * w[:, None])
        return cm


def polygon_confusions(config: AssessConfig, raster: Path) -> PolygonConfusions:
    """Rasterise the reference polygons on the map's grid (cell centres) and count, per polygon,
    the mapped codes of its cells.

    Raises:
        ValueError: one line: a raster that is not an LCZ code raster, or reference polygons
            that overlap no mapped cell.
    """
    labels = read_labels(config.reference, config.field, config.layer)
    try:
        with rasterio.open(raster) as src:
            if src.crs is None:
                raise ValueError(f"{raster}: the map has no CRS")
            codes = src.read(1)
            valid = src.read_masks(1) > 0
            transform, crs = src.transform, src.crs
    except rasterio.errors.RasterioError as e:
        raise ValueError(f"{raster}: not a readable raster ({e})") from e
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"{raster}: expected integer LCZ codes 1-17, got {codes.dtype}")
    valid &= codes > 0
    if valid.any() and (codes[valid].min() < 1 or codes[valid].max() > NUM_CLASSES):
        raise ValueError(f"{raster}: values beyond the LCZ codes 1-{NUM_CLASSES}")
    frame = labels.frame.to_crs(crs)
    # Smaller polygons are burnt last, so they win where polygons overlap (as in tiling).
    order = np.argsort(-frame.geometry.area.to_numpy(), kind="stable")
    ids = np.full(codes.shape, -1, dtype=np.int32)
    shapes = ((frame.geometry.iloc[i], int(i)) for i in order)
    if len(frame):
        features.rasterize(shapes, out=ids, transform=transform, all_touched=False)
    inside = ids >= 0
    unmapped = int((inside & ~valid).sum())
    sample = inside & valid
    if not sample.any():
        raise ValueError(
            f"{config.reference}: no reference polygon overlaps a mapped cell of {raster} "
            f"(compared in {crs.to_string()})"
        )
    poly = ids[sample]
    mapped = codes[sample].astype(np.int64) - 1
    used, local = np.unique(poly, return_inverse=True)
    counts = np.zeros((len(used), NUM_CLASSES), dtype=np.float64)
    np.add.at(counts, (local, mapped), 1.0)
    reference = frame["code"].to_numpy().astype(np.int64)[used] - 1
    return PolygonConfusions(reference, counts, unmapped, len(frame) - len(used))


def _figures(cm: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    report = m.classification_report(cm)
    return {k: float(report[k]) for k in HEADLINE}, m.per_class_scores(cm)


def bootstrap_figures(
    pc: PolygonConfusions, resamples: int, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Headline and per-class figures of ``resamples`` stratified polygon bootstraps.

    Returns:
        ``({figure: (B,)}, {precision|recall|f1: (B, 17)})`` (NaN where undefined).
    """
    rng = np.random.default_rng(seed)
    heads: dict[str, list[float]] = {k: [] for k in HEADLINE}
    per: dict[str, list[np.ndarray]] = {k: [] for k in ("precision", "recall", "f1")}
    groups = [np.flatnonzero(pc.reference == c) for c in range(NUM_CLASSES)]
    groups = [g for g in groups if len(g)]
    for _ in range(resamples):
        weights = np.zeros(len(pc.reference))
        for g in groups:
            np.add.at(weights, rng.choice(g, size=len(g), replace=True), 1.0)
        head, classes = _figures(pc.confusion(weights))
        for k in HEADLINE:
            heads[k].append(head[k])
        for k in per:
            per[k].append(classes[k])
    return (
        {k: np.asarray(v, dtype=np.float64) for k, v in heads.items()},
        {k: np.asarray(v, dtype=np.float64).reshape(-1, NUM_CLASSES) for k, v in per.items()},
    )


def _interval(values: np.ndarray, confidence: float) -> list[float | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [None, None]
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return [float(lo), float(hi)]


class Assessment(BaseModel):
    """The result (saved as ``assessment.json``)."""

    model_config = ConfigDict(extra="forbid")

    map: str = Field(description="The dominant raster assessed.")
    reference: str = Field(description="The reference file.")
    cells: int = Field(description="Cells compared (mapped, with a reference polygon).")
    polygons: int = Field(description="Reference polygons with at least one mapped cell.")
    polygons_outside: int = Field(description="Reference polygons with no mapped cell.")
    cells_unmapped: int = Field(description="Cells inside reference polygons left unmapped.")
    bootstrap: int = Field(description="Bootstrap resamples behind the intervals.")
    confidence: float = Field(description="Coverage of the intervals.")
    figures: dict[str, float | None] = Field(description="Headline figures (0-1).")
    intervals: dict[str, list[float | None]] = Field(description="[low, high] per figure.")
    classes: list[dict[str, Any]] = Field(description="Per class: support and scores.")
    confusion: list[list[int]] = Field(description="cm[reference, mapped], cells, class order.")


def assess(config: AssessConfig) -> Assessment:
    """Assess a map against reference polygons; writes ``config.out`` (see module docstring).

    Raises:
        FileNotFoundError, ValueError: one line naming the bad input.
    """
    raster = dominant_raster(config.map)
    pc = polygon_confusions(config, raster)
    cm = pc.confusion()
    head, classes = _figures(cm)
    boot_head, boot_classes = bootstrap_figures(pc, config.bootstrap, config.seed)
    polygons_per_class = np.bincount(pc.reference, minlength=NUM_CLASSES)
    rows = []
    for c in CLASSES:
        i = c.index
        row: dict[str, Any] = {
            "code": c.code,
            "letter": c.letter,
            "name": c.name,
            "cells": int(classes["support"][i]),
            "polygons": int(polygons_per_class[i]),
            "mapped_cells": int(classes["predicted"][i]),
        }
        for k in ("precision", "recall", "f1"):
            row[k] = m.jsonable(float(classes[k][i]))
            row[f"{k}_interval"] = (
                _interval(boot_classes[k][:, i], config.confidence)
                if config.bootstrap
                else [None, None]
            )
        rows.append(row)
    result = Assessment(
        map=str(raster),
        reference=str(config.reference),
        cells=int(cm.sum()),
        polygons=len(pc.reference),
        polygons_outside=pc.polygons_outside,
        cells_unmapped=pc.unmapped,
        bootstrap=config.bootstrap,
        confidence=config.confidence,
        figures=m.jsonable(head),
        intervals={
            k: _interval(boot_head[k], config.confidence) if config.bootstrap else [None, None]
            for k in HEADLINE
        },
        classes=rows,
        confusion=cm.astype(np.int64).tolist(),
    )
    _write(config, result, cm)
    return result


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _write(config: AssessConfig, result: Assessment, cm: np.ndarray) -> None:
    with atomic_dir(config.out) as tmp:
        (tmp / "config.json").write_text(config.model_dump_json(indent=2) + "\n")
        figures = [
            {"figure": k, "value": result.figures[k],
             "low": result.intervals[k][0], "high": result.intervals[k][1]}
            for k in HEADLINE
        ]  # fmt: skip
        (tmp / "assessment_figures.csv").write_text(_csv(figures))
        flat = []
        for row in result.classes:
            line = {k: row[k] for k in ("code", "letter", "name", "cells", "polygons",
                                        "mapped_cells")}  # fmt: skip
            for k in ("precision", "recall", "f1"):
                line[k] = row[k]
                line[f"{k}_low"], line[f"{k}_high"] = row[f"{k}_interval"]
            flat.append(line)
        (tmp / "assessment_classes.csv").write_text(_csv(flat))
        plot_confusion(
            cm, tmp / "confusion.png", f"Map vs reference: {result.cells} cells, "
            f"{result.polygons} polygons",
        )  # fmt: skip
        (tmp / "assessment.json").write_text(
            json.dumps(result.model_dump(mode="json"), indent=1, allow_nan=False) + "\n"
        )


def format_assessment(result: Assessment) -> str:
    """The headline figures with their intervals, one per line."""
    pct = int(round(100 * result.confidence))
    lines = [
        f"{result.cells} cells in {result.polygons} reference polygons "
        f"({result.polygons_outside} polygons outside the map, "
        f"{result.cells_unmapped} cells unmapped)"
    ]
    for k in HEADLINE:
        value, (lo, hi) = result.figures[k], result.intervals[k]
        shown = "n/a" if value is None else f"{value:.3f}"
        ci = "" if lo is None or hi is None else f"  [{lo:.3f}, {hi:.3f}] ({pct} %)"
        lines.append(f"  {k:16s} {shown}{ci}")
    return "\n".join(lines)
