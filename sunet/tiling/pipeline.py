"""Scenes + labels -> patch store: plan, tile each scene (in parallel), assemble.

The three steps are separate so that the CLI, :func:`tile` and the Prefect flow share them:

1. :func:`plan_tiling` validates every input (one-line errors naming the file), fixes the tiling
   CRS and patch grid, and cuts the work into one picklable :class:`SceneJob` per scene;
2. :func:`tile_scene` (in ``scene.py``) runs per scene, in any process, and caches its result;
3. :func:`assemble` picks for each cell the scene that covers it best, drops what must be
   dropped (counting why), splits by spatial blocks, samples, and writes the store.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from dask.callbacks import Callback
from pyproj import CRS

from sunet.geo.crs import crs_name, resolve_crs
from sunet.geo.grid import PatchGrid
from sunet.geo.raster import SceneInfo, inspect_scene, scene_footprint
from sunet.geo.vector import PolygonLayer, read_labels, repair_polygons
from sunet.lcz import CLASSES, abundance_columns
from sunet.locks import hold
from sunet.patch_store import INDEX_COLUMNS, SPLITS, StoreMeta, write_store
from sunet.tiling.config import TileConfig, expand_scene_paths
from sunet.tiling.labels import LabelSet, abundances
from sunet.tiling.report import TileReport
from sunet.tiling.scene import (
    CellStatus,
    SceneCache,
    SceneJob,
    job_key,
    scene_digest,
    tile_scene,
)
from sunet.tiling.split import assign_blocks, block_ids, sample_kinds

__all__ = ["TilePlan", "assemble", "plan_tiling", "run_jobs", "tile"]


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
    scenes = [
        inspect_scene(p, min_extent_m=config.cell_size, scene_crs=config.scene_crs) for p in paths
    ]
    for info in scenes:
        if max(config.bands) > info.count:
            raise ValueError(
                f"{info.path}: has {info.count} band(s); --bands asks for {config.bands}"
            )

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
    for info, footprint in zip(scenes, footprints, strict=True):
        job, covered = _scene_job(config, grid, info, footprint, label_set, settings)
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
    scheduler (GDAL and numpy release the GIL, so threads do run in parallel)."""
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


