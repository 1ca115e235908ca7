"""What changed between two map versions: LCZ transition matrices and changed area per district.

Compute (:func:`transition_matrix`) works on two arrays of raster codes on one grid; I/O
(:func:`compare_rasters`) reads a pair of dominant-LCZ rasters, bringing the earlier one onto the
later one's grid (nearest neighbour; both versions share the fixed map grid, so this is an
integer shift, or nothing); :func:`write_change_report` writes the report of a whole version.

Outputs, in the later version's ``changes/`` folder:

* ``transitions.csv``: one row per district and (from, to) class pair with any cells:
  ``district, from_code, from_lcz, to_code, to_lcz, cells, area_m2``;
* ``summary.csv``: per district ``compared_m2, changed_m2, changed_share``;
* ``changes.json``: the same plus the full 17 x 17 matrices (rows = before, columns = after,
  raster-code order of :data:`sunet.lcz.CLASSES`);
* ``changes.md``: a readable summary (also published as a Prefect artifact by the flows).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from sunet.atomic import write_text_atomic
from sunet.lcz import CLASSES, NUM_CLASSES

__all__ = ["DistrictChange", "compare_rasters", "transition_matrix", "write_change_report"]


def transition_matrix(before: np.ndarray, after: np.ndarray, nodata: int = 0) -> np.ndarray:
    """Count cells by (class before, class after).

    Args:
        before, after: integer raster codes 1-17, same shape ``(H, W)``; ``nodata`` (and any value
            outside 1-17) marks a cell not mapped, which is left out of the count.

    Returns:
        int64 ``(17, 17)``: ``m[i, j]`` = cells of code ``i + 1`` before and ``j + 1`` after.
    """
    if before.shape != after.shape:
        raise ValueError(f"rasters differ in shape: {before.shape} vs {after.shape}")
    b = before.astype(np.int64).ravel()
    a = after.astype(np.int64).ravel()
    both = (b != nodata) & (a != nodata) & (b >= 1) & (b <= NUM_CLASSES) & (a >= 1)
    both &= a <= NUM_CLASSES
    flat = (b[both] - 1) * NUM_CLASSES + (a[both] - 1)
    return np.bincount(flat, minlength=NUM_CLASSES * NUM_CLASSES).reshape(NUM_CLASSES, NUM_CLASSES)


@dataclass(frozen=True)
class DistrictChange:
    """Transitions in one district: ``matrix`` (17, 17) cell counts, ``cell_area_m2`` per cell;
    ``covered`` / ``uncovered`` (17,): cells mapped now but not before (new imagery over a hole
    or beyond the old edge), by their class now, and cells mapped before but not now, by their
    class before."""

    district: str
    matrix: np.ndarray
    cell_area_m2: float
    covered: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, dtype=np.int64))
    uncovered: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, dtype=np.int64))

    @property
    def compared_m2(self) -> float:
        """Area mapped in both versions, m²."""
        return float(self.matrix.sum()) * self.cell_area_m2

    @property
    def changed_m2(self) -> float:
        """Area whose dominant class differs between the versions, m²."""
        return float(self.matrix.sum() - np.trace(self.matrix)) * self.cell_area_m2

    @property
    def covered_m2(self) -> float:
        """Area mapped now and not before, m²."""
        return float(self.covered.sum()) * self.cell_area_m2

    @property
    def uncovered_m2(self) -> float:
        """Area mapped before and not now, m²."""
        return float(self.uncovered.sum()) * self.cell_area_m2

    @property
    def changed_share(self) -> float:
        total = self.matrix.sum()
        return float((total - np.trace(self.matrix)) / total) if total else 0.0


def _coverage_matrix(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(18, 18) counts with index 0 = not mapped (any code outside 1-17), 1-17 = the codes."""
    b = before.astype(np.int64).ravel()
    a = after.astype(np.int64).ravel()
    b = np.where((b >= 1) & (b <= NUM_CLASSES), b, 0)
    a = np.where((a >= 1) & (a <= NUM_CLASSES), a, 0)
    n = NUM_CLASSES + 1
    return np.bincount(b * n + a, minlength=n * n).reshape(n, n)


def compare_rasters(
    before: str | os.PathLike[str] | None, after: str | os.PathLike[str], district: str
) -> DistrictChange:
    """Transitions and coverage change of two dominant-LCZ rasters (uint8 codes, metric CRS).

    ``before`` is read onto ``after``'s grid with nearest-neighbour resampling; cells outside
    ``before`` (or every cell, when ``before`` is None: a district new in this version) count as
    not mapped before.
    """
    with rasterio.open(after) as dst:
        later = dst.read(1)
        nodata_after = int(dst.nodata) if dst.nodata is not None else 0
        res_x, res_y = dst.res
        if before is None:
            earlier = np.zeros_like(later)
            nodata_before = 0
        else:
            with rasterio.open(before) as src:
                nodata_before = int(src.nodata) if src.nodata is not None else 0
                with WarpedVRT(
                    src,
                    crs=dst.crs,
                    transform=dst.transform,
                    width=dst.width,
                    height=dst.height,
                    resampling=Resampling.nearest,
                    nodata=nodata_before,
                ) as vrt:
                    earlier = vrt.read(1)
    earlier = np.where(earlier == nodata_before, 0, earlier)
    later = np.where(later == nodata_after, 0, later)
    m = _coverage_matrix(earlier, later)
    return DistrictChange(
        district, m[1:, 1:].copy(), abs(res_x * res_y), m[0, 1:].copy(), m[1:, 0].copy()
    )


