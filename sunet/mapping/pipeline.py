"""``map_districts``: scenes + districts + model -> LCZ maps, one folder per district and the city.

The run maps the **city** once (the union of all districts) on one aligned grid of cells, streaming
finished cell rows into a work raster; each district's products are then cut from it, so cells
shared by two districts' bounding boxes are inferred once and agree everywhere. Every output
folder is written whole under a temporary name and renamed into place (:func:`atomic_dir`); the
map is then indexed for other tools (:func:`write_catalogs`: a STAC catalog and a QGIS project).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import rasterio
import shapely
from rasterio.windows import Window

from sunet.atomic import atomic_dir, remove_leftovers, write_text_atomic
from sunet.geo.crs import crs_name, resolve_crs
from sunet.geo.raster import SCENE_FILES, SceneInfo, check_bands, inspect_scenes, scene_files_in
from sunet.hashing import record_hash
from sunet.lcz import NUM_CLASSES, by_code
from sunet.locks import hold
from sunet.mapping.accumulate import ABUNDANCE_NODATA, CellRow
from sunet.mapping.config import MapConfig
from sunet.mapping.districts import CITY, District, districts_in, read_districts
from sunet.mapping.incremental import cells_to_recompute, check_base
from sunet.mapping.inference import map_cells
from sunet.mapping.mosaic import SceneMosaic
from sunet.mapping.novelty import NoveltyModel, SceneNovelty, scene_novelty
from sunet.mapping.predictor import AbundancePredictor, load_predictor
from sunet.mapping.products import write_area_products
from sunet.mapping.qgis_project import write_qgis_project
from sunet.mapping.rasters import StreamingRaster, gdal_env
from sunet.mapping.report import AreaReport, MapReport, map_report
from sunet.mapping.resume import BatchCache
from sunet.mapping.stac import write_map_catalog
from sunet.mapping.windows import (
    MapGrid,
    cell_mask,
    runnable_windows,
    window_weights,
)
from sunet.threads import cpu_threads, each

__all__ = [
    "AreaReport",
    "MapPlan",
    "MapReport",
    "infer_cells",
    "map_districts",
    "map_report",
    "plan_map",
    "scene_paths",
    "score_scenes",
    "start_output",
    "work_dir",
    "write_area",
    "write_areas",
    "write_catalogs",
    "write_record",
]

_CITY_ABUNDANCE = "city_abundance.tif"


def scene_paths(paths: list[Path]) -> list[Path]:
    """Expand folders (their raster files, sorted by name); files are kept in the given order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = scene_files_in(p)
            if not found:
                raise FileNotFoundError(f"{p}: folder holds no scene ({SCENE_FILES})")
            out.extend(found)
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such scene file or folder")
    return list(dict.fromkeys(q.resolve() for q in out))


def _check_scenes(
    mosaic: SceneMosaic, bands: list[int], predictor: AbundancePredictor, config: MapConfig
) -> None:
    model = config.model or "the predictor"
    for i, info in enumerate(mosaic.scenes):
        try:
            check_bands(info, bands)  # here, not mid-run in a batch of windows
        except ValueError as e:
            raise ValueError(f"{e}; {model} needs {', '.join(predictor.bands)}") from None
        pixel = mosaic.ground_pixel(i)
        if pixel > predictor.gsd * config.max_gsd_ratio:
            raise ValueError(
                f"{info.path}: ground pixel {pixel:.2f} m is coarser than {model}'s GSD "
                f"{predictor.gsd:g} m (at most x{config.max_gsd_ratio:g} allowed)"
            )


def _check_coverage(districts: list[District], mosaic: SceneMosaic, source: Path) -> None:
    coverage = mosaic.coverage
    for d in districts:
        if shapely.intersection(d.geometry, coverage).area <= 0:
            raise ValueError(f"{source}: district {d.name!r} is not covered by any scene")


