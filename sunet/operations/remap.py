"""Remapping a city as its imagery changes: plan, map, assemble a new version, report changes.

One remap (:func:`remap`, or step by step as the ``lcz-map`` flow does it):

1. :func:`plan_remap` compares the scenes now in the scene folder with the manifest of the latest
   version, and the inputs that shape the whole map (model bytes, district file, district
   selection, CRS, mapping options) with those it recorded. The plan is ``full`` when there is
   no version yet, when asked, or when any of those inputs changed; ``incremental`` when only
   scenes changed; ``none`` when nothing did (no version is written).
2. :func:`map_version` maps into the new version's folder. A full plan maps everything. An
   incremental plan maps with the previous version as the base: only the **windows whose cells
   the new, changed or removed scenes can change** (their old and new footprints, saved as
   ``remapped_area.gpkg``) run through the model; every other cell is copied from the previous
   version's city abundance raster, and all products are written from the result. The new
   version equals a full remap of the same scenes, cell for cell (see
   :func:`sunet.mapping.windows.affected_cells`), at the cost of the changed area only.
3. :func:`finish_version` writes ``scenes.json`` (the manifest), ``version.json`` (plan, inputs,
   mapping summary) and, against the previous version, ``changes/`` (transition matrices and
   changed area per district, see :mod:`sunet.operations.changes`), names the version's STAC
   catalog and links these records from it (:func:`sunet.mapping.stac.mark_version`); the
   version is then published and ``latest`` switched (:mod:`sunet.operations.versions`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from sunet.analysis.config import (
    ANALYSIS_DIR,
    ANALYSIS_PAGE,
    ANALYSIS_RECORD,
    PARAMETERS_RECORD,
)
from sunet.atomic import remove_leftovers, write_text_atomic
from sunet.geo.crs import crs_name, resolve_crs
from sunet.geo.vector import write_gpkg
from sunet.hashing import file_hash
from sunet.locks import hold
from sunet.mapping import MapConfig, MapReport, map_districts
from sunet.mapping.districts import read_districts, slugify
from sunet.mapping.products import DOMINANT
from sunet.mapping.stac import mark_version
from sunet.operations.changes import DistrictChange, compare_rasters, write_change_report
from sunet.operations.config import RUNTIME_OPTIONS, MapOptions, RemapConfig
from sunet.operations.inbox import (
    SceneChanges,
    SceneManifest,
    diff_scenes,
    ingest_inbox,
    scan_scenes,
)
from sunet.operations.versions import (
    VERSION_JSON,
    MapVersion,
    latest_version,
    prune_versions,
    publish_version,
)

__all__ = [
    "MapOptions",
    "RemapConfig",
    "RemapPlan",
    "RemapResult",
    "finish_version",
    "map_version",
    "plan_remap",
    "remap",
    "select_districts",
]

SCENES_JSON = "scenes.json"
REMAPPED_AREA = "remapped_area.gpkg"
CHANGES = "changes"
# Files written into a version while it is built that name its folder: on publishing, the
# temporary folder's path in them becomes the version's.
NAMING_RECORDS = (
    VERSION_JSON,
    "config.json",
    f"{ANALYSIS_DIR}/{ANALYSIS_RECORD}",
    f"{ANALYSIS_DIR}/{ANALYSIS_PAGE}",
    PARAMETERS_RECORD,
)


@dataclass
class RemapPlan:
    """What a remap will do; JSON-ready through :meth:`to_json`.

    Attributes:
        mode: ``full``, ``incremental`` or ``none``; reason: why, in words.
        previous: the latest version when planned (None before the first).
        manifest: the scenes now; changes: against the previous version's manifest.
        districts: slugs -> names of all districts selected; touched: the slugs of those the
            changed area reaches (all of them for a full plan).
        inputs: the record of whole-map inputs (compared on the next remap).
        area: an incremental plan's changed area (map CRS, metres), else None.
    """

    config: RemapConfig
    crs: str
    mode: Literal["full", "incremental", "none"]
    reason: str
    previous: MapVersion | None
    manifest: SceneManifest
    changes: SceneChanges
    districts: dict[str, str]
    touched: list[str]
    inputs: dict[str, Any]
    ingested: list[str] = field(default_factory=list)
    area: BaseGeometry | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "reason": self.reason,
            "previous": self.previous.name if self.previous else None,
            "crs": self.crs,
            "scene_changes": self.changes.to_json(),
            "ingested": self.ingested,
            "districts_touched": [self.districts[s] for s in self.touched],
            "remapped_area_km2": self.area.area / 1e6 if self.area is not None else None,
            "districts": sorted(self.districts.values()),
            "district_folders": self.districts,
        }


@dataclass(frozen=True)
class RemapResult:
    """The outcome: ``version`` published (None when the plan was ``none``), the plan, and the
    change report (None for a first version)."""

    plan: RemapPlan
    version: MapVersion | None
    report: MapReport | None
    changes_md: Path | None


def _key(name: str) -> str:
    text = slugify(name).replace("-", "")
    return re.sub(r"(district|qu)$", "", text) or name.strip().casefold()


def select_districts(
    table: gpd.GeoDataFrame, names: list[str] | None, source: Path
) -> gpd.GeoDataFrame:
    """The rows of a :func:`read_districts` table named in ``names`` (all when None).

    Names match ignoring case, punctuation and a trailing 'District'/'Qu', so ``"Jiang'an"``
    finds ``"Jiangan District"``.

    Raises:
        ValueError: naming the districts file, the names not found and the names available.
    """
    if not names:
        return table
    keys = {_key(n): i for i, n in enumerate(table["name"])}
    missing = [n for n in names if _key(n) not in keys]
    if missing:
        raise ValueError(
            f"{source}: no district named {', '.join(repr(n) for n in missing)} "
            f"(districts: {', '.join(sorted(table['name']))})"
        )
    return table.iloc[sorted({keys[_key(n)] for n in names})].reset_index(drop=True)


def _inputs_record(config: RemapConfig, crs: str, slugs: list[str]) -> dict[str, Any]:
    return {
        "model_sha256": file_hash(config.model),
        "districts_sha256": file_hash(config.districts),
        "district_field": config.district_field,
        "district_layer": config.district_layer,
        "districts": slugs,
        "crs": crs,
        "mapping": json.loads(config.mapping.model_dump_json(exclude=set(RUNTIME_OPTIONS))),
    }


def plan_remap(config: RemapConfig) -> RemapPlan:
    """Ingest the inbox (if any), scan the scenes and decide what to remap (see module doc).

    Raises:
        FileNotFoundError / ValueError: one line naming a missing or unreadable input.
    """
    for what, path in (("model", config.model), ("districts", config.districts)):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such {what} file")
    # The CRS of scenes whose files give none (MapOptions is typed as a plain model).
    scene_crs: str | None = config.mapping.model_dump()["scene_crs"]
    ingested: list[str] = []
    if config.inbox is not None:
        ingested = [
            p.name
            for p in ingest_inbox(
                config.inbox, config.scenes_dir, config.settle_seconds, scene_crs=scene_crs
            ).accepted
        ]
    table = select_districts(
        read_districts(config.districts, config.district_field, config.district_layer),
        config.district_names,
        config.districts,
    )
    lonlat = tuple(float(v) for v in table.to_crs(4326).total_bounds)
    crs = resolve_crs(config.crs, lonlat)  # type: ignore[arg-type]
    crs_text = crs_name(crs)
    districts = dict(zip(table["slug"], table["name"], strict=True))
    inputs = _inputs_record(config, crs_text, sorted(districts))

    previous = latest_version(config.out)
    old_manifest = None
    if previous is not None and (previous.path / SCENES_JSON).is_file():
        old_manifest = SceneManifest.load(previous.path / SCENES_JSON)
    manifest = scan_scenes(config.scenes_dir, crs, previous=old_manifest, scene_crs=scene_crs)
    changes = diff_scenes(old_manifest, manifest)

    def plan(
        mode: Literal["full", "incremental", "none"],
        reason: str,
        touched: list[str],
        area: BaseGeometry | None = None,
    ) -> RemapPlan:
        return RemapPlan(
            config, crs_text, mode, reason, previous, manifest, changes, districts, touched,
            inputs, ingested, area,
        )  # fmt: skip

    everything = sorted(districts)
    if previous is None or old_manifest is None:
        return plan("full", "no earlier map version", everything)
    if config.full:
        return plan("full", "full remap requested", everything)
    recorded: dict[str, Any] = previous.info().get("inputs") or {}
    differing = sorted(k for k in inputs if recorded.get(k) != inputs[k])
    if differing:
        return plan("full", f"changed since {previous.name}: {', '.join(differing)}", everything)
    if not changes:
        return plan("none", f"no scene changed since {previous.name}", [])
    area = changes.touched_area(old_manifest, manifest)
    geoms = table.to_crs(crs).geometry
    touched = sorted(s for s, g in zip(table["slug"], geoms, strict=True) if g.intersects(area))
    return plan(
        "incremental",
        f"{len(changes.added)} new, {len(changes.changed)} changed, {len(changes.removed)} "
        f"removed scene(s) touch {len(touched)} of {len(districts)} district(s)",
        touched,
        area,
    )


def _map_config(
    plan: RemapPlan,
    districts: Path,
    out: Path,
    layer: str | None,
    field: str,
    base: Path | None = None,
    update_area: Path | None = None,
    resume_dir: Path | None = None,
) -> MapConfig:
    c = plan.config
    return MapConfig(
        model=c.model,
        scenes=[c.scenes_dir / n for n in plan.manifest.scenes],
        districts=districts,
        district_layer=layer,
        district_field=field,
        out=out,
        crs=plan.crs,
        base=base,
        update_area=update_area,
        resume_dir=resume_dir,
        **c.mapping.model_dump(),
    )


def map_version(
    plan: RemapPlan,
    dest: str | os.PathLike[str],
    client: Any = None,
    predictor: Any = None,
    resume_dir: Path | None = None,
) -> MapReport:
    """Write the plan's map into ``dest`` (an empty folder: the version being built).

    Args:
        resume_dir: keep finished batches here, and reuse those a crashed attempt at the same
            plan left (see :mod:`sunet.mapping.resume`).
        client: a ``distributed.Client`` to spread inference over (None: as the mapping
            options say).
        predictor: a model object to use instead of loading ``config.model`` (tests,
            notebooks; see :func:`sunet.mapping.map_districts`).

    Returns:
        The mapping report (``windows_skipped``: windows an incremental plan did not rerun).
    """
    dest = Path(dest)
    c = plan.config
    if plan.mode == "none":
        raise ValueError("map_version: nothing to map (plan mode 'none')")
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=dest.parent))
    try:
        districts, layer, field_name = c.districts, c.district_layer, c.district_field
        if c.district_names is not None:  # map a districts file holding only the selected ones
            table = read_districts(c.districts, c.district_field, c.district_layer)
            subset = table[table["slug"].isin(list(plan.districts))][["name", "geometry"]]
            districts, layer, field_name = work / "districts.gpkg", "districts", "name"
            write_gpkg(subset, districts, layer=layer)
        base = area = None
        if plan.mode == "incremental":
            assert plan.previous is not None and plan.area is not None
            base, area = plan.previous.path, dest / REMAPPED_AREA
            frame = gpd.GeoDataFrame(geometry=[plan.area], crs=plan.crs)
            write_gpkg(frame, area, layer="remapped_area")
        cfg = _map_config(plan, districts, dest, layer, field_name, base, area, resume_dir)
        return map_districts(cfg, predictor=predictor, client=client)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def finish_version(
    plan: RemapPlan, built: str | os.PathLike[str], report: MapReport | None
) -> tuple[MapVersion, Path | None]:
    """Record the plan in ``built``, compare with the previous version, publish.

    Returns:
        The published version and its ``changes/changes.md`` (None for a first version).
    """
    built = Path(built)
    plan.manifest.save(built / SCENES_JSON)
    changes: dict[str, DistrictChange] | None = None
    if plan.previous is not None:
        changes = {}
        for slug, name in plan.districts.items():
            before, after = plan.previous.path / slug / DOMINANT, built / slug / DOMINANT
            if after.is_file():
                changes[name] = compare_rasters(before if before.is_file() else None, after, name)
    info = {
        **plan.to_json(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": plan.inputs,
        "mapping": json.loads(report.model_dump_json()) if report is not None else None,
        "config": json.loads(plan.config.model_dump_json()),
    }
    write_text_atomic(built / VERSION_JSON, json.dumps(info, indent=1) + "\n")

    def finalize(folder: Path, version: MapVersion) -> None:
        # The version's name and place are known now: the change report names both versions,
        # and the records name the version's folder, not the temporary one it was built in.
        if changes is not None and plan.previous is not None:
            write_change_report(changes, folder / CHANGES, plan.previous.name, version.name)
        for record in (folder / name for name in NAMING_RECORDS):
            if record.is_file():
                text = record.read_text(encoding="utf-8")
                write_text_atomic(record, text.replace(str(folder), str(version.path)))
        previous = plan.previous.name if changes is not None and plan.previous else None
        mark_version(folder, version.name, previous, [VERSION_JSON, SCENES_JSON])

    version = publish_version(plan.config.out, built, finalize)
    changes_md = version.path / CHANGES / "changes.md" if changes is not None else None
    if plan.config.keep_versions is not None:
        prune_versions(plan.config.out, plan.config.keep_versions)
    return version, changes_md


def remap(config: RemapConfig, client: Any = None, predictor: Any = None) -> RemapResult:
    """Bring ``config.out`` up to date: plan, map what is needed, publish a new version.

    A run that fails part-way publishes nothing: ``latest`` keeps pointing at the previous
    version, whose manifest still lists the old scenes, so the next run sees the same changes.
    """
    with hold(config.out):
        return _remap(config, client, predictor)


def _remap(config: RemapConfig, client: Any, predictor: Any) -> RemapResult:
    plan = plan_remap(config)
    if plan.mode == "none":
        return RemapResult(plan, None, None, None)
    root = Path(config.out) / "versions"
    root.mkdir(parents=True, exist_ok=True)
    remove_leftovers(root)  # under the root's lock: what killed remaps left, nobody's now
    built = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        report = map_version(plan, built, client=client, predictor=predictor)
        version, changes_md = finish_version(plan, built, report)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    return RemapResult(plan, version, report, changes_md)
