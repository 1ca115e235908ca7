"""``lcz-tile``: scenes + labels -> patch store, one Prefect task per scene on a Dask cluster.

A thin flow over :mod:`sunet.tiling`: plan (validation, grid, jobs), one ``tile-scene`` task per
scene run by prefect-dask's ``DaskTaskRunner`` (a local cluster of ``config.workers`` processes),
then assemble (choose, split, write). Rerunning is cheap without Prefect's result cache: each
scene's result is cached by the library under ``OUT/.cache`` keyed by content, so only the
``tile-scene`` tasks of changed scenes do real work. Only ``tile-scene`` retries: it is the task
that reads imagery (possibly from a network mount); planning and assembling fail on bad input,
which a retry cannot fix.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect_dask import DaskTaskRunner

from flows.runners import retry_transient
from sunet.locks import hold
from sunet.tiling import (
    SceneCache,
    SceneJob,
    TileConfig,
    TilePlan,
    TileReport,
    assemble,
    plan_tiling,
    tile_scene,
)

__all__ = ["tile_flow", "tile_flow_for"]


@task(name="plan-tiling", cache_policy=NO_CACHE)
def plan_task(config: TileConfig) -> TilePlan:
    return plan_tiling(config)


@task(
    name="tile-scene",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_transient,
)
def tile_scene_task(job: SceneJob) -> SceneCache:
    return tile_scene(job)


@task(name="assemble-store", cache_policy=NO_CACHE)
def assemble_task(plan: TilePlan, caches: list[SceneCache]) -> TileReport:
    return assemble(plan, caches)


@flow(
    name="lcz-tile",
    log_prints=True,
    # prefect-dask's runner is typed against an older TaskRunner generic; it works at run time.
    task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1}),  # type: ignore[arg-type]
)
def tile_flow(config: TileConfig) -> TileReport:
    """Tile ``config.scenes`` and ``config.labels`` into the patch store ``config.out``."""
    with hold(config.out):  # one writer per store, as tile() and `lcz-map tile` (sunet.locks)
        plan = plan_task(config)
        caches = [f.result() for f in tile_scene_task.map(plan.jobs)]
        report = assemble_task(plan, caches)
    create_markdown_artifact(
        f"```\n{report.table()}\n```",
        key="lcz-tile-report",
        description=f"Patch store {config.out}",
    )
    print(report.table())
    return report


def tile_flow_for(workers: int) -> object:
    """``tile_flow`` on a local Dask cluster of ``workers`` single-threaded processes."""
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1})
    return tile_flow.with_options(task_runner=runner)  # type: ignore[arg-type]