def _client(config: MapConfig, stack: ExitStack) -> Any:
    if config.scheduler is None and config.workers == 0:
        return None
    from distributed import Client, LocalCluster

    if config.scheduler is not None:
        return stack.enter_context(Client(config.scheduler))
    cluster = stack.enter_context(
        LocalCluster(
            n_workers=config.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
    )
    return stack.enter_context(Client(cluster))


@dataclass
class MapPlan:
    """A validated run, ready to infer: the resolved config, the model, the grid and the inputs.

    Attributes:
        config: resolved (absolute paths, stride, bands and CRS filled in).
        predictor: the model used in this process; remote: what Dask workers get (the bundle
            path, loaded once per worker, or the predictor object itself).
        city: the cell grid covering all districts; mask: bool ``(H, W)`` cells inside any.
        mosaic: the scenes; districts: in the map CRS, sorted by slug.
        base_abundance: with ``config.base``, the base map's city abundance raster (same grid);
            recompute: bool ``(H, W)``, the cells to infer (the others are copied from it).
    """

    config: MapConfig
    predictor: AbundancePredictor
    remote: AbundancePredictor | str
    city: MapGrid
    mask: np.ndarray
    mosaic: SceneMosaic
    districts: list[District]
    base_abundance: Path | None = None
    recompute: np.ndarray | None = None

    @property
    def out(self) -> Path:
        return self.config.out

    @property
    def slugs(self) -> list[str]:
        """Output folders in writing order: the city, then each district."""
        return [CITY] + [d.slug for d in self.districts]

    def areas(self) -> list[District]:
        """The areas in :attr:`slugs` order: the city (named 'City', the union of all districts),
        then each district."""
        union = shapely.union_all([d.geometry for d in self.districts])
        return [District("City", CITY, union), *self.districts]

    def record(self) -> dict[str, Any]:
        """The resolved configuration and grid, as saved in ``config.json``."""
        return {
            "config": json.loads(self.config.model_dump_json()),
            "grid": {
                "crs": self.config.crs,
                "gsd_m": self.city.cells.gsd,
                "patch_px": self.city.patch,
                "stride_px": self.city.stride,
                "cell_size_m": self.city.cell_size,
                "rows": [self.city.rows.start, self.city.rows.stop],
                "cols": [self.city.cols.start, self.city.cols.stop],
            },
            "districts": {d.slug: d.name for d in self.districts},
        }


def plan_map(config: MapConfig, predictor: AbundancePredictor | None = None) -> MapPlan:
    """Validate the inputs against each other and fix the grid; reads no pixels.

    Raises:
        FileNotFoundError / ValueError: one line naming the bad input (missing files, districts
            without CRS or field, a district no scene covers, scenes that lack the model's bands
            or are coarser than its GSD, a stride that does not divide the patch, a base map
            made otherwise than this run: see :mod:`~sunet.mapping.incremental`).
    """
    remote: AbundancePredictor | str
    if predictor is not None:
        remote = predictor  # sent to Dask workers as it is
    elif config.model is not None:
        predictor = load_predictor(config.model)
        remote = str(Path(config.model).resolve())  # each worker loads it once
    else:
        raise ValueError("map: give a model bundle (--model) or a predictor")
    patch, gsd = int(predictor.patch_size), float(predictor.gsd)
    names = list(predictor.bands)
    # The scene bands the model was trained on, unless told otherwise.
    trained_on = getattr(predictor, "source_bands", None)
    bands = list(config.bands or trained_on or range(1, len(names) + 1))
    if len(bands) != len(names):
        raise ValueError(
            f"--bands {bands}: the model takes {len(names)} bands ({', '.join(names)})"
        )
    stride = config.stride or patch // 2
    if patch % stride:
        raise ValueError(f"--stride {stride}: must divide the model's patch size {patch} px")

    scenes: list[SceneInfo] = inspect_scenes(
        scene_paths(config.scenes), threads=cpu_threads(), scene_crs=config.scene_crs
    )
    table = read_districts(config.districts, config.district_field, config.district_layer)
    lonlat = table.to_crs(4326).total_bounds
    crs = resolve_crs(config.crs, tuple(float(v) for v in lonlat))  # type: ignore[arg-type]
    districts = districts_in(table, crs)
    mosaic = SceneMosaic(scenes, crs, bands, getattr(predictor, "radiometry", None))
    _check_scenes(mosaic, bands, predictor, config)
    _check_coverage(districts, mosaic, config.districts)

    union = shapely.union_all([d.geometry for d in districts])
    city = MapGrid.covering(crs, gsd, stride, patch, union.bounds)
    resolved = config.model_copy(
        update={
            "scenes": [s.path for s in scenes],
            "districts": Path(config.districts).resolve(),
            "out": Path(config.out).resolve(),
            "model": Path(config.model).resolve() if config.model else None,
            "stride": stride,
            "bands": bands,
            "crs": crs_name(crs),
        }
    )
    plan = MapPlan(resolved, predictor, remote, city, cell_mask(city, union), mosaic, districts)
    if resolved.base is not None:
        assert resolved.update_area is not None  # MapConfig gives them together
        plan.base_abundance = check_base(Path(resolved.base), plan.record())
        plan.recompute = cells_to_recompute(
            Path(resolved.update_area), city, resolved.max_gsd_ratio
        )
    return plan


@contextmanager
def work_dir(plan: MapPlan) -> Iterator[Path]:
    """A scratch folder inside the output folder (same file system), removed afterwards."""
    plan.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=plan.out))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def infer_cells(plan: MapPlan, work: Path, client: Any = None) -> dict[str, float]:
    """Run the model over the city and stream the cell abundances to ``work/city_abundance.tif``.

    With ``client`` (or ``config.workers`` / ``config.scheduler``) the batches run on Dask.

    Returns:
        counts: ``windows``, ``windows_run``, ``batches``, and ``seconds`` of wall time.
    """
    config, city = plan.config, plan.city
    with gdal_env(), ExitStack() as stack:
        stack.callback(plan.mosaic.close)
        client = client if client is not None else _client(config, stack)
        t0 = time.perf_counter()
        with StreamingRaster(
            work / _CITY_ABUNDANCE, crs=city.crs, transform=city.transform, width=city.width,
            height=city.height, count=NUM_CLASSES, dtype="float32", nodata=ABUNDANCE_NODATA,
        ) as raster:  # fmt: skip
            only, keep, base = None, None, None
            if plan.recompute is not None and plan.base_abundance is not None:
                only = runnable_windows(plan.recompute & plan.mask, city.k)
                keep = ~plan.recompute  # cells copied from the base
                base = stack.enter_context(rasterio.open(plan.base_abundance))

            def sink(row: CellRow) -> None:
                values = row.abundances
                if base is not None and keep is not None and keep[row.row].any():
                    old = base.read(window=Window(0, row.row, city.width, 1))[:, 0, :]
                    values[:, keep[row.row]] = old[:, keep[row.row]]
                raster.write_rows(row.row, values[:, None, :])

            counts = map_cells(
                plan.mosaic,
                city,
                plan.mask,
                plan.remote if client is not None else plan.predictor,
                weights=window_weights(city.k, config.weighting),
                batch_size=config.batch_size,
                min_window_valid=config.min_window_valid,
                min_cell_valid=config.min_cell_valid,
                sink=sink,
                client=client,
                progress=config.progress,
                threads=config.torch_threads,
                read_ahead=config.read_ahead,
                only=only,
                cache=BatchCache(config.resume_dir, _inputs_fingerprint(plan))
                if config.resume_dir is not None
                else None,
            )
    return {**counts, "seconds": time.perf_counter() - t0}


