"""The urban canopy parameter rasters of a map: for the city and every district, four COGs.

``write_parameters(ParametersConfig(map=...))`` reads each area folder of a ``lcz-map map``
output (``city/`` and one per district) and writes, into that folder or ``out/<area>/``:

* ``lcz_parameters.tif``: the parameters aggregated from each cell's abundances by their rules
  (:mod:`sunet.analysis.parameters`), on the map's cell grid;
* ``lcz_parameters_lookup.tif``: the class values of each cell's dominant class (what class-lookup
  tools such as LCZ4r and WUDAPT-to-WRF give), same grid, to compare with;
* ``lcz_parameters_100m.tif`` and ``lcz_parameters_lookup_100m.tif``: the same on the grid of
  ``lcz_wudapt_100m.tif`` (EPSG:4326), from the area-weighted mean abundances that the WUDAPT
  raster's classes are the argmax of, and from those classes;
* ``lcz_parameters_<name>.qml``: one QGIS style per parameter (a band), for any of the four
  rasters; each raster also gets its same-named style, which QGIS loads on opening (band 1).

One float32 band per parameter in :data:`~sunet.analysis.parameters.PARAMETERS` order, nodata
-1 where the map has none; band descriptions name the parameter and its unit, band tags hold
``NAME``, ``UNIT``, ``AGGREGATION`` and ``SOURCE``. ``lcz_parameters.json`` (the resolved config,
the parameter table with every class value, the areas) is written last, at the output's root.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import rasterio
from pydantic import BaseModel
from pyproj import CRS
from rasterio.windows import Window

from sunet.analysis.config import PARAMETERS_RECORD, ParametersConfig
from sunet.analysis.parameters import (
    PARAMETER_NODATA,
    PARAMETERS,
    class_values,
    from_abundances,
    from_classes,
)
from sunet.atomic import atomic_path, remove_leftovers, write_text_atomic
from sunet.geo.crs import from_rasterio
from sunet.lcz import CLASSES, NUM_CLASSES
from sunet.locks import hold
from sunet.mapping import styles
from sunet.mapping.districts import CITY
from sunet.mapping.products import ABUNDANCE, DOMINANT, WUDAPT
from sunet.mapping.rasters import StreamingRaster, gdal_env, write_cog
from sunet.mapping.wudapt import average_abundances

__all__ = [
    "ParametersConfig",
    "ParametersReport",
    "RASTERS",
    "map_areas",
    "style_files",
    "write_area_parameters",
    "write_parameters",
]

RASTERS = (
    "lcz_parameters.tif",
    "lcz_parameters_lookup.tif",
    "lcz_parameters_100m.tif",
    "lcz_parameters_lookup_100m.tif",
)
_SOURCE = (
    "Stewart & Oke (2012) Tables 3-4, mid-range class values and aggregation rules of "
    "sunet.analysis.parameters"
)
_LOOKUP_RULE = "the class value of the cell's dominant LCZ (no aggregation)"
# Cell rows per block (bounded memory on large cities).
_BLOCK_ROWS = 256


class ParametersReport(BaseModel):
    """What a run wrote: the areas (folder names) and the files of each, under ``out``."""

    out: Path
    areas: list[str]
    files: list[str]


def style_files() -> list[str]:
    """The QGIS styles written beside the rasters of an area: one per parameter, then one per
    raster (its default)."""
    per_parameter = [f"lcz_parameters_{p.name}.qml" for p in PARAMETERS]
    return per_parameter + [r.replace(".tif", ".qml") for r in RASTERS]


def map_areas(map_dir: Path) -> list[Path]:
    """The area folders of a map: ``city`` first, then the districts by folder name.

    Raises:
        FileNotFoundError / ValueError: one line naming the folder: missing, not a map (or an
            area folder of one), a map whose run did not finish, an area without its rasters.
    """
    map_dir = Path(map_dir)
    if not map_dir.exists():
        raise FileNotFoundError(f"{map_dir}: no such map folder")
    if not map_dir.is_dir():
        raise ValueError(f"{map_dir}: not a map folder (a file; give the folder lcz-map map wrote)")
    if not (map_dir / CITY / ABUNDANCE).is_file():
        hint = (
            "; it is one area of a map: give the folder above it"
            if (map_dir / ABUNDANCE).is_file()
            else ""
        )
        raise ValueError(f"{map_dir}: not a lcz-map map folder (no {CITY}/{ABUNDANCE}){hint}")
    if not (map_dir / "config.json").is_file():
        raise ValueError(f"{map_dir}: an unfinished map (no config.json: was its run stopped?)")
    areas = sorted(
        (p for p in map_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: (p.name != CITY, p.name),
    )
    areas = [p for p in areas if (p / ABUNDANCE).is_file()]
    for area in areas:
        for name in (DOMINANT, WUDAPT):
            if not (area / name).is_file():
                raise FileNotFoundError(f"{area}: no {name} (an incomplete map area)")
    return areas


def write_parameters(config: ParametersConfig) -> ParametersReport:
    """Write the parameter rasters and styles of every area of ``config.map`` (see the module
    docstring), holding the output folder's lock (the map's, when writing into it).

    Raises:
        FileNotFoundError / ValueError: one line naming the bad input (:func:`map_areas`, or a
            raster that is not what a map writes).
    """
    areas = map_areas(config.map)
    out = Path(config.out if config.out is not None else config.map).resolve()
    resolved = config.model_copy(update={"map": Path(config.map).resolve(), "out": out})
    with hold(out):
        out.mkdir(parents=True, exist_ok=True)
        # A rerun is complete again only when its own record is written.
        (out / PARAMETERS_RECORD).unlink(missing_ok=True)
        remove_leftovers(out)
        work = Path(tempfile.mkdtemp(prefix=".work-", dir=out))
        try:
            with gdal_env():
                for area in areas:
                    write_area_parameters(area, out / area.name, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        report = ParametersReport(
            out=out, areas=[a.name for a in areas], files=[*RASTERS, *style_files()]
        )
        write_text_atomic(
            out / PARAMETERS_RECORD, json.dumps(_record(resolved, report), indent=1) + "\n"
        )
    return report


def write_area_parameters(area: Path, dst: Path, work: Path) -> None:
    """Write the four parameter rasters and the styles of one map area folder into ``dst``
    (``work``: a scratch folder on the same file system). Call inside :func:`gdal_env`."""
    dst.mkdir(parents=True, exist_ok=True)
    with (
        rasterio.open(area / ABUNDANCE) as abundance,
        rasterio.open(area / DOMINANT) as dominant,
        rasterio.open(area / WUDAPT) as wudapt,
    ):
        if abundance.count != NUM_CLASSES:
            raise ValueError(
                f"{area / ABUNDANCE}: {abundance.count} band(s), expected the {NUM_CLASSES} LCZ "
                "abundances"
            )
        cell = {"CELL_SIZE_M": f"{abs(abundance.transform.a):g}"}
        degrees = {"RESOLUTION_DEG": f"{abs(wudapt.transform.a):g}"}
        aggregated = _blocks(abundance, lambda w: from_abundances(abundance.read(window=w)))
        looked_up = _blocks(dominant, lambda w: from_classes(dominant.read(1, window=w)))
        warped = average_abundances(abundance, wudapt.transform, wudapt.width, wudapt.height)
        coarse = ((r0, from_abundances(data)) for r0, data in warped)
        coarse_lookup = _blocks(wudapt, lambda w: from_classes(wudapt.read(1, window=w)))
        for name, grid, blocks, lookup, where in (
            (RASTERS[0], abundance, aggregated, False, cell),
            (RASTERS[1], dominant, looked_up, True, cell),
            (RASTERS[2], wudapt, coarse, False, degrees),
            (RASTERS[3], wudapt, coarse_lookup, True, degrees),
        ):
            _write_raster(dst / name, work / f"{area.name}-{name}", grid, blocks, lookup, where)
    for band, p in enumerate(PARAMETERS, start=1):
        qml = styles.pseudocolor_raster_qml(band, values=p.legend, unit=p.unit)
        write_text_atomic(dst / f"lcz_parameters_{p.name}.qml", qml)
        if band == 1:
            for raster in RASTERS:
                write_text_atomic(dst / raster.replace(".tif", ".qml"), qml)


def _blocks(
    src: rasterio.DatasetReader, compute: Callable[[Window], np.ndarray]
) -> Iterator[tuple[int, np.ndarray]]:
    for r0 in range(0, src.height, _BLOCK_ROWS):
        yield r0, compute(Window(0, r0, src.width, min(_BLOCK_ROWS, src.height - r0)))


def _write_raster(
    dst: Path,
    work: Path,
    grid: rasterio.DatasetReader,
    blocks: Iterable[tuple[int, np.ndarray]],
    lookup: bool,
    resolution: dict[str, str],
) -> None:
    """Stream ``blocks`` (``(row0, float32 (P, rows, width))``) into a COG at ``dst`` on the grid
    of ``grid``, with the band descriptions, units and tags of the parameters."""
    with StreamingRaster(
        work,
        crs=_crs(grid),
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        count=len(PARAMETERS),
        dtype="float32",
        nodata=PARAMETER_NODATA,
        descriptions=[p.description for p in PARAMETERS],
        tags={
            "LCZ_PRODUCT": "parameters_lookup" if lookup else "parameters",
            "METHOD": "class values of the dominant LCZ of each cell"
            if lookup
            else "class values aggregated over the LCZ abundances of each cell",
            "PARAMETERS": ",".join(p.name for p in PARAMETERS),
            "SOURCE": _SOURCE,
            **resolution,
        },
        band_tags=[
            {
                "NAME": p.name,
                "UNIT": p.unit,
                "AGGREGATION": _LOOKUP_RULE if lookup else p.aggregation,
                "SOURCE": p.source,
            }
            for p in PARAMETERS
        ],
        units=[p.unit for p in PARAMETERS],
    ) as out:
        for r0, data in blocks:
            out.write_rows(r0, data)
    with atomic_path(dst) as tmp:
        write_cog(work, tmp, resampling="average")
    work.unlink()


def _crs(ds: rasterio.DatasetReader) -> CRS:
    if ds.crs is None:
        raise ValueError(f"{ds.name}: the raster has no CRS")
    return from_rasterio(ds.crs)


def _record(config: ParametersConfig, report: ParametersReport) -> dict[str, object]:
    values = class_values()
    return {
        "config": json.loads(config.model_dump_json()),
        "areas": report.areas,
        "files": report.files,
        "parameters": [
            {
                "band": band,
                "name": p.name,
                "title": p.title,
                "unit": p.unit,
                "aggregation": p.aggregation,
                "source": p.source,
                "class_values": {
                    c.letter: float(v) for c, v in zip(CLASSES, values[band - 1], strict=True)
                },
            }
            for band, p in enumerate(PARAMETERS, start=1)
        ],
    }
