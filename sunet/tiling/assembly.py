"""Assembling the patch store from the scenes' tiled cells: step 3 of tiling.

:func:`assemble` reads as its steps: pick for each cell the scene that covers it best, drop what
must be dropped (counting why), split by spatial blocks, sample, and write the store.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from sunet.geo.grid import PatchGrid
from sunet.lcz import CLASSES, abundance_columns
from sunet.patch_store import INDEX_COLUMNS, SPLITS, StoreMeta, write_store
from sunet.tiling.config import TileConfig
from sunet.tiling.labels import abundances
from sunet.tiling.report import TileReport
from sunet.tiling.scene import CellStatus, SceneCache
from sunet.tiling.split import assign_blocks, block_ids, sample_kinds

if TYPE_CHECKING:  # the plan is made by sunet.tiling.pipeline, which calls assemble
    from sunet.tiling.pipeline import TilePlan

__all__ = ["assemble"]


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
    nbands = len(config.bands)
    by_name = {c.scene: c for c in caches}
    scenes, slots = index["scene"].to_numpy(), index["slot"].to_numpy()

    def fetch(start: int, stop: int) -> np.ndarray:
        """One shard's patches, each scene's read through one handle (memory stays flat)."""
        out = np.empty((stop - start, nbands, grid.patch, grid.patch), dtype=np.uint8)
        for scene in dict.fromkeys(scenes[start:stop]):
            at = np.flatnonzero(scenes[start:stop] == scene)
            by_name[scene].read_images([int(s) for s in slots[start + at]], out, list(at))
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