# Fields that change where or how visibly a map is made, not a batch's numbers.
_NOT_INPUTS = ("out", "progress", "workers", "scheduler", "read_ahead", "resume_dir", "base",
               "update_area", "novelty_windows", "cells_layer", "wudapt_resolution_deg")  # fmt: skip


def _inputs_fingerprint(plan: MapPlan) -> str:
    """What a batch's window results depend on: the model and scene files with the files they are
    read from (world files, .prj, a VRT's tiles; path, size, time),
    the grid and the options that shape inference."""
    config = plan.config
    record = plan.record()
    record["config"] = {k: v for k, v in record["config"].items() if k not in _NOT_INPUTS}
    record.pop("districts", None)
    scenes = [p for info in plan.mosaic.scenes for p in (info.path, *info.companions)]
    files = scenes + ([config.model] if config.model is not None else [])
    record["files"] = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    record["predictor"] = type(plan.predictor).__name__
    return record_hash(record)


def write_area(plan: MapPlan, work: Path, slug: str) -> AreaReport:
    """Write the folder ``out/<slug>`` (a district, or ``city``) atomically from the inferred
    cells in ``work``."""
    by_slug = {d.slug: d for d in plan.districts}
    if slug == CITY:
        name, grid, geometry = CITY, plan.city, None
    else:
        d = by_slug[slug]
        name, grid, geometry = d.name, plan.city.sub(d.geometry.bounds), d.geometry
    with gdal_env(), atomic_dir(plan.out / slug) as tmp:
        summary = write_area_products(
            work / _CITY_ABUNDANCE, plan.city, grid, geometry, tmp, name,
            wudapt_resolution=plan.config.wudapt_resolution_deg,
            cells_layer=plan.config.cells_layer,
        )  # fmt: skip
    shares = {by_code(code).letter: s for code, s in summary.shares.items() if s > 0}
    return AreaReport(
        name=name,
        folder=plan.out / slug,
        cells=summary.cells,
        area_km2=summary.area_m2 / 1e6,
        shares=shares,
    )


