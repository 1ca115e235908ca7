"""Remapping a city as its imagery changes: plan, map, assemble a new version, report changes.

One remap (:func:`remap`, or step by step as the ``lcz-map`` flow does it):

1. :func:`plan_remap` compares the scenes now in the scene folder with the manifest of the latest
   version, and the inputs that shape the whole map (model bytes, district file, district
   selection, CRS, mapping options) with those it recorded. The plan is ``full`` when there is
   no version yet, when asked, or when any of those inputs changed; ``incremental`` when only
   scenes changed; ``none`` when nothing did (no version is written).
2. :func:`map_plan` maps into the new version's folder. A full plan maps everything. An
   incremental plan maps only the **districts whose area the new, changed or removed scenes
   touch** (their old and new footprints), copies the other districts from the previous version
   (hard links: versions are never modified), and rebuilds the city-wide products from the
   districts' abundance rasters, which lie on the one aligned grid of cells. District-level
   granularity is a deliberate fallback: ``map_districts`` has no way yet to recompute only the
   windows a footprint touches inside a district, so a small new scene costs a remap of the
   districts it falls in, not of the city.
3. :func:`finish_version` writes ``scenes.json`` (the manifest), ``version.json`` (plan, inputs,
   mapping summary) and, against the previous version, ``changes/`` (transition matrices and
   changed area per district, see :mod:`sunet.operations.changes`); the version is then
   published and ``latest`` switched (:mod:`sunet.operations.versions`).
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
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd
import numpy as np
import rasterio
from pydantic import BaseModel, ConfigDict, Field
from pyproj import CRS
from rasterio.windows import Window

from sunet.atomic import atomic_dir, write_text_atomic
from sunet.geo.grid import PatchGrid, resolve_crs
from sunet.geo.vector import write_gpkg
from sunet.mapping import MapConfig, MapReport, map_districts
from sunet.mapping.accumulate import ABUNDANCE_NODATA
from sunet.mapping.districts import CITY, read_districts, slugify
from sunet.mapping.products import write_area_products
from sunet.mapping.rasters import StreamingRaster, gdal_env
from sunet.mapping.windows import MapGrid
from sunet.operations.changes import DistrictChange, compare_rasters, write_change_report
from sunet.operations.inbox import (
    SceneChanges,
    SceneManifest,
    diff_scenes,
    ingest_inbox,
    scan_scenes,
    sha256_file,
)
from sunet.operations.options import options_model
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
    "map_plan",
    "plan_remap",
    "remap",
    "select_districts",
]

# MapConfig fields a remap sets itself; the rest are the user's mapping options.
# Options that change where or how fast the map is made, not the map (kept out of the inputs record).
_RUNTIME_OPTIONS = ("progress", "workers", "scheduler", "batch_size")
_MAP_INPUTS = ("model", "scenes", "districts", "district_layer", "district_field", "out", "crs")
if TYPE_CHECKING:  # a model made at import time; type checkers see its base
    MapOptions = BaseModel
else:
    MapOptions = options_model(MapConfig, exclude=_MAP_INPUTS, name="MapOptions")
DOMINANT = "lcz_dominant.tif"
ABUNDANCE = "lcz_abundance.tif"
SCENES_JSON = "scenes.json"
CHANGES = "changes"


class RemapConfig(BaseModel):
    """One city kept up to date under ``out`` (versions, ``latest``)."""

    model_config = ConfigDict(extra="forbid")

    out: Path = Field(description="Map root: versions/vNNNN/, latest.json and the latest link.")
    scenes_dir: Path = Field(description="Folder of the city's scenes (.tif/.tiff).")
    districts: Path = Field(description="District polygons (any CRS).")
    district_field: str = Field(default="name", description="Attribute naming each district.")
    district_layer: str | None = Field(default=None, description="Layer of the districts file.")
    district_names: list[str] | None = Field(
        default=None,
        description="Map only these districts (matched ignoring case, punctuation and a "
        "'District' suffix); None = all.",
    )
    model: Path = Field(description="Model bundle (.safetensors).")
    crs: str = Field(default="auto", description="Map CRS: 'auto' (UTM zone) or e.g. 'EPSG:32650'.")
    inbox: Path | None = Field(
        default=None,
        description="Folder where new scenes arrive; moved into scenes_dir when settled.",
    )
    settle_seconds: float = Field(
        default=30.0,
        ge=0,
        description="An inbox file must be unchanged this long before it is taken.",
    )
    full: bool = Field(
        default=False, description="Remap everything even if only some scenes changed."
    )
    keep_versions: int | None = Field(
        default=None,
        ge=1,
        description="Delete all but this many newest versions (None = keep all).",
    )
    mapping: MapOptions = Field(
        default_factory=MapOptions, description="Mapping options (see MapConfig)."
    )


@dataclass
class RemapPlan:
    """What a remap will do; JSON-ready through :meth:`to_json`.

    Attributes:
        mode: ``full``, ``incremental`` or ``none``; reason: why, in words.
        previous: the latest version when planned (None before the first).
        manifest: the scenes now; changes: against the previous version's manifest.
        districts: slugs -> names of all districts selected; touched: the slugs to map.
        inputs: the record of whole-map inputs (compared on the next remap).
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

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "reason": self.reason,
            "previous": self.previous.name if self.previous else None,
            "crs": self.crs,
            "scene_changes": self.changes.to_json(),
            "ingested": self.ingested,
            "districts_mapped": [self.districts[s] for s in self.touched],
            "districts": sorted(self.districts.values()),
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
        "model_sha256": sha256_file(config.model),
        "districts_sha256": sha256_file(config.districts),
        "district_field": config.district_field,
        "district_layer": config.district_layer,
        "districts": slugs,
        "crs": crs,
        "mapping": json.loads(config.mapping.model_dump_json(exclude=set(_RUNTIME_OPTIONS))),
    }


