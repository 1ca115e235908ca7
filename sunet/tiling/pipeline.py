"""Scenes + labels -> patch store: plan, tile each scene (in parallel), assemble.

The three steps are separate so that the CLI, :func:`tile` and the Prefect flow share them:

1. :func:`plan_tiling` validates every input (one-line errors naming the file), fixes the tiling
   CRS and patch grid, and cuts the work into one picklable :class:`SceneJob` per scene;
2. :func:`tile_scene` (in ``scene.py``) runs per scene, in any process, and caches its result;
3. :func:`assemble` (in ``assembly.py``) picks for each cell the scene that covers it best, drops what must be
   dropped (counting why), splits by spatial blocks, samples, and writes the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import numpy as np
import shapely
from dask.callbacks import Callback
from pyproj import CRS

from sunet.geo.crs import crs_name, resolve_crs
from sunet.geo.grid import PatchGrid
from sunet.geo.raster import SceneInfo, check_bands, inspect_scenes, scene_footprint
from sunet.geo.vector import PolygonLayer, read_labels, repair_polygons
from sunet.locks import hold
from sunet.threads import each, threads_for
from sunet.tiling.assembly import assemble
from sunet.tiling.config import TileConfig, expand_scene_paths
from sunet.tiling.labels import LabelSet
from sunet.tiling.report import TileReport
from sunet.tiling.scene import (
    SceneCache,
    SceneJob,
    job_key,
    scene_digest,
    tile_scene,
)

__all__ = ["TilePlan", "plan_tiling", "run_jobs", "tile"]


@dataclass
class TilePlan:
    """A validated tiling run, ready to execute.

    Attributes:
        config: the run's config, with ``crs`` resolved and ``scenes`` expanded to files.
        grid: the patch grid; scenes: inspected scenes (sorted by path); jobs: one per scene.
        cells_seen: every cell some scene covers; labels: the label layer as read.
        labels_outside: label polygons that touch no scene.
    """

    config: TileConfig
    grid: PatchGrid
    scenes: list[SceneInfo]
    jobs: list[SceneJob]
    cells_seen: set[tuple[int, int]]
    labels: PolygonLayer
    labels_outside: int
    warnings: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


def _cell_boxes(grid: PatchGrid, cells: Sequence[tuple[int, int]]) -> np.ndarray:
    rc = np.asarray(cells, dtype=np.float64).reshape(-1, 2)
    s = grid.cell_size
    return shapely.box(rc[:, 1] * s, -(rc[:, 0] + 1) * s, (rc[:, 1] + 1) * s, -rc[:, 0] * s)


def plan_tiling(config: TileConfig) -> TilePlan:
    """Validate inputs and cut the run into per-scene jobs.

    Raises:
        FileNotFoundError, ValueError: one line naming the file and the problem: a missing,
            unreadable, truncated or CRS-less scene, a scene smaller than one patch, two scenes
            with the same name, bands a scene lacks, an unreadable label file, unknown label
            values, or labels that overlap no scene.
    """
    started = time.perf_counter()
    paths = expand_scene_paths(config.scenes)
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise ValueError(
                f"{p}: same scene name as {stems[p.stem]}; scene file stems must be unique"
            )
        stems[p.stem] = p
    labels = read_labels(config.labels, config.label_field, config.label_layer)
    threads = threads_for(config.workers)
    scenes = inspect_scenes(
        paths, threads=threads, min_extent_m=config.cell_size, scene_crs=config.scene_crs
    )
    for info in scenes:
        check_bands(info, config.bands)  # here, not mid-run in a scene job

    lonlat = shapely.union_all([scene_footprint(s, CRS.from_epsg(4326)) for s in scenes]).bounds
    crs = resolve_crs(config.crs, lonlat)
    grid = PatchGrid(crs, config.gsd, config.patch)
    footprints = [scene_footprint(s, crs) for s in scenes]

    frame = labels.frame.to_crs(crs)
    geoms, keep, repaired, _ = repair_polygons(frame.geometry.to_numpy())
    labels.repaired += repaired  # reprojection can (rarely) make a valid polygon invalid
    label_set = LabelSet(geoms[keep], frame["code"].to_numpy()[keep])
    labels_outside = int(len(label_set) - np.count_nonzero(_touched_by(label_set, footprints)))
    if labels_outside == len(label_set):
        raise ValueError(
            f"{labels.path}: no label polygon overlaps any of the {len(scenes)} scene(s) "
            f"(compared in {crs.name})"
        )

    resolved = config.model_copy(update={"crs": crs_name(crs), "scenes": list(paths)})
    settings: dict[str, object] = {
        "grid": grid.to_json(),
        "bands": list(config.bands),
        "scale_range": config.scale_range,
        "stretch": config.stretch,
        "min_labelled": config.min_labelled,
        "max_nodata": config.max_nodata,
    }
    jobs, seen = [], set()
    made = each(
        lambda scene: _scene_job(config, grid, scene[0], scene[1], label_set, settings),
        list(zip(scenes, footprints, strict=True)),
        threads,
    )
    for job, covered in made:
        jobs.append(job)
        seen.update(covered)
    warnings = []
    if labels_outside:
        warnings.append(f"{labels_outside} label polygon(s) in {labels.path} touch no scene")
    return TilePlan(resolved, grid, scenes, jobs, seen, labels, labels_outside, warnings, started)


def _scene_job(
    config: TileConfig,
    grid: PatchGrid,
    info: SceneInfo,
    footprint: shapely.Geometry,
    label_set: LabelSet,
    settings: dict[str, object],
) -> tuple[SceneJob, list[tuple[int, int]]]:
    """One scene's job (its cells that labels touch) and every cell the scene covers."""
    cells = grid.cells_covering(footprint.bounds)
    coverage = shapely.area(shapely.intersection(_cell_boxes(grid, cells), footprint))
    coverage = coverage / grid.cell_size**2
    cells = [c for c, share in zip(cells, coverage, strict=True) if share > 0]
    coverage = coverage[coverage > 0]
    with_labels = label_set.touched(_cell_boxes(grid, cells)) if cells else np.zeros(0, bool)
    job_cells = tuple(c for c, ok in zip(cells, with_labels, strict=True) if ok)
    # Labels near the job's cells (not its footprint): a cell's labelled share must come out
    # the same from every scene that covers part of it.
    area = (
        shapely.box(*shapely.total_bounds(_cell_boxes(grid, job_cells)))
        if job_cells
        else shapely.Point()  # no label touches this scene's cells: it has nothing to tile
    )
    near = label_set.subset(area)
    job = SceneJob(
        scene=info,
        grid=grid,
        cells=job_cells,
        coverage=tuple(float(v) for v in coverage[with_labels]),
        labels=near,
        bands=tuple(config.bands),
        radiometry=config.radiometry,
        min_labelled=config.min_labelled,
        max_nodata=config.max_nodata,
        cache_root=config.out / ".cache",
        key=job_key(scene_digest(info), settings, near.digest()),
    )
    return job, cells