def write_areas(plan: MapPlan, work: Path) -> list[AreaReport]:
    """:func:`write_area` for every area (in :attr:`MapPlan.slugs` order), several at once in
    threads (one per CPU core): GDAL, zlib and the vector writer release the GIL. Each folder is
    written atomically; the first area (in order) that fails raises once all have returned."""
    return each(lambda slug: write_area(plan, work, slug), plan.slugs, cpu_threads())


def score_scenes(plan: MapPlan) -> list[SceneNovelty]:
    """How unlike the model's training data each scene looks (:mod:`.novelty`); empty when the
    model carries no feature profile or ``config.novelty_windows`` is 0."""
    profile = getattr(plan.predictor, "profile", None)
    if profile is None or not plan.config.novelty_windows:
        return []
    model = cast(NoveltyModel, plan.predictor)  # it has a profile, hence novelty()
    with gdal_env():
        return scene_novelty(plan.mosaic, model, profile.reference, plan.config.novelty_windows)


def write_catalogs(plan: MapPlan, created: datetime | None = None) -> None:
    """Index the written areas for other tools: ``out/catalog.json`` (STAC, one item per area,
    every product an asset: :mod:`.stac`) and ``out/lcz_map.qgz`` (a QGIS project, a styled
    layer group per area: :mod:`.qgis_project`), both with relative paths.

    Args:
        created: when the map was made (the items' datetime); None = now.
    """
    areas = plan.areas()
    created = created or datetime.now(UTC).replace(microsecond=0)
    write_map_catalog(plan.out, areas, plan.city.crs, created=created, model=plan.config.model)
    write_qgis_project(plan.out, areas, plan.city.crs)


NOVELTY_CSV = "scene_novelty.csv"


def write_record(plan: MapPlan, scenes: list[SceneNovelty] | None = None) -> Path:
    """Save the scene scores as ``out/scene_novelty.csv`` and the resolved configuration as
    ``out/config.json`` (written last: a run is complete when it is there)."""
    if scenes:
        columns = list(SceneNovelty.model_fields)
        lines = [",".join(columns)] + [
            ",".join("" if v is None else str(v) for v in s.model_dump().values()) for s in scenes
        ]
        write_text_atomic(plan.out / NOVELTY_CSV, "\n".join(lines) + "\n")
    return write_text_atomic(plan.out / "config.json", json.dumps(plan.record(), indent=2) + "\n")


def start_output(plan: MapPlan) -> None:
    """Before writing into ``plan.out`` (under its lock, once the inputs are checked): a rerun
    over an earlier map is complete again only when its own record is written, so until then the
    folder must not look complete (some areas old, some new); and what killed runs left goes."""
    (plan.out / "config.json").unlink(missing_ok=True)
    remove_leftovers(plan.out)


def map_districts(
    config: MapConfig, predictor: AbundancePredictor | None = None, client: Any = None
) -> MapReport:
    """Map every district of ``config.districts`` and the city they form.

    Args:
        config: the run (see :class:`MapConfig`).
        predictor: a model implementing :class:`AbundancePredictor`; None loads ``config.model``
            (on Dask, each worker loads the bundle once itself).
        client: an existing ``distributed.Client`` (else one is made from ``config.workers`` /
            ``config.scheduler``, or none).

    Returns:
        The run's :class:`MapReport`; outputs are under ``config.out``.

    Raises:
        FileNotFoundError / ValueError: one line naming the bad input.
    """
    with hold(config.out):
        plan = plan_map(config, predictor)
        start_output(plan)
        scenes = score_scenes(plan)
        with work_dir(plan) as work:
            counts = infer_cells(plan, work, client)
            areas = write_areas(plan, work)
        write_catalogs(plan)
        write_record(plan, scenes)
        return map_report(plan, counts, areas, scenes)
