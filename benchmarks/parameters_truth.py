"""Urban canopy parameters of an LCZ map against the synthetic city's truth, cell by cell.

The synthetic city is drawn from per-pixel building, impervious and pervious surfaces and roof
heights, and writes them (``truth/surface.tif``); ``lcz-map parameters`` estimates the same
parameters from a map of it twice: from each cell's abundances (``lcz_parameters.tif``) and from
its dominant class alone (``lcz_parameters_lookup.tif``). This benchmark puts the truth and the
city's label polygons on the map's cells and scores both estimates against the truth:

* **Parameters**: building, impervious and pervious surface fraction (shares of the cell's plan
  area, 0-1) and the height of roughness elements (m) against the truth's mean building height.
* **Height, two conventions.** The truth's height is the mean roof height over the cell's
  building area (each building weighted by its footprint: the building-fraction-weighted mean of
  its 4 m cells), 0 without buildings; trees are not in it. Stewart & Oke's height of roughness
  elements is the buildings' for LCZ 1-10 but the trees' and plants' for LCZ A-F, and the
  estimate mixes those in by the aggregation rule (weight: a class's building fraction, 5 % for
  natural classes). So the height is scored only where the truth has buildings that matter,
  a building fraction of at least ``min_building``: a forest cell, 0 m in the truth and 16.5 m
  in Table 3, is not an error of either estimate. In the cells scored, the estimate still
  carries the natural classes' tree heights in (a cell of LCZ 6 and A is taller than LCZ 6).
* **Fractions, two conventions.** The truth's three fractions add to 1 (water counted as pervious,
  as Stewart & Oke do); Table 3's ranges are independent, so a class's mid-range values need not
  (LCZ 6: 0.30 + 0.35 + 0.45). Tree crowns do not change the kind of the ground under them in the
  truth (a street tree over paving leaves it impervious); Stewart & Oke do not say how crowns
  over paving count.
* **Cells scored**: mapped (``lcz_abundance.tif`` not nodata), wholly inside the imagery (the
  truth's ``coverage`` is 1) and at least ``min_labelled`` covered by label polygons (the
  city's ``labels.gpkg`` has slivers and holes an annotator would leave).
* **Pure and mixed, from the truth**: the labels are rasterised on a sub-grid of ``sample_m``
  metres nested in the cells (pixel centres, smaller polygons win, as tiling does); a cell whose
  largest class share of the labelled sub-cells is at least ``pure_share`` is *pure*,
  every other scored cell *mixed*. Defined from the labels, not from the map's abundances, so
  both estimates are scored on the same cells whatever the model says.
* **Scores**, per estimate, parameter and group (all, mixed, pure): MAE, RMSE, bias (mean of
  estimate - truth) and Pearson's r.

The thresholds named above are the fields of :class:`Settings`, with their defaults.

:func:`score_area` scores one area folder of a map; :func:`run` every area of a map (``city``
and each district) or one; :func:`markdown_table` is what ``main`` prints.

    python -m benchmarks.parameters_truth --map runs/maps --city runs/city --json ucp.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ESTIMATES",
    "GROUPS",
    "PARAMETERS",
    "Settings",
    "compare",
    "groups",
    "label_composition",
    "markdown_table",
    "read_estimate",
    "run",
    "score_area",
    "truth_on_map",
]

# The parameters scored, by their names in the truth (sunet.synth.truth), with the band names
# of the parameter rasters (sunet.analysis.parameters) that estimate them.
BANDS = {
    "building": "building_surface_fraction",
    "impervious": "impervious_surface_fraction",
    "pervious": "pervious_surface_fraction",
    "building_height": "roughness_element_height",
}
PARAMETERS = tuple(BANDS)
ESTIMATES = {"abundance": "lcz_parameters.tif", "lookup": "lcz_parameters_lookup.tif"}
GROUPS = ("all", "mixed", "pure")
LABELS = "labels.gpkg"
MAP_GRID = "lcz_abundance.tif"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Which cells are scored and how they are grouped (module docstring)."""

    pure_share: float = dataclasses.field(
        default=0.95, metadata={"help": "a cell is pure if its largest true class share is this"}
    )
    min_labelled: float = dataclasses.field(
        default=0.5, metadata={"help": "score cells at least this share inside label polygons"}
    )
    min_building: float = dataclasses.field(
        default=0.05, metadata={"help": "score the height where the true building fraction is this"}
    )
    sample_m: float = dataclasses.field(
        default=4.0, metadata={"help": "metres of the sub-grid the labels are rasterised on"}
    )


