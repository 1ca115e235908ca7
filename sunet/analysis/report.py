"""The district analysis of a map: tables, figures and one HTML page per map (version).

``analyse(AnalyseConfig(map=...))`` reads every area of a ``lcz-map map`` output (``city/`` and
one folder per district), summarises each in one pass (:mod:`sunet.analysis.summaries`) and
writes, into ``MAP/analysis/`` (or ``out``), the tables (:mod:`sunet.analysis.tables`):

* ``districts.csv``: one row per area: mapped cells and km², built share by dominant class and
  by abundance, how far the two compositions differ, the mixing of the cells (mean and median
  normalised entropy, share of mixed cells, share of cells whose dominant class is weak);
* ``composition.csv``: area x class x method (``dominant``, ``abundance``): area and share;
* ``parameters.csv``: area x parameter x method (``abundance``: aggregated from the abundances,
  ``lookup``: the dominant class's value): cells, mean, median, p10, p90, in the band unit;
* ``changes.csv`` (with an earlier map): one row per area mapped in both: compared cells, the
  share whose building surface fraction moved by more than ``building_change``, and the mean
  change of every parameter;
* PNG figures (:mod:`sunet.analysis.figures`), ``index.html`` (:mod:`sunet.analysis.html`)
  linking all of them, and ``analysis.json`` (the resolved config, the areas, the files), written
  last: a folder without it is incomplete.

The parameters are read from the area's ``lcz_parameters.tif`` and ``lcz_parameters_lookup.tif``
when ``lcz-map parameters`` wrote them for this map's grid, and computed the same way
(:func:`~sunet.analysis.parameters.from_abundances`, :func:`~sunet.analysis.parameters.from_classes`)
otherwise: the maps analysed are only read, never written. An earlier map is read onto each
area's grid (nearest neighbour: versions share the map grid, so this is a shift of whole cells).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from pydantic import BaseModel
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from sunet.analysis.config import ANALYSIS_DIR, ANALYSIS_PAGE, ANALYSIS_RECORD, AnalyseConfig
from sunet.analysis.parameter_rasters import RASTERS, map_areas
from sunet.analysis.parameters import INDEX, from_abundances, from_classes
from sunet.analysis.summaries import (
    Composition,
    Distribution,
    Mixing,
    ParameterChange,
    add_parameters,
    parameter_distributions,
)
from sunet.analysis.tables import write_tables
from sunet.atomic import remove_leftovers, write_text_atomic
from sunet.lcz import NUM_CLASSES
from sunet.locks import hold
from sunet.mapping.districts import CITY
from sunet.mapping.products import ABUNDANCE, DOMINANT, SUMMARY
from sunet.mapping.report import read_summary
from sunet.operations.versions import previous_version

__all__ = [
    "AnalysisReport",
    "AreaAnalysis",
    "CityMaps",
    "MapAnalysis",
    "analyse",
    "analyse_area",
    "area_names",
]

COMPUTED = "computed from lcz_abundance.tif and lcz_dominant.tif"
# Cell rows per block (bounded memory on large cities).
_BLOCK_ROWS = 256
# Long side of the city's parameter and change maps, pixels (larger cities are decimated).
_FIGURE_SIDE = 900


@dataclass
class AreaAnalysis:
    """The summaries of one area (a district, or the city).

    ``aggregated`` / ``lookup``: one :class:`Distribution` per parameter (PARAMETERS order), of
    the values aggregated from the abundances and of the dominant class's values;
    ``parameters_from``: the rasters they were read from, or :data:`COMPUTED`; ``change``: against
    the earlier map, None without one or when the area is new.
    """

    folder: str
    name: str
    cell_area_m2: float
    composition: Composition
    mixing: Mixing
    aggregated: list[Distribution]
    lookup: list[Distribution]
    parameters_from: str
    change: ParameterChange | None = None

    @property
    def cells(self) -> int:
        return self.mixing.cells

    @property
    def area_km2(self) -> float:
        return self.cells * self.cell_area_m2 / 1e6


@dataclass
class CityMaps:
    """Decimated maps of the city for the figures: parameter name -> float32 ``(h, w)``
    (``PARAMETER_NODATA`` where not mapped), each pixel ``cell_size_m`` wide; ``change``: the
    change of the change map's parameter, NaN where not compared (None without an earlier map)."""

    cell_size_m: float
    aggregated: dict[str, np.ndarray] = field(default_factory=dict)
    lookup: dict[str, np.ndarray] = field(default_factory=dict)
    change: np.ndarray | None = None


