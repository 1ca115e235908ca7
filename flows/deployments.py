"""The deployments, declared once, served from one process or deployed to a work pool.

Each city is configured once, in its data folder (:mod:`flows.city`): every
``$LCZ_DATA_ROOT/<city>/lcz-map.yaml`` gives

* ``lcz-map/<city>``: the ``lcz-map`` flow with ``city`` and ``config_file`` as its only
  deployment parameters, so every run (manual, scheduled, event-started) reads the file; remapped
  on the file's cron (``deployment.schedule``, weekly by default) and whenever
  ``lcz.imagery.arrived`` names ``lcz.city.<city>``. The schedule and the trigger pass
  ``started_by``: such runs map with the city's current model and never train unless the file
  sets ``automatic_training: true``.
* ``lcz-inbox/<city>``: every 10 minutes (``deployment.watch_inbox``), looks in the city's inbox
  and scene folder and sends the event when there is something new.

``lcz-map/wuhan`` and ``lcz-inbox/wuhan`` always exist (the five districts of Experiment B and
EPSG:32650 are in ``data/wuhan/lcz-map.yaml``, shipped with the code); ``lcz-map/demo`` maps the
synthetic city, generated on the first run, with parameters small enough for a run to take
about a minute on two CPU cores.

Usage::

    python -m flows.deployments serve              # one process serves them all (no work pool)
    python -m flows.deployments deploy --pool lcz  # register them on a process work pool;
                                                   # then `prefect worker start --pool lcz`

Redeploying is idempotent: deployments are updated in place by name, schedules carry slugs so
the server updates them instead of adding copies (and drops runs the old schedule had queued),
and triggers are replaced. A city's own settings live in its file, so a redeploy or a restart
never resets them. ``deploy`` also installs an automation that marks a flow run Crashed
when its heartbeats stop (a worker that died), so no run stays Running for ever. Each city's
deployment admits one run at a time; others wait in the queue (a scheduled run and an event
arriving together cannot map the same city twice at once).
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron

from flows.city import CITY_CONFIG, DeploymentSettings, data_root, read_city_file, runs_root
from flows.inbox import IMAGERY_ARRIVED, lcz_inbox
from flows.lcz_map import MapOptions, TileOptions, TrainOptions, lcz_map
from sunet.synth.config import SynthConfig

__all__ = [
    "build_deployments",
    "city_deployments",
    "deploy",
    "demo_parameters",
    "ensure_zombie_automation",
]

ZOMBIE_AUTOMATION = "lcz: crash flow runs without heartbeat"
ALWAYS_DEPLOYED = ("wuhan",)  # the paper's city: deployed even before its data is in place


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


_ONE_AT_A_TIME = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
)
_COMMON: dict[str, Any] = {
    "entrypoint_type": EntrypointType.MODULE_PATH,  # the package is installed everywhere
    "paused": False,
    "tags": ["lcz"],
}


def city_deployments(city: str, data: Path) -> list[Any]:
    """``lcz-map/<city>`` and ``lcz-inbox/<city>`` for the city whose file is
    ``data/<city>/lcz-map.yaml`` (deployment settings from the file). Without the file (a city
    always deployed, whose data is not in place yet) only ``lcz-map/<city>`` is declared, with
    the default schedule; its runs fail with one line naming the file."""
    config_file = data / city / CITY_CONFIG
    settings = DeploymentSettings()
    if config_file.is_file():
        settings = read_city_file(config_file, lcz_map).deployment
    params = {"city": city, "config_file": str(config_file)}
    schedules = []
    if settings.schedule:
        schedules.append(
            Cron(
                settings.schedule,
                timezone=settings.timezone,
                slug="scheduled-remap",
                parameters={"started_by": "schedule"},
            )  # fmt: skip
        )
    out = [
        lcz_map.to_deployment(
            name=city,
            description=f"{city}: configured by {config_file}; on its schedule and on "
            "lcz.imagery.arrived.",
            parameters=params,
            schedules=schedules,
            triggers=[
                DeploymentEventTrigger(
                    name=f"{city}: new imagery",
                    expect={IMAGERY_ARRIVED},
                    match={"prefect.resource.id": f"lcz.city.{city}"},
                    parameters={"started_by": "event"},
                )
            ],
            concurrency_limit=_ONE_AT_A_TIME,
            **_COMMON,
        )
    ]
    if settings.watch_inbox and config_file.is_file():  # nothing to watch without the file
        out.append(
            lcz_inbox.to_deployment(
                name=city,
                description=f"Look for new {city} imagery; send lcz.imagery.arrived if any.",
                parameters=params,
                schedules=[
                    Cron(settings.watch_inbox, timezone=settings.timezone, slug="watch-inbox")
                ],
                concurrency_limit=ConcurrencyLimitConfig(
                    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
                ),
                **_COMMON,
            )
        )
    return out


def configured_cities(data: Path) -> list[str]:
    """Cities with a file under ``data``, plus those always deployed, sorted."""
    found = {p.parent.name for p in data.glob(f"*/{CITY_CONFIG}") if p.is_file()}
    return sorted(found | set(ALWAYS_DEPLOYED))


def build_deployments(data: Path | None = None, runs: Path | None = None) -> list[RunnerDeployment]:
    """Every configured city's deployments and the demo (see module docstring)."""
    data = data or data_root()
    runs = runs or runs_root()
    deployments = [d for city in configured_cities(data) for d in city_deployments(city, data)]
    deployments.append(
        lcz_map.to_deployment(
            name="demo",
            description="The synthetic city (generated on first run), tiny and fast.",
            parameters=demo_parameters(runs),
            concurrency_limit=_ONE_AT_A_TIME,
            **_COMMON,
        )
    )
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