def _candidates(caches: Sequence[SceneCache]) -> pd.DataFrame:
    frames = []
    for cache in caches:
        meta = cache.meta()
        if len(meta["cells"]) == 0:
            continue
        frame = pd.DataFrame(
            {
                "row": meta["cells"][:, 0],
                "col": meta["cells"][:, 1],
                "scene": cache.scene,
                "status": meta["status"],
                "valid": meta["valid"],
                "labelled": meta["labelled"],
                "slot": meta["slot"],
            }
        )
        frame["counts"] = list(meta["counts"])
        frames.append(frame)
    columns = ["row", "col", "scene", "status", "valid", "labelled", "slot", "counts"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def assemble(plan: TilePlan, caches: Sequence[SceneCache]) -> TileReport:
    """Choose a scene per cell, drop what must be dropped (counting why), split by spatial
    blocks, sample and write the store; returns (and saves) the report."""
    config = plan.config
    candidates = _candidates(caches)
    chosen, dropped = _choose_scene_per_cell(candidates, len(plan.cells_seen))
    chosen, counts = _drop_cells_without_labels(chosen, dropped)
    index = _split(_index(chosen, counts, plan), config)
    index = _sample(index, config, dropped)
    duplicates = _duplicates_resolved(index, candidates)
    report = _report(plan, caches, index, dropped, duplicates)
    _write(plan, caches, index, report)
    _prune_cache(config.out / ".cache", {c.path.name for c in caches})
    return report


def _choose_scene_per_cell(
    candidates: pd.DataFrame, cells_seen: int
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per cell that some scene kept, and the cells dropped so far by reason.

    A cell is unlabelled if any scene found it so (the labelled share does not depend on the
    scene); otherwise it comes from the scene with the most valid pixels, ties to the first
    scene name, and is kept if that scene kept it, else dropped as nodata. ``cells_seen``: the
    cells some scene covers; those no scene tiled (no label touches them) are unlabelled too.
    """
    unlabelled = candidates[candidates["status"].to_numpy() == CellStatus.UNLABELLED]
    unlabelled_cells = set(zip(unlabelled["row"], unlabelled["col"], strict=True))
    best = candidates.sort_values(
        ["row", "col", "valid", "scene"], ascending=[True, True, False, True]
    )
    best = best.drop_duplicates(["row", "col"])
    is_unlabelled = np.array(
        [cell in unlabelled_cells for cell in zip(best["row"], best["col"], strict=True)],
        dtype=bool,
    )
    is_kept = best["status"].to_numpy() == CellStatus.KEPT
    dropped = {
        "unlabelled": cells_seen - len(best) + int(is_unlabelled.sum()),
        "nodata": int((~is_unlabelled & ~is_kept).sum()),
        "sampled_out": 0,
    }
    return best[~is_unlabelled & is_kept].reset_index(drop=True), dropped


def _drop_cells_without_labels(
    chosen: pd.DataFrame, dropped: dict[str, int]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The cells whose label pixel counts are not all zero, with those counts ``(N, 17)``;
    the others are counted as unlabelled in ``dropped``."""
    counts = np.stack(chosen["counts"].to_numpy()) if len(chosen) else np.zeros((0, len(CLASSES)))
    nothing = counts.sum(axis=1) == 0
    dropped["unlabelled"] += int(nothing.sum())
    return chosen[~nothing].reset_index(drop=True), counts[~nothing]


def _index(chosen: pd.DataFrame, counts: np.ndarray, plan: TilePlan) -> pd.DataFrame:
    """Each chosen cell's patch record: where it is, its scene and slot in that scene's cache,
    its dominant class, purity (pure or mixed), labelled and nodata shares, and abundances."""
    config, grid = plan.config, plan.grid
    p2 = grid.patch * grid.patch
    shares = abundances(counts)
    dominant = shares.argmax(axis=1) + 1 if len(chosen) else np.zeros(0, np.int64)
    purity = shares.max(axis=1) if len(chosen) else np.zeros(0, np.float32)
    index = pd.DataFrame(
        {
            "row": chosen["row"].to_numpy(np.int64),
            "col": chosen["col"].to_numpy(np.int64),
            "scene": chosen["scene"].astype(str).to_numpy(),
            "kind": np.where(purity >= config.purity, "pure", "mixed"),
            "dominant": dominant.astype(np.int64),
            "purity": purity.astype(np.float64),
            "labelled": chosen["labelled"].to_numpy(np.float64),
            "nodata": 1.0 - chosen["valid"].to_numpy(np.float64) / p2,
            "slot": chosen["slot"].to_numpy(np.int64),
        }
    )
    for j, column in enumerate(abundance_columns()):
        index[column] = shares[:, j]
    return index


def _split(index: pd.DataFrame, config: TileConfig) -> pd.DataFrame:
    """Add each patch's spatial block and its split (whole blocks per split)."""
    index["block"] = block_ids(index["row"].to_numpy(), index["col"].to_numpy(), config.block)
    index["split"] = assign_blocks(
        index["block"].to_numpy(), index["dominant"].to_numpy(), config.split_ratio, config.seed
    )
    return index


def _sample(index: pd.DataFrame, config: TileConfig, dropped: dict[str, int]) -> pd.DataFrame:
    """At most ``sample_mixed`` / ``sample_pure`` patches of each kind (counted as sampled out
    in ``dropped``), in row-major cell order."""
    keep = sample_kinds(
        index, {"mixed": config.sample_mixed, "pure": config.sample_pure}, config.seed
    )
    dropped["sampled_out"] = int((~keep).sum())
    return index[keep].sort_values(["row", "col"]).reset_index(drop=True)


def _duplicates_resolved(index: pd.DataFrame, candidates: pd.DataFrame) -> int:
    """Patches whose cell more than one scene tiled (one of them was chosen)."""
    per_cell = (
        candidates.groupby(["row", "col"]).size() if len(candidates) else pd.Series(dtype=int)
    )
    return int(
        sum(per_cell.get((r, c), 1) > 1 for r, c in zip(index["row"], index["col"], strict=True))
    )


def _patch_table(index: pd.DataFrame, grid: PatchGrid) -> gpd.GeoDataFrame:
    """The store's index: one row per patch in store order, with its id and cell footprint."""
    index = index.assign(
        store_index=np.arange(len(index), dtype=np.int64),
        patch_id=[f"r{r}_c{c}" for r, c in zip(index["row"], index["col"], strict=True)],
    )
    bounds = np.asarray(
        [grid.cell_bounds(r, c) for r, c in zip(index["row"], index["col"], strict=True)]
    )
    geometry = shapely.box(*bounds.T) if len(index) else []
    return gpd.GeoDataFrame(index[list(INDEX_COLUMNS)], geometry=list(geometry), crs=grid.crs)


def _write(
    plan: TilePlan, caches: Sequence[SceneCache], index: pd.DataFrame, report: TileReport
) -> None:
    """Write the store: its index table, the patches read back from the scene caches (at each
    patch's slot), the report and the config."""
    config, grid = plan.config, plan.grid
    by_scene = {c.scene: c for c in caches}
    sources = list(zip(index["scene"], index["slot"], strict=True))
    nbands = len(config.bands)

    def fetch(start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, nbands, grid.patch, grid.patch), dtype=np.uint8)
        for i in range(start, stop):
            scene, slot = sources[i]
            out[i - start] = by_scene[scene].images(nbands, grid.patch)[slot]
        return out

    meta = StoreMeta(
        crs=config.crs,
        gsd=config.gsd,
        patch_size=config.patch,
        source_bands=list(config.bands),
        radiometry=config.radiometry,
    )
    write_store(
        config.out,
        _patch_table(index, grid),
        fetch,
        meta=meta,
        shard=config.shard,
        report=report.model_dump(mode="json"),
        config=config.model_dump(mode="json"),
    )


def _prune_cache(root: Path, keep: set[str]) -> None:
    """Remove cache entries no scene of this run uses (other settings, changed scenes, and
    temporary folders of interrupted runs), so the cache does not grow without bound."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.name not in keep:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()


def _report(
    plan: TilePlan,
    caches: Sequence[SceneCache],
    index: pd.DataFrame,
    dropped: dict[str, int],
    duplicates: int,
) -> TileReport:
    config = plan.config
    by_kind = {
        kind: {s: int(((index["kind"] == kind) & (index["split"] == s)).sum()) for s in SPLITS}
        for kind in ("pure", "mixed")
    }
    by_class = {}
    for cls in CLASSES:
        of_class = index["dominant"] == cls.code
        if of_class.any():
            by_class[cls.letter] = {
                s: int((of_class & (index["split"] == s)).sum()) for s in SPLITS
            }
    per_scene = index["scene"].value_counts()
    return TileReport(
        out=str(config.out),
        crs=config.crs if config.crs.startswith("EPSG:") else plan.grid.crs.name,
        gsd=config.gsd,
        patch=config.patch,
        patches=len(index),
        cells_seen=len(plan.cells_seen),
        scenes=len(plan.scenes),
        scenes_reused=sum(c.reused for c in caches),
        patches_per_scene={s.name: int(per_scene.get(s.name, 0)) for s in plan.scenes},
        by_split={s: int((index["split"] == s).sum()) for s in SPLITS},
        by_kind=by_kind,
        by_class=by_class,
        dropped=dropped,
        duplicates_resolved=duplicates,
        labels_repaired=plan.labels.repaired,
        labels_dropped=plan.labels.dropped,
        labels_outside_scenes=plan.labels_outside,
        warnings=plan.warnings,
        seconds=round(time.perf_counter() - plan.started, 3),
    )


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