def plan_remap(config: RemapConfig) -> RemapPlan:
    """Ingest the inbox (if any), scan the scenes and decide what to remap (see module doc).

    Raises:
        FileNotFoundError / ValueError: one line naming a missing or unreadable input.
    """
    for what, path in (("model", config.model), ("districts", config.districts)):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such {what} file")
    ingested: list[str] = []
    if config.inbox is not None:
        ingested = [
            p.name
            for p in ingest_inbox(config.inbox, config.scenes_dir, config.settle_seconds).accepted
        ]
    table = select_districts(
        read_districts(config.districts, config.district_field, config.district_layer),
        config.district_names,
        config.districts,
    )
    lonlat = tuple(float(v) for v in table.to_crs(4326).total_bounds)
    crs = resolve_crs(config.crs, lonlat)  # type: ignore[arg-type]
    crs_name = f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else crs.to_wkt()
    districts = dict(zip(table["slug"], table["name"], strict=True))
    inputs = _inputs_record(config, crs_name, sorted(districts))

    previous = latest_version(config.out)
    old_manifest = None
    if previous is not None and (previous.path / SCENES_JSON).is_file():
        old_manifest = SceneManifest.load(previous.path / SCENES_JSON)
    manifest = scan_scenes(config.scenes_dir, crs, previous=old_manifest)
    changes = diff_scenes(old_manifest, manifest)

    def plan(
        mode: Literal["full", "incremental", "none"], reason: str, touched: list[str]
    ) -> RemapPlan:
        return RemapPlan(
            config, crs_name, mode, reason, previous, manifest, changes, districts, touched,
            inputs, ingested,
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
    )


def _map_config(
    plan: RemapPlan, districts: Path, out: Path, layer: str | None, field: str
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
        **c.mapping.model_dump(),
    )


def map_plan(
    plan: RemapPlan, dest: str | os.PathLike[str], client: Any = None, predictor: Any = None
) -> MapReport | None:
    """Write the plan's map into ``dest`` (an empty folder: the version being built).

    Args:
        client: a ``distributed.Client`` to spread inference over (None: as the mapping
            options say).
        predictor: a model object to use instead of loading ``config.model`` (tests,
            notebooks; see :func:`sunet.mapping.map_districts`).

    Returns:
        The mapping report of what was inferred (None if an incremental plan touched nothing).
    """
    dest = Path(dest)
    c = plan.config
    if plan.mode == "none":
        raise ValueError("map_plan: nothing to map (plan mode 'none')")
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=dest.parent))
    try:
        selected = c.district_names is not None or plan.mode == "incremental"
        if not plan.touched:
            report = None
        elif selected:
            # Map a districts file holding only the wanted districts.
            table = read_districts(c.districts, c.district_field, c.district_layer)
            subset = table[table["slug"].isin(plan.touched)][["name", "geometry"]]
            write_gpkg(subset, work / "districts.gpkg", layer="districts")
            target = dest if plan.mode == "full" else work / "map"
            cfg = _map_config(plan, work / "districts.gpkg", target, "districts", "name")
            report = map_districts(cfg, predictor=predictor, client=client)
        else:
            cfg = _map_config(plan, c.districts, dest, c.district_layer, c.district_field)
            report = map_districts(cfg, predictor=predictor, client=client)
        if plan.mode == "incremental":
            _assemble_incremental(plan, work / "map", dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _link_tree(src: Path, dst: Path) -> None:
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:  # another file system, or no hard links: copy
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link)


def _assemble_incremental(plan: RemapPlan, mapped: Path, dest: Path) -> None:
    assert plan.previous is not None
    prev = plan.previous.path
    for slug in plan.districts:
        if slug in plan.touched:
            os.replace(mapped / slug, dest / slug)
        else:
            _link_tree(prev / slug, dest / slug)
    record = json.loads((prev / "config.json").read_text(encoding="utf-8"))
    record["config"]["scenes"] = [
        str((plan.config.scenes_dir / n).resolve()) for n in plan.manifest.scenes
    ]
    write_text_atomic(dest / "config.json", json.dumps(record, indent=2) + "\n")
    if plan.touched:
        _rebuild_city(dest, record, plan.config.mapping.model_dump())
    else:
        _link_tree(prev / CITY, dest / CITY)


