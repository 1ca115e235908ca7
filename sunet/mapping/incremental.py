"""Incremental maps: a run over a finished base map infers only the cells an update area changes.

With ``MapConfig.base`` and ``update_area`` (given together), the run copies every cell from the
base map's city abundance raster except those that imagery inside the update area can change.
Copied cells are this run's own only if the base was made the same way: on the same grid, with
the same model, stride, bands, window weighting and validity thresholds, and for the same
districts. :func:`check_base` refuses any other base (map in full instead);
:func:`cells_to_recompute` marks the cells to infer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from sunet.geo.vector import read_polygons
from sunet.mapping.districts import CITY
from sunet.mapping.products import ABUNDANCE
from sunet.mapping.windows import MapGrid, affected_cells

__all__ = ["BASE_MUST_MATCH", "cells_to_recompute", "check_base", "finished_map"]

# Settings that must agree between a run and its base for copied cells to be the run's own.
BASE_MUST_MATCH = ("model", "stride", "bands", "weighting", "min_window_valid", "min_cell_valid")

# The update area is grown by this many scene pixels, at the coarsest GSD allowed: the
# resampling kernel's reach past a scene's edge.
_KERNEL_REACH_PX = 2


def finished_map(folder: Path) -> tuple[Path, Path]:
    """A finished map's record (``config.json``, written last) and its city abundance raster.

    Raises:
        FileNotFoundError: ``folder`` is not a finished map (one line naming it).
    """
    record, raster = folder / "config.json", folder / CITY / ABUNDANCE
    if not record.is_file() or not raster.is_file():
        raise FileNotFoundError(
            f"{folder}: not a finished map (needs config.json and {CITY}/{ABUNDANCE})"
        )
    return record, raster


def check_base(base: Path, record: dict[str, Any]) -> Path:
    """Check that the finished map in ``base`` was made the way this run makes its map.

    Args:
        base: the base map's output folder.
        record: this run's record (``MapPlan.record()``: ``config``, ``grid``, ``districts``),
            compared with the base's ``config.json``.

    Returns:
        The base's city abundance raster (``base/city/lcz_abundance.tif``), on this run's grid.

    Raises:
        FileNotFoundError: ``base`` is not a finished map.
        ValueError: its record is unreadable, or it was made on another grid, with other
            settings (:data:`BASE_MUST_MATCH`) or for other districts; the message names them.
    """
    record_path, raster = finished_map(base)
    try:
        recorded = json.loads(record_path.read_text(encoding="utf-8"))
        grid, earlier = recorded["grid"], recorded["config"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{record_path}: not a map record (no 'grid' and 'config')") from None
    differing = [k for k in BASE_MUST_MATCH if earlier.get(k) != record["config"][k]]
    if grid != record["grid"]:
        differing.insert(0, "grid")
    if recorded.get("districts") != record["districts"]:
        differing.append("districts")
    if differing:
        raise ValueError(
            f"{base}: made with a different {', '.join(differing)}; map in full instead"
        )
    return raster


def cells_to_recompute(update_area: Path, city: MapGrid, max_gsd_ratio: float) -> np.ndarray:
    """bool ``(H, W)`` over the city grid: the cells that imagery inside ``update_area`` (a
    vector file, any CRS) can change (see :func:`~sunet.mapping.windows.affected_cells`).

    The area is grown by the resampling kernel's reach: two scene pixels at the coarsest scene
    GSD allowed (``max_gsd_ratio`` times the grid's GSD), in metres of the map CRS.
    """
    layer = read_polygons(update_area)
    area = shapely.union_all(layer.frame.to_crs(city.crs).geometry.to_numpy())
    margin = _KERNEL_REACH_PX * city.cells.gsd * max_gsd_ratio
    return affected_cells(city, area.buffer(margin))