def _touched_by(label_set: LabelSet, footprints: list[shapely.Geometry]) -> np.ndarray:
    """bool per label polygon: does it intersect some footprint."""
    union = shapely.union_all(footprints)
    return shapely.intersects(label_set.geoms, union)


class _DoneCallback(Callback):
    """Calls ``on_done`` after each scene task finishes under the Dask local schedulers."""

    def __init__(self, on_done: Callable[[SceneCache], None]):
        super().__init__()
        self._on_done = on_done

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if isinstance(result, SceneCache):
            self._on_done(result)


def run_jobs(
    jobs: Sequence[SceneJob], workers: int = 1, on_done: Callable[[SceneCache], None] | None = None
) -> list[SceneCache]:
    """Run :func:`tile_scene` over jobs: serially for one worker, else on Dask's threaded
    scheduler (GDAL and numpy release the GIL, so threads do run in parallel); 0 workers = one
    per CPU core."""
    workers = threads_for(workers)
    if workers <= 1:
        results = []
        for job in jobs:
            results.append(tile_scene(job))
            if on_done:
                on_done(results[-1])
        return results
    tasks = [dask.delayed(tile_scene, pure=False)(job) for job in jobs]
    with _DoneCallback(on_done or (lambda _: None)):
        computed = dask.compute(*tasks, scheduler="threads", num_workers=workers)
    return list(computed)


def tile(config: TileConfig, on_done: Callable[[SceneCache], None] | None = None) -> TileReport:
    """Tile scenes and labels into a patch store (see docs/DESIGN.md "Patch store").

    Rerunnable: per-scene results are cached under ``config.out / ".cache"``; a rerun recomputes
    only scenes whose bytes, labels or settings changed and writes an identical store. One writer
    at a time (:mod:`sunet.locks`).
    """
    with hold(config.out):
        plan = plan_tiling(config)
        caches = run_jobs(plan.jobs, config.workers, on_done)
        return assemble(plan, caches)
