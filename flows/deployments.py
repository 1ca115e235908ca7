"""The deployments, declared once, served from one process or deployed to a work pool.

* ``lcz-map/wuhan``: the five districts of Experiment B (Jiang'an, Jianghan, Qiaokou, Hanyang,
  Wuchang) in EPSG:32650, remapped weekly and whenever ``lcz.imagery.arrived`` names
  ``lcz.city.wuhan``. Its data locations are parameters with defaults under ``$LCZ_DATA_ROOT``
  (``wuhan/scenes``, ``wuhan/labels.gpkg``, ``wuhan/districts.gpkg``, ``wuhan/inbox``); a run
  whose data is absent fails with one line naming what is missing.
* ``lcz-inbox/wuhan``: every 10 minutes, looks in Wuhan's inbox and scene folder and sends the
  event when there is something new.
* ``lcz-map/demo``: the synthetic city, generated on the first run; parameters small enough for
  a run to take about a minute on two CPU cores.

Usage::

    python -m flows.deployments serve              # one process serves all three (no work pool)
    python -m flows.deployments deploy --pool lcz  # register them on a process work pool;
                                                   # then `prefect worker start --pool lcz`

Redeploying is idempotent: deployments are updated in place by name, schedules carry slugs so
the server updates them instead of adding copies (and drops runs the old schedule had queued),
and triggers are replaced. ``deploy`` also installs an automation that marks a flow run Crashed
when its heartbeats stop (a worker that died), so no run stays Running for ever. Each city's
deployment admits one run at a time; others wait in the queue (a scheduled run and an event
arriving together cannot map the same city twice at once).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron

from flows.inbox import IMAGERY_ARRIVED, lcz_inbox
from flows.lcz_map import MapOptions, TileOptions, TrainOptions, lcz_map
from sunet.synth.config import SynthConfig

__all__ = [
    "WUHAN_DISTRICTS",
    "build_deployments",
    "deploy",
    "demo_parameters",
    "ensure_zombie_automation",
    "wuhan_parameters",
]

WUHAN_DISTRICTS = ["Jiang'an", "Jianghan", "Qiaokou", "Hanyang", "Wuchang"]
WUHAN_TIMEZONE = "Asia/Shanghai"
ZOMBIE_AUTOMATION = "lcz: crash flow runs without heartbeat"


def data_root() -> Path:
    """``$LCZ_DATA_ROOT``, default ``./data``, made absolute (workers may run elsewhere)."""
    return Path(os.environ.get("LCZ_DATA_ROOT") or "data").absolute()


def runs_root() -> Path:
    """``$LCZ_RUNS_ROOT``, default ``./runs``, made absolute."""
    return Path(os.environ.get("LCZ_RUNS_ROOT") or "runs").absolute()


def wuhan_parameters(data: Path, runs: Path) -> dict[str, Any]:
    city = data / "wuhan"
    return {
        "city": "wuhan",
        "out": str(runs / "wuhan"),
        "scenes_dir": str(city / "scenes"),
        "labels": str(city / "labels.gpkg"),
        "districts": str(city / "districts.gpkg"),
        "district_names": WUHAN_DISTRICTS,
        "inbox": str(city / "inbox"),
        "crs": "EPSG:32650",
    }


def demo_parameters(runs: Path) -> dict[str, Any]:
    """A city of four 384 px scenes, 48 px patches, one short training epoch."""
    return {
        "city": "demo",
        "out": str(runs / "demo"),
        "synthetic": SynthConfig.model_validate(
            {"scenes": 4, "size_px": 384, "preview_px": 400}
        ).model_dump(mode="json"),
        "tiling": TileOptions(patch=48, block=2).model_dump(mode="json"),
        "training": TrainOptions(
            epochs=1, batch_size=16, max_minutes=2.0, num_threads=1, progress=False
        ).model_dump(mode="json", exclude_none=True),
        "mapping": MapOptions(batch_size=32, progress=False).model_dump(mode="json"),
        "dask_workers": 2,
        "keep_versions": 5,
    }


def build_deployments(data: Path | None = None, runs: Path | None = None) -> list[RunnerDeployment]:
    """The three deployments (see module docstring); paths resolved against ``data``/``runs``."""
    data = data or data_root()
    runs = runs or runs_root()
    one_at_a_time = ConcurrencyLimitConfig(
        limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
    )
    wuhan = wuhan_parameters(data, runs)
    common: dict[str, Any] = {
        "entrypoint_type": EntrypointType.MODULE_PATH,  # the package is installed everywhere
        "paused": False,
        "tags": ["lcz"],
    }
    deployments = [
        lcz_map.to_deployment(
            name="wuhan",
            description="Wuhan, Experiment B districts: weekly, and on lcz.imagery.arrived.",
            parameters=wuhan,
            schedules=[Cron("0 3 * * 1", timezone=WUHAN_TIMEZONE, slug="weekly-remap")],
            triggers=[
                DeploymentEventTrigger(
                    name="wuhan: new imagery",
                    expect={IMAGERY_ARRIVED},
                    match={"prefect.resource.id": "lcz.city.wuhan"},
                )
            ],
            concurrency_limit=one_at_a_time,
            **common,
        ),
        lcz_inbox.to_deployment(
            name="wuhan",
            description="Look for new Wuhan imagery; send lcz.imagery.arrived if any.",
            parameters={k: wuhan[k] for k in ("city", "out", "scenes_dir", "inbox")},
            schedules=[Cron("*/10 * * * *", timezone=WUHAN_TIMEZONE, slug="watch-inbox")],
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            **common,
        ),
        lcz_map.to_deployment(
            name="demo",
            description="The synthetic city (generated on first run), tiny and fast.",
            parameters=demo_parameters(runs),
            concurrency_limit=one_at_a_time,
            **common,
        ),
    ]
    # to_deployment is sync here (no event loop running); its annotation also admits a coroutine.
    return [cast(RunnerDeployment, d) for d in deployments]


def ensure_zombie_automation(heartbeat_seconds: int | None = None) -> None:
    """Create (or replace) the automation that crashes flow runs whose heartbeats stopped.

    A run heartbeats every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds while its process lives;
    three missed beats mean the process (or its machine) is gone, and the run is set Crashed
    instead of staying Running.
    """
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.settings import get_current_settings

    beat = heartbeat_seconds or get_current_settings().flows.heartbeat_frequency or 180
    try:
        cast(Automation, Automation.read(name=ZOMBIE_AUTOMATION)).delete()
    except ValueError:
        pass  # not there yet
    Automation(
        name=ZOMBIE_AUTOMATION,
        description="A flow run that stops sending heartbeats is marked Crashed.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match={"prefect.resource.id": ["prefect.flow-run.*"]},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=3 * beat),
        ),
        actions=[
            ChangeFlowRunState(
                name=None,
                force=False,
                state=StateType.CRASHED,
                message=f"No heartbeat for {3 * beat} s: the process running it is gone.",
            )
        ],
    ).create()


def deploy(pool: str, deployments: list[RunnerDeployment] | None = None) -> list[str]:
    """Register the deployments on a process work pool (created if missing); returns their
    names. Safe to repeat."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            pass
    names = []
    for d in deployments or build_deployments():
        d.apply(work_pool_name=pool)
        names.append(f"{d.flow_name}/{d.name}")
    ensure_zombie_automation()
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.deployments", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the deployments from this process (Ctrl-C to stop)")
    d = sub.add_parser("deploy", help="register the deployments on a process work pool")
    d.add_argument("--pool", default="lcz", help="work pool name (default: lcz)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        ensure_zombie_automation()
        serve(*build_deployments())
    else:
        for name in deploy(args.pool):
            print(f"deployed {name} to pool {args.pool}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
