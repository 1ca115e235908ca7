"""Urban canopy parameters of an LCZ map against the synthetic city's truth (skeleton).

The synthetic city is drawn from per-pixel building, impervious and pervious surfaces and roof
heights, and writes them (``truth/surface.tif``); a map of it estimates the same parameters from
its class abundances. This benchmark puts the truth on the map's cells and scores an estimate
against it, cell by cell:

* :func:`truth_on_map` -- the truth aligned to the map (``truth_on_map_grid``) and the cells to
  score: mapped, and wholly inside the imagery;
* :func:`compare` -- per parameter, over those cells: mean error (estimate - truth), mean absolute
  error, root mean square error and Pearson's r;
* :func:`run` -- both, for a map folder and the city it maps; the estimate is given as arrays on
  the map's grid (the parameter rasters of ``sunet.analysis``, once they exist). Without one it
  reports the truth alone.

    python -m benchmarks.parameters_truth --map runs/demo/maps/city --city runs/city
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PARAMETERS", "compare", "run", "truth_on_map"]

# The parameters scored, by their names in the truth (see sunet.synth.truth).
PARAMETERS = ("building", "impervious", "pervious", "building_height")


def truth_on_map(
    map_dir: Path, city_dir: Path, min_coverage: float = 1.0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The city's truth on the map's grid, and the bool mask of cells to score: mapped (not
    nodata in ``lcz_abundance.tif``) and at least ``min_coverage`` inside the imagery."""
    import rasterio

    from sunet.synth.truth import truth_on_map_grid

    truth = truth_on_map_grid(city_dir, map_dir)
    with rasterio.open(map_dir / "lcz_abundance.tif") as src:
        mapped = src.read(1) != src.nodata
    return truth, mapped & (truth["coverage"] >= min_coverage)


def compare(
    truth: dict[str, np.ndarray], estimate: dict[str, np.ndarray], cells: np.ndarray
) -> dict[str, dict[str, float]]:
    """Scores of each estimated parameter over ``cells`` (arrays on one grid; fractions 0-1,
    heights in metres)."""
    scores: dict[str, dict[str, float]] = {}
    for name in PARAMETERS:
        if name not in estimate:
            continue
        t, e = truth[name][cells], estimate[name][cells]
        keep = np.isfinite(t) & np.isfinite(e)
        t, e = t[keep], e[keep]
        if not len(t):
            continue
        d = e - t
        varied = len(t) > 1 and t.std() > 0 and e.std() > 0
        scores[name] = {
            "cells": int(len(t)),
            "mean_error": float(d.mean()),
            "mae": float(np.abs(d).mean()),
            "rmse": float(np.sqrt((d * d).mean())),
            "r": float(np.corrcoef(t, e)[0, 1]) if varied else float("nan"),
        }
    return scores


def run(
    map_dir: Path, city_dir: Path, estimate: dict[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """The truth on the map's scored cells (mean, spread) and, given an estimate, its scores."""
    truth, cells = truth_on_map(Path(map_dir), Path(city_dir))
    result: dict[str, Any] = {"cells": int(cells.sum())}
    for name in PARAMETERS:
        values = truth[name][cells]
        result[f"truth_{name}_mean"] = round(float(values.mean()), 4) if len(values) else None
        result[f"truth_{name}_sd"] = round(float(values.std()), 4) if len(values) else None
    if estimate is not None:
        result["scores"] = compare(truth, estimate, cells)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--map", type=Path, required=True, help="a map's area folder (OUT/city)")
    p.add_argument("--city", type=Path, required=True, help="the synthetic city folder")
    a = p.parse_args(argv)
    json.dump(run(a.map, a.city), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