def write_change_report(
    changes: Mapping[str, DistrictChange],
    out_dir: str | os.PathLike[str],
    before: str,
    after: str | None = None,
) -> Path:
    """Write ``transitions.csv``, ``summary.csv``, ``changes.json`` and ``changes.md`` to
    ``out_dir`` (each atomically) and return the markdown path.

    Args:
        changes: district name -> its :class:`DistrictChange`.
        before, after: the version names compared (e.g. ``'v0003'``, ``'v0004'``); ``after``
            may be None when the report is written inside the new version before it has a name.
    """
    out_dir = Path(out_dir)
    names = sorted(changes)

    rows = io.StringIO()
    w = csv.writer(rows, lineterminator="\n")
    w.writerow(["district", "from_code", "from_lcz", "to_code", "to_lcz", "cells", "area_m2"])
    for name in names:
        c = changes[name]
        for i, j in zip(*np.nonzero(c.matrix), strict=True):
            n = int(c.matrix[i, j])
            w.writerow(
                [name, i + 1, CLASSES[i].letter, j + 1, CLASSES[j].letter, n, n * c.cell_area_m2]
            )
    write_text_atomic(out_dir / "transitions.csv", rows.getvalue())

    summary = io.StringIO()
    w = csv.writer(summary, lineterminator="\n")
    w.writerow(
        ["district", "compared_m2", "changed_m2", "changed_share", "covered_m2", "uncovered_m2"]
    )
    for name in names:
        c = changes[name]
        w.writerow([name, c.compared_m2, c.changed_m2, round(c.changed_share, 6), c.covered_m2,
                    c.uncovered_m2])  # fmt: skip
    write_text_atomic(out_dir / "summary.csv", summary.getvalue())

    doc = {
        "before": before,
        "after": after,
        "classes": [c.letter for c in CLASSES],
        "districts": {
            name: {
                "compared_m2": changes[name].compared_m2,
                "changed_m2": changes[name].changed_m2,
                "changed_share": changes[name].changed_share,
                "covered_m2": changes[name].covered_m2,
                "uncovered_m2": changes[name].uncovered_m2,
                "cell_area_m2": changes[name].cell_area_m2,
                "matrix": changes[name].matrix.tolist(),
                "covered_cells": changes[name].covered.tolist(),
                "uncovered_cells": changes[name].uncovered.tolist(),
            }
            for name in names
        },
    }
    write_text_atomic(out_dir / "changes.json", json.dumps(doc, indent=1) + "\n")
    return write_text_atomic(out_dir / "changes.md", change_markdown(changes, before, after))


def change_markdown(
    changes: Mapping[str, DistrictChange], before: str, after: str | None = None
) -> str:
    """The markdown summary: changed area per district and its largest transitions."""
    lines = [
        f"# LCZ changes {before} -> {after}" if after else f"# LCZ changes since {before}",
        "",
        "| district | compared (km²) | changed (km²) | changed (%) | newly mapped (km²) "
        "| no longer mapped (km²) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in sorted(changes):
        c = changes[name]
        lines.append(
            f"| {name} | {c.compared_m2 / 1e6:.3f} | {c.changed_m2 / 1e6:.3f} "
            f"| {100 * c.changed_share:.1f} | {c.covered_m2 / 1e6:.3f} "
            f"| {c.uncovered_m2 / 1e6:.3f} |"
        )
    lines += [
        "",
        "## Largest transitions",
        "",
        "| district | from | to | area (km²) |",
        "|---|---|---|---:|",
    ]
    for name in sorted(changes):
        c = changes[name]
        off = c.matrix.copy()
        np.fill_diagonal(off, 0)
        for flat in np.argsort(off, axis=None)[::-1][:5]:
            i, j = divmod(int(flat), NUM_CLASSES)
            if off[i, j] == 0:
                break
            lines.append(
                f"| {name} | {CLASSES[i].label} | {CLASSES[j].label} "
                f"| {off[i, j] * c.cell_area_m2 / 1e6:.3f} |"
            )
    coverage = [
        f"| {name} | {kind} | {CLASSES[i].label} | {cells[i] * changes[name].cell_area_m2 / 1e6:.3f} |"
        for name in sorted(changes)
        for kind, cells in (
            ("newly mapped", changes[name].covered),
            ("no longer mapped", changes[name].uncovered),
        )  # fmt: skip
        for i in np.nonzero(cells)[0]
    ]
    if coverage:
        lines += ["", "## Coverage", "", "| district | change | class | area (km²) |",
                  "|---|---|---|---:|", *coverage]  # fmt: skip
    return "\n".join(lines) + "\n"