def _rebuild_city(dest: Path, record: dict[str, Any], mapping: dict[str, Any]) -> None:
    """City products from the districts' abundance rasters (all on the city's aligned grid).

    Every mapped cell belongs to the district containing its centre, so the districts' rasters
    tile the city's cells exactly; the city's own abundance raster is that mosaic.
    """
    g = record["grid"]
    city = MapGrid(
        PatchGrid(CRS.from_user_input(g["crs"]), float(g["gsd_m"]), int(g["stride_px"])),
        range(*g["rows"]),
        range(*g["cols"]),
        int(g["patch_px"]),
    )
    sources = [dest / slug / ABUNDANCE for slug in record["districts"]]
    work = dest / ".work-city_abundance.tif"
    block = 256
    try:
        with gdal_env():
            with StreamingRaster(
                work, crs=city.crs, transform=city.transform, width=city.width,
                height=city.height, count=17, dtype="float32", nodata=ABUNDANCE_NODATA,
            ) as raster:  # fmt: skip
                for r0 in range(0, city.height, block):
                    rows = min(block, city.height - r0)
                    data = np.full((17, rows, city.width), ABUNDANCE_NODATA, dtype=np.float32)
                    for src_path in sources:
                        _paste(src_path, city, r0, data)
                    raster.write_rows(r0, data)
            with atomic_dir(dest / CITY) as tmp:
                write_area_products(
                    work, city, city, None, tmp, CITY,
                    wudapt_resolution=float(mapping["wudapt_resolution_deg"]),
                    cells_layer=bool(mapping["cells_layer"]),
                )  # fmt: skip
    finally:
        work.unlink(missing_ok=True)


def _paste(src_path: Path, city: MapGrid, r0: int, data: np.ndarray) -> None:
    """Copy the valid cells of one district raster that fall in city rows r0.. into ``data``."""
    with rasterio.open(src_path) as src:
        left, top = src.transform.c, src.transform.f
        s = city.cell_size
        cl, _, _, ct = city.bounds
        col0 = round((left - cl) / s)
        row0 = round((ct - top) / s)
        a0, a1 = max(r0, row0), min(r0 + data.shape[1], row0 + src.height)
        if a1 <= a0:
            return
        part = src.read(window=Window(0, a0 - row0, src.width, a1 - a0))
    c0, c1 = max(0, col0), min(city.width, col0 + part.shape[2])
    part = part[:, :, c0 - col0 : c1 - col0]
    region = data[:, a0 - r0 : a1 - r0, c0:c1]
    valid = part[0] != ABUNDANCE_NODATA
    region[:, valid] = part[:, valid]


def finish_version(
    plan: RemapPlan, built: str | os.PathLike[str], report: MapReport | None
) -> tuple[MapVersion, Path | None]:
    """Record the plan in ``built``, compare with the previous version, publish.

    Returns:
        The published version and its ``changes/changes.md`` (None for a first version).
    """
    built = Path(built)
    plan.manifest.save(built / SCENES_JSON)
    changes_md = None
    if plan.previous is not None:
        changes: dict[str, DistrictChange] = {}
        for slug, name in plan.districts.items():
            before, after = plan.previous.path / slug / DOMINANT, built / slug / DOMINANT
            if before.is_file() and after.is_file():
                changes[name] = compare_rasters(before, after, name)
        changes_md = write_change_report(changes, built / CHANGES, plan.previous.name)
    info = {
        **plan.to_json(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": plan.inputs,
        "mapping": json.loads(report.model_dump_json()) if report is not None else None,
        "config": json.loads(plan.config.model_dump_json()),
    }
    write_text_atomic(built / VERSION_JSON, json.dumps(info, indent=1) + "\n")
    version = publish_version(plan.config.out, built)
    if changes_md is not None:
        changes_md = version.path / CHANGES / "changes.md"
    if plan.config.keep_versions is not None:
        prune_versions(plan.config.out, plan.config.keep_versions)
    return version, changes_md


def remap(config: RemapConfig, client: Any = None, predictor: Any = None) -> RemapResult:
    """Bring ``config.out`` up to date: plan, map what is needed, publish a new version.

    A run that fails part-way publishes nothing: ``latest`` keeps pointing at the previous
    version, whose manifest still lists the old scenes, so the next run sees the same changes.
    """
    plan = plan_remap(config)
    if plan.mode == "none":
        return RemapResult(plan, None, None, None)
    root = Path(config.out) / "versions"
    root.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        report = map_plan(plan, built, client=client, predictor=predictor)
        version, changes_md = finish_version(plan, built, report)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    return RemapResult(plan, version, report, changes_md)