def truth_on_map(
    map_dir: Path, city_dir: Path, min_coverage: float = 1.0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The city's truth on the map's grid, and the bool mask of cells to score: mapped (not
    nodata in ``lcz_abundance.tif``) and at least ``min_coverage`` inside the imagery."""
    import rasterio

    from sunet.synth.truth import truth_on_map_grid

    truth = truth_on_map_grid(city_dir, map_dir)
    with rasterio.open(map_dir / MAP_GRID) as src:
        mapped = src.read(1) != src.nodata
    return truth, mapped & (truth["coverage"] >= min_coverage)


def label_composition(
    map_dir: Path, city_dir: Path, sample_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """The true LCZ composition of each map cell, from the city's label polygons.

    The labels are rasterised (pixel centres, smaller polygons on top: ``LabelSet``) on a grid of
    ``sample_m`` metres nested in the map's cells, in the map's CRS, and counted per cell.

    Returns:
        ``(shares, labelled)``: float64 ``(17, rows, cols)`` class shares of the labelled
        sub-cells (raster-code order; 0 where none is labelled) and float64 ``(rows, cols)``
        the share of the cell that is labelled.

    Raises:
        ValueError: if ``sample_m`` does not divide the map's cell size.
    """
    import rasterio
    from affine import Affine

    from sunet.geo.vector import read_labels
    from sunet.lcz import NUM_CLASSES
    from sunet.tiling.labels import LabelSet

    with rasterio.open(Path(map_dir) / MAP_GRID) as src:
        transform, (rows, cols), crs = src.transform, src.shape, src.crs
    cell = abs(transform.a)
    k = round(cell / sample_m)
    if k < 1 or not math.isclose(k * sample_m, cell):
        raise ValueError(f"sample_m={sample_m:g} does not divide the map's {cell:g} m cells")
    frame = read_labels(Path(city_dir) / LABELS, "lcz").frame.to_crs(crs)
    labels = LabelSet(list(frame.geometry), frame["code"].tolist())
    counts = np.zeros((NUM_CLASSES + 1, rows, cols), dtype=np.int64)
    step = max(1, 4_000_000 // (k * k * max(cols, 1)))  # cell rows per strip: bounded memory
    for r0 in range(0, rows, step):
        h = min(step, rows - r0)
        top = transform @ (0, r0)
        fine = Affine(sample_m, 0.0, top[0], 0.0, -sample_m, top[1])
        codes = labels.rasterize(fine, (h * k, cols * k)).astype(np.int64)
        cell_index = (np.arange(h * k)[:, None] // k) * cols + np.arange(cols * k)[None] // k
        flat = np.bincount(
            (codes * (h * cols) + cell_index).ravel(), minlength=(NUM_CLASSES + 1) * h * cols
        )
        counts[:, r0 : r0 + h] = flat.reshape(NUM_CLASSES + 1, h, cols)
    labelled = counts[1:].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(labelled > 0, counts[1:] / np.maximum(labelled, 1), 0.0)
    return shares, labelled / float(k * k)


def read_estimate(map_dir: Path, raster: str) -> dict[str, np.ndarray]:
    """The scored bands of a parameter raster of a map area, by their truth names: float64
    ``(rows, cols)``, NaN where the raster is nodata. Bands are found by their ``NAME`` tag.

    Raises:
        FileNotFoundError: the area has no such raster (run ``lcz-map parameters`` first).
    """
    import rasterio

    path = Path(map_dir) / raster
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; run `lcz-map parameters --map` on the map")
    with rasterio.open(path) as src:
        band_of = {src.tags(b).get("NAME"): b for b in range(1, src.count + 1)}
        out = {}
        for truth_name, band_name in BANDS.items():
            data = src.read(band_of[band_name], masked=True).astype(np.float64)
            out[truth_name] = data.filled(np.nan)
    return out


def groups(scored: np.ndarray, shares: np.ndarray, pure_share: float) -> dict[str, np.ndarray]:
    """The bool masks of :data:`GROUPS`: all scored cells, and of those the mixed and the pure
    ones (largest true class share ``>= pure_share``)."""
    pure = scored & (shares.max(axis=0) >= pure_share)
    return {"all": scored, "mixed": scored & ~pure, "pure": pure}


def compare(
    truth: dict[str, np.ndarray], estimate: dict[str, np.ndarray], cells: np.ndarray
) -> dict[str, dict[str, float | None]]:
    """Scores of each estimated parameter over ``cells`` (arrays on one grid; fractions 0-1,
    heights in metres): ``cells``, ``mae``, ``rmse``, ``bias`` (mean of estimate - truth) and
    ``r`` (Pearson's; None if either side is constant, so that the JSON stays strict). Cells
    where either is NaN are left out."""
    scores: dict[str, dict[str, float | None]] = {}
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
            "mae": float(np.abs(d).mean()),
            "rmse": float(np.sqrt((d * d).mean())),
            "bias": float(d.mean()),
            "r": float(np.corrcoef(t, e)[0, 1]) if varied else None,
        }
    return scores


def score_area(map_dir: Path, city_dir: Path, settings: Settings | None = None) -> dict[str, Any]:
    """Both parameter rasters of one map area folder against the truth (module docstring).

    Returns:
        ``{"cell_m", "crs", "cells": {group: n}, "height_cells": {group: n}, "truth": {...},
        "scores": {estimate: {group: {parameter: compare()'s scores}}}, "by_class": the
        same per largest true class of the scored cells {letter: {estimate: ...}}, "pure_map":
        {"dominant_right", "largest_abundance"}, "pure_by_class": {letter: {"cells": n,
        "truth" | estimate: {parameter: mean}}}}``.
    """
    import rasterio

    from sunet.lcz import CLASSES

    st = settings or Settings()
    map_dir, city_dir = Path(map_dir), Path(city_dir)
    truth, inside = truth_on_map(map_dir, city_dir)
    shares, labelled = label_composition(map_dir, city_dir, st.sample_m)
    estimates = {name: read_estimate(map_dir, raster) for name, raster in ESTIMATES.items()}
    scored = inside & (labelled >= st.min_labelled)
    for estimate in estimates.values():
        for values in estimate.values():
            scored &= np.isfinite(values)
    masks = groups(scored, shares, st.pure_share)
    # The height is compared where the truth has buildings that matter (module docstring).
    truth = dict(truth)
    truth["building_height"] = np.where(
        truth["building"] >= st.min_building, truth["building_height"], np.nan
    )
    with rasterio.open(map_dir / MAP_GRID) as src:
        cell_m, crs = abs(src.transform.a), src.crs.to_string()
    result: dict[str, Any] = {
        "area": map_dir.name,
        "cell_m": cell_m,
        "crs": crs,
        "cells": {g: int(m.sum()) for g, m in masks.items()},
        "height_cells": {
            g: int((m & np.isfinite(truth["building_height"])).sum()) for g, m in masks.items()
        },
        "truth": {
            name: round(float(np.nanmean(truth[name][scored])), 4) if scored.any() else None
            for name in PARAMETERS
        },
        "scores": {
            name: {g: compare(truth, estimate, m) for g, m in masks.items()}
            for name, estimate in estimates.items()
        },
        "by_class": {
            c.letter: {
                name: compare(truth, estimate, cells) for name, estimate in estimates.items()
            }
            for c in CLASSES
            if (cells := scored & (shares.argmax(axis=0) == c.code - 1)).any()
        },
        "pure_map": _pure_map(map_dir, masks["pure"], shares),
        "pure_by_class": _pure_by_class(truth, estimates, masks["pure"], shares),
    }
    return result


def _pure_map(map_dir: Path, pure: np.ndarray, shares: np.ndarray) -> dict[str, float | None]:
    """What the map says in the pure cells: the share whose dominant class is the true one, and
    the mean largest abundance (1 where the abundances are one-hot)."""
    import rasterio

    if not pure.any():
        return {"dominant_right": None, "largest_abundance": None}
    with rasterio.open(map_dir / MAP_GRID) as src:
        abundances = src.read()
    true_code = shares.argmax(axis=0)[pure]
    return {
        "dominant_right": round(float((abundances.argmax(axis=0)[pure] == true_code).mean()), 4),
        "largest_abundance": round(float(abundances.max(axis=0)[pure].mean()), 4),
    }


def _pure_by_class(
    truth: dict[str, np.ndarray],
    estimates: dict[str, dict[str, np.ndarray]],
    pure: np.ndarray,
    shares: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """Per true class of the pure cells: how many, and the mean of each parameter in the truth
    and in each estimate (the height over the cells where the truth has one). This separates
    what the class values say from how the classes are combined."""
    from sunet.lcz import CLASSES

    code = shares.argmax(axis=0) + 1
    out: dict[str, dict[str, Any]] = {}
    for c in CLASSES:
        cells = pure & (code == c.code)
        if not cells.any():
            continue
        sources = {"truth": truth, **estimates}
        out[c.letter] = {"cells": int(cells.sum())}
        for source, values in sources.items():
            held = {n: cells & np.isfinite(truth[n]) for n in PARAMETERS}
            out[c.letter][source] = {
                n: round(float(values[n][held[n]].mean()), 4) if held[n].any() else None
                for n in PARAMETERS
            }
    return out


def run(map_dir: Path, city_dir: Path, settings: Settings | None = None) -> dict[str, Any]:
    """:func:`score_area` over every area of a map (``city`` first, then the districts), or over
    one area folder; with the settings and the map's model, as JSON-ready values."""
    from sunet.analysis.parameter_rasters import map_areas

    map_dir, city_dir = Path(map_dir), Path(city_dir)
    one_area = (map_dir / MAP_GRID).is_file()
    areas = [map_dir] if one_area else map_areas(map_dir)
    record = (map_dir.parent if one_area else map_dir) / "config.json"
    model = json.loads(record.read_text())["config"].get("model") if record.is_file() else None
    st = settings or Settings()
    return {
        "map": str(map_dir.resolve()),
        "city": str(city_dir.resolve()),
        "model": model,
        "settings": dataclasses.asdict(st),
        "areas": {a.name: score_area(a, city_dir, st) for a in areas},
    }


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown_table(result: dict[str, Any]) -> str:
    """One markdown table of :func:`run`'s result: a row per area, parameter and group, MAE,
    RMSE, bias and r of the abundance-based and the lookup estimates side by side."""
    head = (
        "| area | parameter | cells | group | MAE abund. | MAE lookup | RMSE abund. "
        "| RMSE lookup | bias abund. | bias lookup | r abund. | r lookup |"
    )
    lines = [head, "|" + "---|" * 12]
    for area, scored in result["areas"].items():
        for name in PARAMETERS:
            digits = 2 if name == "building_height" else 3
            for group in GROUPS:
                a = scored["scores"]["abundance"][group].get(name, {})
                b = scored["scores"]["lookup"][group].get(name, {})
                row = [area, name, str(a.get("cells", 0)), group]
                for key in ("mae", "rmse", "bias"):
                    row += [_cell(a.get(key), digits), _cell(b.get(key), digits)]
                row += [_cell(a.get("r"), 2), _cell(b.get("r"), 2)]
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--map",
        type=Path,
        required=True,
        help="a map folder (every area) or one area folder of it (OUT/city)",
    )
    p.add_argument("--city", type=Path, required=True, help="the synthetic city folder")
    p.add_argument("--json", type=Path, default=None, help="also write the scores here")
    for f in dataclasses.fields(Settings):
        p.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=float,
            default=f.default,
            help=f"{f.metadata['help']} (default {f.default:g})",
        )
    a = p.parse_args(argv)  # fmt: skip
    settings = Settings(**{f.name: getattr(a, f.name) for f in dataclasses.fields(Settings)})
    result = run(a.map, a.city, settings)
    if a.json is not None:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