@dataclass
class MapAnalysis:
    """What the page and the tables are made from: the map, the earlier one, every area."""

    config: AnalyseConfig
    map: Path
    previous: Path | None
    areas: list[AreaAnalysis]


class AnalysisReport(BaseModel):
    """What a run wrote: the page, the areas (folder names), the earlier map compared with, and
    every file, under ``out``."""

    out: Path
    page: Path
    areas: list[str]
    previous: Path | None
    files: list[str]


def area_names(map_dir: Path) -> dict[str, str]:
    """Area folder -> display name, from the map's ``config.json`` (``City`` for the city; a
    folder the record does not name keeps its folder name)."""
    names = {CITY: "City"}
    try:
        record = json.loads((map_dir / "config.json").read_text(encoding="utf-8"))
        names.update(record.get("districts") or {})
    except (OSError, ValueError, AttributeError):
        pass
    return names


def analyse(config: AnalyseConfig) -> AnalysisReport:
    """Write the analysis of ``config.map`` (see the module docstring), holding the output
    folder's lock (the map's, when the output is inside it).

    Raises:
        FileNotFoundError / ValueError: one line naming the bad input (a folder that is not a
            map, or not a complete one; an area without its summary; a raster that is not what
            a map writes).
    """
    from sunet.analysis import figures
    from sunet.analysis.html import render_page

    map_dir = Path(config.map).resolve()
    areas = map_areas(map_dir)
    previous = _previous(config)
    if previous is not None:
        map_areas(previous)  # the same checks, naming the earlier map
    out = Path(config.out).resolve() if config.out is not None else map_dir / ANALYSIS_DIR
    resolved = config.model_copy(update={"map": map_dir, "previous": previous, "out": out})
    names = area_names(map_dir)
    with hold(map_dir if out.is_relative_to(map_dir) else out):
        out.mkdir(parents=True, exist_ok=True)
        _forget_previous_run(out)
        remove_leftovers(out)
        analyses: list[AreaAnalysis] = []
        city_maps: CityMaps | None = None
        for area in areas:
            before = previous / area.name if previous is not None else None
            analysis, maps = analyse_area(
                area, names.get(area.name, area.name), before, resolved, area.name == CITY
            )
            analyses.append(analysis)
            city_maps = maps or city_maps
        result = MapAnalysis(resolved, map_dir, previous, analyses)
        files = write_tables(out, result)
        assert city_maps is not None  # map_areas() always yields the city
        pictures = figures.write_figures(out, result, city_maps)
        files += pictures.files()
        write_text_atomic(out / ANALYSIS_PAGE, render_page(result, pictures))
        files.append(ANALYSIS_PAGE)
        report = AnalysisReport(
            out=out,
            page=out / ANALYSIS_PAGE,
            areas=[a.folder for a in analyses],
            previous=previous,
            files=files,
        )
        record = {"config": json.loads(resolved.model_dump_json()), **_summary(report)}
        write_text_atomic(out / ANALYSIS_RECORD, json.dumps(record, indent=1) + "\n")
    return report


def _previous(config: AnalyseConfig) -> Path | None:
    if config.previous is not None:
        return Path(config.previous).resolve()
    version = previous_version(config.map)
    return version.path.resolve() if version is not None else None


def _forget_previous_run(out: Path) -> None:
    """Remove what an earlier analysis wrote here (its record lists it), record first, so that a
    rerun never leaves a figure of an area that no longer exists, nor looks complete part-way."""
    record = out / ANALYSIS_RECORD
    try:
        files = json.loads(record.read_text(encoding="utf-8")).get("files") or []
    except (OSError, ValueError, AttributeError):
        files = []
    record.unlink(missing_ok=True)
    for name in files:
        if isinstance(name, str) and "/" not in name and not name.startswith("."):
            (out / name).unlink(missing_ok=True)


