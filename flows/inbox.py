"""``lcz-inbox``: look for new imagery on a schedule and announce it with an event.

A cheap flow, run every few minutes by its deployment's cron schedule: it lists what a remap would
pick up (settled files in the inbox; new, changed or removed scenes in the scene folder compared
with the latest map version's manifest) and, if anything, emits ``lcz.imagery.arrived`` for the
city's resource ``lcz.city.<city>``. The ``lcz-map`` deployment of that city has a trigger on the
event, so the remap starts at once; people can send the same event by hand::

    prefect event emit lcz.imagery.arrived --resource-id lcz.city.wuhan

The remap itself works out what changed, so an event sent twice, or with nothing new behind it,
costs one quick run that publishes nothing.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from flows.city import city_parameters, flow_defaults
from flows.runners import retry_transient
from sunet.operations.config import RemapConfig
from sunet.operations.inbox import SceneManifest, pending_scenes
from sunet.operations.remap import SCENES_JSON
from sunet.operations.versions import latest_version
from sunet.options import default_of, mirrors

__all__ = ["IMAGERY_ARRIVED", "city_resource", "lcz_inbox"]

IMAGERY_ARRIVED = "lcz.imagery.arrived"


def city_resource(city: str) -> dict[str, str]:
    """The event resource naming a city: id ``lcz.city.<city>``."""
    return {"prefect.resource.id": f"lcz.city.{city}", "prefect.resource.name": city}


@task(
    name="look-for-imagery",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_transient,
)
def look_task(
    out: Path, scenes_dir: Path | None, inbox: Path | None, settle_seconds: float
) -> list[str]:
    """Scene names a remap would pick up (file listing and hashing only: retried on I/O errors)."""
    latest = latest_version(out)
    manifest = None
    if latest is not None and (latest.path / SCENES_JSON).is_file():
        manifest = SceneManifest.load(latest.path / SCENES_JSON)
    if inbox is not None and not inbox.is_dir():
        inbox = None  # nothing has arrived where nothing can arrive
    return pending_scenes(scenes_dir, manifest, inbox, settle_seconds)


@flow(name="lcz-inbox", log_prints=True)
@mirrors(settle_seconds=(RemapConfig, "settle_seconds"))
def lcz_inbox(
    city: str = "city",
    out: Path = Path("runs/city"),
    scenes_dir: Path | None = None,
    inbox: Path | None = None,
    settle_seconds: float = default_of(RemapConfig, "settle_seconds"),
    config_file: Path | None = None,
) -> list[str]:
    """Emit ``lcz.imagery.arrived`` for ``city`` if new imagery waits to be mapped.

    A city with no map version yet has nothing to compare its scene folder with: the scenes
    already there are its imagery, mapped by the first run, not news; only inbox files count.

    Args:
        city: City name; the event's resource is lcz.city.<city>.
        out: The city's map root (its latest version's manifest is the reference).
        scenes_dir: The city's scene folder.
        inbox: Folder where new scenes arrive.
        settle_seconds: {settle_seconds}
        config_file: The city's lcz-map.yaml: out, scenes_dir, inbox and settle_seconds as the
            city's lcz-map runs see them.
    """
    if config_file is not None:
        from flows.lcz_map import lcz_map  # the flow whose parameters the city file holds

        merged = city_parameters({**flow_defaults(lcz_map), "city": city}, lcz_map, config_file)
        out, scenes_dir = merged["out"], merged["scenes_dir"]
        inbox, settle_seconds = merged["inbox"], merged["settle_seconds"]
    if latest_version(out) is None:
        # Before the first map, the scenes already in the folder are the city's imagery, not
        # news: only files dropped in the inbox count.
        print(f"{city} has no map version yet: only the inbox counts as new imagery")
        scenes_dir = None
    arrived = look_task(out, scenes_dir, inbox, settle_seconds)
    if arrived:
        emit_event(
            event=IMAGERY_ARRIVED,
            resource=city_resource(city),
            payload={"scenes": arrived[:100], "count": len(arrived)},
        )
        print(f"{len(arrived)} scene(s) waiting: {', '.join(arrived[:10])}; event sent")
    else:
        print("no new imagery")
    return arrived
