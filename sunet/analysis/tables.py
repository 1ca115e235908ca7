"""The tables of a district analysis (CSV, one header row, values in the units of the page).

* ``districts.csv`` (:data:`DISTRICT_COLUMNS`): one row per area;
* ``composition.csv`` (:data:`COMPOSITION_COLUMNS`): area x class x method, long format;
* ``parameters.csv`` (:data:`PARAMETER_COLUMNS`): area x parameter x method, long format;
* ``changes.csv`` (:data:`CHANGE_COLUMNS`): one row per area mapped in both maps.

Shares are 0-1, areas m² (km² where the column says so); a statistic without cells is empty.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from sunet.analysis.parameters import PARAMETERS
from sunet.atomic import write_text_atomic
from sunet.lcz import CLASSES

if TYPE_CHECKING:
    from sunet.analysis.report import MapAnalysis

__all__ = [
    "CHANGE_COLUMNS",
    "COMPOSITION_COLUMNS",
    "DISTRICT_COLUMNS",
    "PARAMETER_COLUMNS",
    "QUANTILES",
    "TABLES",
    "district_rows",
    "write_tables",
]

TABLES = {
    "districts": "districts.csv",
    "composition": "composition.csv",
    "parameters": "parameters.csv",
    "changes": "changes.csv",
}
QUANTILES = {"median": 0.5, "p10": 0.1, "p90": 0.9}  # column -> quantile


def _number(x: float, digits: int = 6) -> str:
    """A table value: ``digits`` significant digits, empty for NaN."""
    return "" if math.isnan(x) else f"{x:.{digits}g}"


def _csv(header: list[str], rows: list[list[object]]) -> str:
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return text.getvalue()


DISTRICT_COLUMNS = [
    "area", "name", "cells", "area_km2", "built_share_dominant", "built_share_abundance",
    "natural_share_dominant", "natural_share_abundance", "composition_difference",
    "top_dominant", "top_abundance", "entropy_mean", "entropy_median", "mixed_share",
    "weak_dominant_share", "parameters_from",
]  # fmt: skip
COMPOSITION_COLUMNS = ["area", "name", "code", "letter", "class", "kind", "method", "area_m2",
                       "share"]  # fmt: skip
PARAMETER_COLUMNS = ["area", "name", "parameter", "unit", "method", "cells", "mean", *QUANTILES]
CHANGE_COLUMNS = [
    "area", "name", "previous", "compared_cells", "compared_km2", "building_changed_share",
    *[f"{p.name}_change" for p in PARAMETERS],
]  # fmt: skip


def _top(shares: dict[str, float]) -> str:
    return " ".join(f"{k}:{v:.3f}" for k, v in shares.items())


def district_rows(analysis: MapAnalysis) -> list[list[object]]:
    """The rows of ``districts.csv`` (:data:`DISTRICT_COLUMNS`)."""
    rows: list[list[object]] = []
    for a in analysis.areas:
        c, m = a.composition, a.mixing
        rows.append([
            a.folder, a.name, a.cells, _number(a.area_km2), _number(c.built_dominant),
            _number(c.built_abundance), _number(1 - c.built_dominant),
            _number(1 - c.built_abundance), _number(c.difference),
            _top(c.top(c.dominant)), _top(c.top(c.abundance)), _number(m.entropy.mean),
            _number(m.entropy.quantile(0.5)), _number(m.mixed_share), _number(m.weak_share),
            a.parameters_from,
        ])  # fmt: skip
    return rows


def write_tables(out: Path, analysis: MapAnalysis) -> list[str]:
    """Write the CSV tables of ``analysis`` into ``out`` (each atomically); returns their names
    (``changes.csv`` only with an earlier map)."""
    write_text_atomic(out / TABLES["districts"], _csv(DISTRICT_COLUMNS, district_rows(analysis)))
    composition: list[list[object]] = []
    parameters: list[list[object]] = []
    for a in analysis.areas:
        c = a.composition
        for method, area_m2, shares in (
            ("dominant", c.dominant_m2, c.dominant),
            ("abundance", c.abundance_m2, c.abundance),
        ):
            for k in CLASSES:
                composition.append([
                    a.folder, a.name, k.code, k.letter, k.name, k.kind, method,
                    f"{area_m2[k.index]:.1f}", f"{shares[k.index]:.6f}",
                ])  # fmt: skip
        for p, agg, look in zip(PARAMETERS, a.aggregated, a.lookup, strict=True):
            for method, d in (("abundance", agg), ("lookup", look)):
                parameters.append([
                    a.folder, a.name, p.name, p.unit, method, d.count, _number(d.mean),
                    *[_number(d.quantile(q)) for q in QUANTILES.values()],
                ])  # fmt: skip
    write_text_atomic(out / TABLES["composition"], _csv(COMPOSITION_COLUMNS, composition))
    write_text_atomic(out / TABLES["parameters"], _csv(PARAMETER_COLUMNS, parameters))
    written = [TABLES["districts"], TABLES["composition"], TABLES["parameters"]]
    if analysis.previous is not None:
        changes: list[list[object]] = []
        for a in analysis.areas:
            if a.change is None:
                continue
            ch = a.change
            changes.append([
                a.folder, a.name, str(analysis.previous), ch.cells,
                _number(ch.cells * a.cell_area_m2 / 1e6), _number(ch.building_changed_share),
                *[_number(float(x)) for x in ch.mean_change],
            ])  # fmt: skip
        write_text_atomic(out / TABLES["changes"], _csv(CHANGE_COLUMNS, changes))
        written.append(TABLES["changes"])
    return written