def _summary(report: AnalysisReport) -> dict[str, object]:
    data = json.loads(report.model_dump_json())
    data.pop("out")
    data["page"] = ANALYSIS_PAGE
    return data


# -- one area ---------------------------------------------------------------------------------


def analyse_area(
    area: Path,
    name: str,
    previous: Path | None,
    config: AnalyseConfig,
    with_maps: bool = False,
) -> tuple[AreaAnalysis, CityMaps | None]:
    """Summarise one map area folder in one pass over blocks of cell rows.

    Args:
        area: the area folder (``lcz_abundance.tif``, ``lcz_dominant.tif``, ``summary.csv``).
        name: its display name.
        previous: the same area's folder in an earlier map (None, or a folder without
            ``lcz_abundance.tif``: no change is computed).
        with_maps: also return decimated maps for the figures (the city's).

    Raises:
        FileNotFoundError / ValueError: one line naming the file that is missing or not what a
            map writes.
    """
    rows = read_summary(area)
    if rows is None:
        raise FileNotFoundError(f"{area}: no {SUMMARY} (an incomplete map area)")
    if len(rows) != NUM_CLASSES:
        raise ValueError(f"{area / SUMMARY}: {len(rows)} classes, expected {NUM_CLASSES}")
    composition = Composition(
        dominant_m2=np.array([r.dominant_area_m2 for r in rows]),
        abundance_m2=np.array([r.abundance_area_m2 for r in rows]),
    )
    mixing = Mixing(config.mixed_entropy, config.weak_dominance)
    aggregated, lookup = parameter_distributions(), parameter_distributions()
    with ExitStack() as stack:
        abundance = stack.enter_context(rasterio.open(area / ABUNDANCE))
        if abundance.count != NUM_CLASSES:
            raise ValueError(
                f"{area / ABUNDANCE}: {abundance.count} band(s), expected the {NUM_CLASSES} LCZ "
                "abundances"
            )
        dominant = stack.enter_context(rasterio.open(area / DOMINANT))
        current, source = _parameter_reader(area, abundance, dominant, stack)
        earlier = None
        change = None
        if previous is not None and (previous / ABUNDANCE).is_file():
            earlier = _earlier_reader(previous, abundance, stack)
            change = ParameterChange(config.building_change)
        cell = abs(abundance.transform.a * abundance.transform.e)
        thumbs = _Thumbnails(abundance.height, abundance.width) if with_maps else None
        maps = (
            CityMaps(cell_size_m=abs(abundance.transform.a) * thumbs.step)
            if thumbs is not None
            else None
        )
        pieces: dict[str, list[np.ndarray]] = {}
        for window in _row_windows(abundance):
            block = abundance.read(window=window)
            mixing.add(block)
            values, looked_up = current(window, block)
            add_parameters(aggregated, values)
            add_parameters(lookup, looked_up)
            delta = change.add(earlier(window), values) if change and earlier else None
            if thumbs is not None:
                _collect(pieces, thumbs, window, values, looked_up, delta, config)
    if maps is not None:
        _assemble(maps, pieces, config)
    analysis = AreaAnalysis(
        folder=area.name,
        name=name,
        cell_area_m2=cell,
        composition=composition,
        mixing=mixing,
        aggregated=aggregated,
        lookup=lookup,
        parameters_from=source,
        change=change,
    )
    return analysis, maps


