"""``lcz-map-districts``: one mapping run as a Prefect flow (plan -> score scenes -> infer ->
write -> index -> record).

Each task wraps one function of :mod:`sunet.mapping.pipeline`, so the flow does exactly what
``map_districts`` / ``lcz-map map`` do. Inference spreads over Dask when ``config.workers`` (or
``config.scheduler``) says so; each worker loads the bundle once. Only the tasks that read or
write files retry: a retried area rewrites its folder from scratch and renames it into place.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.runners import retry_transient
from sunet.locks import hold
from sunet.mapping import MapConfig, MapReport
from sunet.mapping.novelty import SceneNovelty
from sunet.mapping.pipeline import (
    AreaReport,
    MapPlan,
    infer_cells,
    map_report,
    plan_map,
    score_scenes,
    start_output,
    work_dir,
    write_area,
    write_catalogs,
    write_record,
)
from sunet.mapping.report import area_table
from sunet.threads import cpu_threads

__all__ = ["map_flow"]


@task(name="plan-map", cache_policy=NO_CACHE)
def plan_task(config: MapConfig) -> MapPlan:
    """Validate inputs, load the model, fix the grid (bad input fails here, without retry)."""
    return plan_map(config)


@task(
    name="infer-cells",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=10,
    retry_condition_fn=retry_transient,
)
def infer_task(plan: MapPlan, work: Path) -> dict[str, float]:
    return infer_cells(plan, work)


@task(
    name="write-area",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_transient,
)
def write_area_task(plan: MapPlan, work: Path, slug: str) -> AreaReport:
    return write_area(plan, work, slug)


@task(
    name="write-catalogs",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_transient,
)
def write_catalogs_task(plan: MapPlan) -> None:
    """The STAC catalog and the QGIS project of the written areas."""
    write_catalogs(plan)


@task(
    name="score-scenes",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=10,
    retry_condition_fn=retry_transient,
)
def score_scenes_task(plan: MapPlan) -> list[SceneNovelty]:
    return score_scenes(plan)


@task(
    name="write-record",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_transient,
)
def write_record_task(plan: MapPlan, scenes: list[SceneNovelty]) -> Path:
    return write_record(plan, scenes)


@flow(
    name="lcz-map-districts",
    log_prints=True,
    task_runner=ThreadPoolTaskRunner(max_workers=cpu_threads()),  # type: ignore[arg-type]
)
def map_flow(config: MapConfig) -> MapReport:
    """Map the districts of ``config.districts`` from ``config.scenes`` with ``config.model``."""
    with hold(config.out):  # one writer per map, as map_districts (sunet.locks)
        plan = plan_task(config)
        start_output(plan)
        scenes = score_scenes_task(plan)
        with work_dir(plan) as work:
            counts = infer_task(plan, work)
            # Areas in parallel, as map_districts' write_areas (one thread per core, see the runner).
            areas = [
                f.result() for f in [write_area_task.submit(plan, work, s) for s in plan.slugs]
            ]
        write_catalogs_task(plan)
        write_record_task(plan, scenes)
    report = map_report(plan, counts, areas, scenes)
    create_markdown_artifact(
        area_table([report.city, *report.districts]),
        key="lcz-map-districts",
        description="LCZ shares",
    )
    if report.scenes:
        create_table_artifact(
            [s.model_dump() for s in report.scenes],
            key="lcz-scene-novelty",
            description="How unlike the model's training data each scene looks",
        )
    print(f"mapped {report.city.area_km2:.2f} km2 into {report.out}")
    return report