Reader = Callable[[Window, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _parameter_reader(
    area: Path, abundance: DatasetReader, dominant: DatasetReader, stack: ExitStack
) -> tuple[Reader, str]:
    """How to get a block's parameters (aggregated, lookup): read from the area's parameter
    rasters when they are this grid's and this parameter table's, else computed."""
    paths = [area / RASTERS[0], area / RASTERS[1]]
    if all(p.is_file() for p in paths):
        rasters = [stack.enter_context(rasterio.open(p)) for p in paths]
        if all(_same_grid(r, abundance) and _holds_parameters(r) for r in rasters):
            return (
                lambda w, _: (rasters[0].read(window=w), rasters[1].read(window=w)),
                f"{RASTERS[0]}, {RASTERS[1]}",
            )
    return (
        lambda w, block: (from_abundances(block), from_classes(dominant.read(1, window=w))),
        COMPUTED,
    )


def _earlier_reader(
    previous: Path, like: DatasetReader, stack: ExitStack
) -> Callable[[Window], np.ndarray]:
    """The earlier map's aggregated parameters of a block of ``like``'s grid: its parameter
    raster when it holds this table's parameters, else computed from its abundances."""
    raster = previous / RASTERS[0]
    if raster.is_file():
        src = stack.enter_context(rasterio.open(raster))
        if _holds_parameters(src):
            vrt = _on_grid(src, like, stack)
            return lambda w: vrt.read(window=w)
    src = stack.enter_context(rasterio.open(previous / ABUNDANCE))
    if src.count != NUM_CLASSES:
        raise ValueError(f"{previous / ABUNDANCE}: {src.count} band(s), expected {NUM_CLASSES}")
    vrt = _on_grid(src, like, stack)
    return lambda w: from_abundances(vrt.read(window=w))


def _on_grid(src: DatasetReader, like: DatasetReader, stack: ExitStack) -> DatasetReader:
    """``src`` as it lies on ``like``'s grid (itself, when the grids are one)."""
    if _same_grid(src, like):
        return src
    return stack.enter_context(
        WarpedVRT(
            src,
            crs=like.crs,
            transform=like.transform,
            width=like.width,
            height=like.height,
            resampling=Resampling.nearest,
            nodata=src.nodata,
        )
    )


def _same_grid(a: DatasetReader, b: DatasetReader) -> bool:
    return bool(a.crs == b.crs and a.transform == b.transform and a.shape == b.shape)


def _holds_parameters(src: DatasetReader) -> bool:
    names = list(INDEX)
    return src.count == len(names) and src.tags().get("PARAMETERS", "").split(",") == names


def _row_windows(src: DatasetReader) -> Iterator[Window]:
    for r0 in range(0, src.height, _BLOCK_ROWS):
        yield Window(0, r0, src.width, min(_BLOCK_ROWS, src.height - r0))


@dataclass(frozen=True)
class _Thumbnails:
    """Every ``step``-th row and column of a ``height`` x ``width`` grid (nearest decimation)."""

    height: int
    width: int

    @property
    def step(self) -> int:
        return max(1, math.ceil(max(self.height, self.width) / _FIGURE_SIDE))

    def take(self, window: Window, block: np.ndarray) -> np.ndarray:
        """The kept rows and columns of ``block`` (``(..., rows, width)`` read at ``window``)."""
        first = (-int(window.row_off)) % self.step
        return block[..., first :: self.step, :: self.step]


def _collect(
    pieces: dict[str, list[np.ndarray]],
    thumbs: _Thumbnails,
    window: Window,
    values: np.ndarray,
    looked_up: np.ndarray,
    delta: np.ndarray | None,
    config: AnalyseConfig,
) -> None:
    for name in config.parameter_maps:
        i = INDEX[name]
        pieces.setdefault(f"aggregated:{name}", []).append(thumbs.take(window, values[i]))
        pieces.setdefault(f"lookup:{name}", []).append(thumbs.take(window, looked_up[i]))
    if delta is not None:
        i = INDEX[config.change_map]
        pieces.setdefault("change", []).append(thumbs.take(window, delta[i]))


def _assemble(maps: CityMaps, pieces: dict[str, list[np.ndarray]], config: AnalyseConfig) -> None:
    for name in config.parameter_maps:
        maps.aggregated[name] = np.concatenate(pieces[f"aggregated:{name}"], axis=0)
        maps.lookup[name] = np.concatenate(pieces[f"lookup:{name}"], axis=0)
    if "change" in pieces:
        maps.change = np.concatenate(pieces["change"], axis=0)
