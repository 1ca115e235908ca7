"""``lcz-map``: keep a city's LCZ map up to date (tile -> train if needed -> map -> report).

Top to bottom, each step one library call:

1. inputs: the synthetic city is generated if asked for and absent; missing data stops the run
   with one line naming every missing input;
2. model: the one given, or one trained earlier on the same labels, or tile + train now
   (:func:`sunet.operations.provenance.choose_model`: retraining follows the labels and tiling
   options, not new imagery); a newly trained model is scored on the test split;
3. map: plan against the latest map version (new scenes from the inbox, changed inputs), map only
   the districts that new or changed scenes touch (or all of them on a first run / new model),
   write the urban canopy parameters of every area of it and its district analysis
   (``analysis/index.html``, :mod:`sunet.analysis`), publish
   ``OUT/versions/vNNNN`` and switch ``latest`` (:mod:`sunet.operations.remap`);
4. report: Prefect artifacts with the model's metrics, the tiling report, the map (quicklook,
   per-district classes, a link to its district analysis) and the changes since the previous
   version.

Resuming: tiling and training are cached on the content of their inputs (:mod:`flows.caching`);
mapping builds in ``versions/.build-<plan key>``, which a rerun of the same plan finds complete
and publishes without mapping again. Only tasks that move or read files retry.
"""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE, TASK_SOURCE
from prefect.utilities.hashing import hash_objects
from pydantic import BaseModel, Field

from flows.caching import FileContents
from flows.city import city_parameters
from flows.runners import retry_transient, task_runner
from flows.tile import tile_flow
from flows.train import metrics_rows, train_model
from sunet.analysis.config import ANALYSIS_DIR, ANALYSIS_PAGE
from sunet.evaluation.config import AssessConfig
from sunet.hashing import file_hash
from sunet.mapping import MapReport
from sunet.mapping.report import area_table, read_area
from sunet.operations.provenance import choose_model, labels_key, record_provenance
from sunet.operations.remap import (
    CHANGES,
    MapOptions,
    RemapConfig,
    RemapPlan,
    finish_version,
    map_version,
    plan_remap,
)
from sunet.operations.versions import MapVersion
from sunet.options import default_of, mirrors, options_model
from sunet.synth.config import SynthConfig
from sunet.tiling import TileConfig
from sunet.training.config import TrainConfig

__all__ = ["CityData", "TileOptions", "TrainOptions", "lcz_map", "remap_flow"]

if TYPE_CHECKING:  # models made at import time; type checkers see their base
    TileOptions = BaseModel
    TrainOptions = BaseModel
else:
    TileOptions = options_model(
        TileConfig, exclude=("scenes", "labels", "out", "crs"), name="TileOptions"
    )
    TrainOptions = options_model(TrainConfig, exclude=("patches", "out"), name="TrainOptions")
BUNDLE_NAME = "model.safetensors"  # sunet.training.trainer.BUNDLE_NAME, without importing torch
_QUICKLOOK_MAX_BYTES = 1 << 20


# -- tasks ------------------------------------------------------------------------------------


@task(name="generate-city", cache_policy=NO_CACHE)
def generate_city_task(config: SynthConfig, out: Path) -> Path:
    from sunet.synth import generate_city

    generate_city(config, out)
    return out


@task(
    name="evaluate", cache_policy=TASK_SOURCE + FileContents(outputs=("out",)), persist_result=True
)
def evaluate_task(bundle: Path, patches: Path, out: Path) -> dict[str, Any]:
    """Score the bundle on the test split (metrics also go into the bundle)."""
    from sunet.evaluation.evaluate import EvaluateConfig, evaluate

    try:
        return dict(evaluate(EvaluateConfig(model=bundle, patches=patches, split="test", out=out)))
    except ValueError as e:  # a tiny store may have an empty test split: report, do not fail
        get_run_logger().warning(f"evaluation skipped: {e}")
        return {}


@task(name="assess-map", cache_policy=NO_CACHE)
def assess_task(built: Path, reference: Path, field: str) -> dict[str, Any]:
    """Assess the new map against reference polygons, into the version's ``assessment/``."""
    from sunet.evaluation.assess import assess

    config = AssessConfig(map=built, reference=reference, field=field, out=built / "assessment")
    return assess(config).model_dump(mode="json")


@task(name="write-parameters", cache_policy=NO_CACHE)
def parameters_task(built: Path) -> list[str]:
    """Urban canopy parameter rasters of every area of the new map, into its area folders."""
    from sunet.analysis import ParametersConfig, write_parameters

    return write_parameters(ParametersConfig(map=built)).areas


@task(name="analyse", cache_policy=NO_CACHE)
def analyse_task(built: Path, previous: Path | None) -> Path:
    """The district analysis of the new map against the previous version (tables, figures and
    its page), into its ``analysis/``; returns the page."""
    from sunet.analysis.config import AnalyseConfig
    from sunet.analysis.report import analyse

    return analyse(AnalyseConfig(map=built, previous=previous)).page


@task(
    name="plan-remap",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_transient,
)
def plan_task(config: RemapConfig) -> RemapPlan:
    """Ingest the inbox, scan scenes, compare with the latest version (file I/O: retried)."""
    return plan_remap(config)


def _plan_key(plan: RemapPlan) -> str:
    return str(
        hash_objects(
            plan.config.model_dump(mode="json"),
            plan.inputs,
            plan.manifest.model_dump(mode="json"),
            plan.mode,
            plan.touched,
            plan.previous.name if plan.previous else None,
            raise_on_failure=True,
        )
    )


def _map_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    return _plan_key(parameters["plan"])


@task(name="map", cache_key_fn=_map_cache_key, persist_result=True)
def map_task(plan: RemapPlan, built: Path) -> MapReport | None:
    """Map what the plan asks into ``built``, spreading inference over the flow's Dask cluster."""
    if built.exists():  # a crashed attempt's partial products: written again ...
        shutil.rmtree(built)
    built.mkdir(parents=True)
    resume = _resume_dir(built)  # ... from the batches it finished, kept here
    if not _on_dask_worker():
        return map_version(plan, built, resume_dir=resume)
    from prefect_dask import get_dask_client

    with get_dask_client() as client:
        return map_version(plan, built, client=client, resume_dir=resume)


def _resume_dir(built: Path) -> Path:
    return built.with_name(built.name.replace(".build-", ".resume-", 1))


def _on_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


@task(name="publish-version", cache_policy=NO_CACHE)
def publish_task(
    plan: RemapPlan, built: Path, report: MapReport | None
) -> tuple[MapVersion, Path | None]:
    return finish_version(plan, built, report)


# -- flow -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CityData:
    """Where a city's data is, once resolved: ``labels`` None means map with the given model."""

    scenes_dir: Path
    districts: Path
    labels: Path | None


def resolve_data(
    city: str,
    out: Path,
    scenes_dir: Path | None,
    labels: Path | None,
    districts: Path | None,
    model: Path | None,
    synthetic: SynthConfig | None,
    may_train: bool = True,
) -> CityData:
    """Fill data locations from the synthetic city (generated if absent); raise one line naming
    every missing input otherwise (labels only where a model may be trained from them)."""
    if synthetic is not None:
        generated = out / "city"
        if not (generated / "city.json").is_file():
            generate_city_task(synthetic, generated)
        scenes_dir = scenes_dir or generated / "scenes"
        labels = labels or (generated / "labels.gpkg" if model is None else None)
        districts = districts or generated / "districts.gpkg"
    checks: list[tuple[str, Path | None, str]] = [
        ("scenes_dir", scenes_dir, "folder"),
        ("districts", districts, "file"),
    ]
    if model is not None:
        checks.append(("model", model, "file"))
    if may_train and (model is None or labels is not None):
        checks.append(("labels", labels, "file"))
    missing = []
    for name, path, kind in checks:
        if path is None:
            missing.append(f"{name} (not set)")
        elif not (path.is_dir() if kind == "folder" else path.is_file()):
            missing.append(f"{name} ({path}: no such {kind})")
    if missing:
        raise FileNotFoundError(f"lcz-map/{city}: missing input(s): {'; '.join(missing)}")
    assert scenes_dir is not None and districts is not None
    return CityData(scenes_dir, districts, labels)


def _newest_trained(models_dir: Path) -> Path | None:
    """The most recently finished bundle the pipeline trained for this city, if any."""
    found = [p for p in models_dir.glob(f"*/{BUNDLE_NAME}") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _ready_train_dir(config: TrainConfig) -> TrainConfig:
    """A training folder an interrupted run left behind is resumed when its configuration is
    the same, and moved aside (``<folder>.interrupted-<time>``) otherwise, never a lasting
    block for later runs."""
    if not (config.out / "checkpoint").exists() or (config.out / BUNDLE_NAME).is_file():
        return config
    from sunet.training.checkpoint import check_run_folder

    resumed = config.model_copy(update={"resume": True})
    try:
        check_run_folder(resumed)
        print(f"training: resuming the interrupted run in {config.out}")
        return resumed
    except (ValueError, OSError) as e:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = config.out.with_name(f"{config.out.name}.interrupted-{stamp}")
        config.out.rename(aside)
        print(f"training: {e}; the interrupted run moved to {aside}")
        return config


def model_for(
    data: CityData,
    out: Path,
    model: Path | None,
    crs: str,
    tiling: BaseModel,
    training: BaseModel,
    evaluate: bool,
    runner: Any,
    may_train: bool = True,
) -> tuple[Path, Path | None]:
    """The bundle to map with (given, trained earlier on the same labels, or trained now), and
    the patch store if one was made now. With ``may_train`` False (an automatic run) nothing is
    trained: the given model, else the newest one trained for the city, else a one-line error."""
    models_dir = out / "work" / "models"
    if not may_train:
        bundle = model if model is not None else _newest_trained(models_dir)
        if bundle is None:
            raise RuntimeError(
                f"no model to map with: {models_dir} holds none and automatic runs do not "
                "train; set 'model' in the city file, run lcz-map once by hand to train one, "
                "or set automatic_training: true"
            )
        if not bundle.is_file():
            raise FileNotFoundError(f"{bundle}: model bundle not found")
        print(f"model: {bundle} (automatic run: mapping with the city's current model)")
        return bundle, None
    options: dict[str, Any] = {**tiling.model_dump(mode="json"), "crs": crs}
    start = getattr(training, "init_from", None)
    if start is not None:  # a model fine-tuned from another bundle is a different model
        options["init_from"] = file_hash(start, tagged=True)
    key = labels_key(data.labels, options) if data.labels is not None else None
    choice = choose_model(model, models_dir, key, BUNDLE_NAME)
    print(f"model: {choice.reason}")
    if choice.bundle is not None:
        return choice.bundle, None
    assert data.labels is not None and key is not None
    store = out / "work" / "patches"
    tile_cfg = TileConfig(
        scenes=[data.scenes_dir], labels=data.labels, out=store, crs=crs, **tiling.model_dump()
    )
    tile_flow.with_options(task_runner=runner)(tile_cfg)
    train_cfg = TrainConfig(patches=store, out=choice.train_dir, **training.model_dump())
    bundle = train_model(_ready_train_dir(train_cfg))
    record_provenance(bundle, key, data.labels, options)
    if evaluate:
        evaluate_task(bundle, store, choice.train_dir / "evaluation")
    return bundle, store


@flow(name="lcz-map", log_prints=True)
@mirrors(
    district_field=(RemapConfig, "district_field"),
    reference_field=(AssessConfig, "field"),
    crs=(RemapConfig, "crs"),
    settle_seconds=(RemapConfig, "settle_seconds"),
    keep_versions=(RemapConfig, "keep_versions"),
    district_names=(RemapConfig, "district_names"),
    inbox=(RemapConfig, "inbox"),
    full_remap=(RemapConfig, "full"),
)
def lcz_map(
    city: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")] = "city",
    config_file: Path | None = None,
    out: Path = Path("runs/city"),
    scenes_dir: Path | None = None,
    labels: Path | None = None,
    districts: Path | None = None,
    district_field: str = default_of(RemapConfig, "district_field"),
    district_names: list[str] | None = None,
    model: Path | None = None,
    init_from: Path | None = None,
    reference: Path | None = None,
    reference_field: str = default_of(AssessConfig, "field"),
    crs: str = default_of(RemapConfig, "crs"),
    inbox: Path | None = None,
    settle_seconds: float = default_of(RemapConfig, "settle_seconds"),
    full_remap: bool = default_of(RemapConfig, "full"),
    keep_versions: int | None = default_of(RemapConfig, "keep_versions"),
    synthetic: SynthConfig | None = None,
    tiling: TileOptions | None = None,
    training: TrainOptions | None = None,
    mapping: MapOptions | None = None,
    evaluate: bool = True,
    dask_address: str | None = None,
    dask_workers: int = 2,
    started_by: Literal["manual", "schedule", "event"] = "manual",
    automatic_training: bool = False,
) -> dict[str, Any]:
    """Bring a city's LCZ map up to date: tile -> train if needed -> map what changed -> report.

    Args:
        city: City name, lower case: names the artifacts and the event resource lcz.city.<city>.
        config_file: The city's file (data/<city>/lcz-map.yaml): these parameters for that
            city; a value passed explicitly on a run wins over it.
        out: Map root: versions/vNNNN/, latest.json, the latest link, work/ (patches, models).
        scenes_dir: Folder of the city's scene GeoTIFFs.
        labels: LCZ label polygons (field lcz); without them a model must be given.
        districts: District polygons (field district_field).
        district_field: {district_field}
        district_names: {district_names}
        model: Model bundle to map with; None = train one, or reuse the one trained on the
            same labels.
        init_from: When a model is trained: fine-tune this bundle (e.g. one trained on
            another city) on the labels instead of training from scratch.
        reference: Independent reference polygons: every new map version is assessed against
            them (OA, kappa, WUDAPT figures with bootstrap intervals), published as an artifact
            and saved in the version's assessment/.
        reference_field: {reference_field}
        crs: {crs} Also the CRS of the patches when a model is trained.
        inbox: {inbox}
        settle_seconds: {settle_seconds}
        full_remap: {full_remap}
        keep_versions: {keep_versions}
        synthetic: Generate this synthetic city into OUT/city if absent and use its scenes,
            labels and districts where those are not given (the demo).
        tiling: Tiling options (patch size, GSD, purity ...; scenes, labels, output set here).
        training: Training options (preset, epochs, batch size ...).
        mapping: Mapping options (stride, batch size ...).
        evaluate: Score a newly trained model on the test split.
        dask_address: Dask scheduler for tiling and mapping (None = $LCZ_DASK_ADDRESS, else a
            local cluster).
        dask_workers: Processes of the local Dask cluster (0 = none: run in threads).
        started_by: Who started the run: 'manual', or the deployment's 'schedule' or 'event'
            trigger (set by them).
        automatic_training: Runs started by the schedule or an event may tile and train a
            model; otherwise they map with the given model or the newest one trained for the
            city, and never start a training run nobody asked for.
    """
    parameters = dict(locals())
    try:
        if config_file is not None:
            parameters = city_parameters(parameters, lcz_map, config_file)
        return _update_city(parameters)
    except Exception as e:
        _report_failure(str(parameters.get("city", city)), str(parameters.get("started_by")), e)
        raise


def _update_city(p: dict[str, Any]) -> dict[str, Any]:
    """The body of :func:`lcz_map`, given its parameters once the city file is merged in."""
    city, out, model = p["city"], p["out"], p["model"]
    may_train = p["started_by"] == "manual" or p["automatic_training"]
    data = resolve_data(
        city, out, p["scenes_dir"], p["labels"], p["districts"], model, p["synthetic"], may_train
    )
    if p["inbox"] is not None:
        p["inbox"].mkdir(parents=True, exist_ok=True)
    runner = task_runner(p["dask_address"], p["dask_workers"])
    training = p["training"] or TrainOptions()
    if p["init_from"] is not None:
        training = training.model_copy(update={"init_from": p["init_from"]})
    tiling = p["tiling"] or TileOptions()
    bundle, store = model_for(
        data, out, model, p["crs"], tiling, training, p["evaluate"], runner, may_train
    )
    publish_model_report(city, bundle, store)
    config = RemapConfig(
        out=out,
        scenes_dir=data.scenes_dir,
        districts=data.districts,
        district_field=p["district_field"],
        district_names=p["district_names"],
        model=bundle,
        crs=p["crs"],
        inbox=p["inbox"],
        settle_seconds=p["settle_seconds"],
        full=p["full_remap"],
        keep_versions=p["keep_versions"],
        mapping=p["mapping"] or MapOptions(),
    )
    result = remap_flow.with_options(task_runner=runner)(
        config, city, p["reference"], p["reference_field"], publish=False
    )
    if result.get("version"):  # on the run the user started, not only on the child run
        publish_version_report(city, MapVersion(Path(config.out), int(result["version"][1:])))
    return result


def _report_failure(city: str, started_by: str, error: BaseException) -> None:
    """Log the one-line reason and leave an artifact saying what to fix."""
    line = " ".join(str(error).split()) or type(error).__name__
    try:
        get_run_logger().error(f"lcz-map/{city} failed: {type(error).__name__}: {line}")
        create_markdown_artifact(
            f"# lcz-map/{city}: run failed\n\n- started by: {started_by}\n"
            f"- reason: `{type(error).__name__}: {line}`\n\nFix the input named above (or the "
            "city file) and run again; `latest` still points at the last complete version.\n",
            key=f"{city}-failure",
            description=f"Why the last run of lcz-map/{city} failed",
        )
    except Exception:  # reporting must never hide the error itself
        pass


@flow(name="lcz-remap", log_prints=True)
def remap_flow(
    config: RemapConfig,
    city: str = "city",
    reference: Path | None = None,
    reference_field: str = default_of(AssessConfig, "field"),
    publish: bool = True,
) -> dict[str, Any]:
    """Plan, map, derive its urban canopy parameters, analyse it per district, assess (with
    ``reference``) and publish one map version, then report it (the map half of ``lcz-map``; ``publish`` False leaves the report
    artifacts to the caller, with a link here)."""
    plan = plan_task(config)
    print(f"plan: {plan.mode}: {plan.reason}")
    result: dict[str, Any] = {"plan": plan.to_json(), "version": None, "model": str(config.model)}
    if plan.mode == "none":
        return result
    key = _plan_key(plan)
    built = Path(config.out) / "versions" / f".build-{key[:16]}"
    _forget_other_builds(built)
    report = map_task.with_options(refresh_cache=not built.is_dir())(plan, built)
    shutil.rmtree(_resume_dir(built), ignore_errors=True)  # the finished build is kept instead
    parameters_task(built)
    analyse_task(built, plan.previous.path if plan.previous is not None else None)
    assessment = assess_task(built, reference, reference_field) if reference else None
    version, _ = publish_task(plan, built, report)
    result["version"] = version.name
    if assessment is not None:
        result["assessment"] = assessment["figures"]
    if publish:
        publish_version_report(city, version)
    else:
        _link_to_parent(city, version)
    print(f"published {version.name} ({plan.mode}) at {version.path}")
    return result


def _link_to_parent(city: str, version: MapVersion) -> None:
    """On a child run: a link to the run that started it, which holds the reports."""
    from prefect.runtime import flow_run

    parent = flow_run.parent_flow_run_id
    ui = flow_run.ui_url
    if parent and ui:
        link = ui.rsplit("/", 1)[0] + f"/{parent}"
        create_markdown_artifact(
            f"{version.name} of {city} published; its map, changes and assessment are on the "
            f"[run that started this one]({link}).",
            key=f"{city}-remap-link",
            description=f"Reports of {version.name} on the parent run",
        )


def _forget_other_builds(keep: Path) -> None:
    # Builds of older plans can never be published (their plan is stale): free the space.
    for pattern, mine in ((".build-*", keep), (".resume-*", _resume_dir(keep))):
        for other in keep.parent.glob(pattern):
            if other != mine:
                shutil.rmtree(other, ignore_errors=True)


# -- artifacts --------------------------------------------------------------------------------


def publish_model_report(city: str, bundle: Path, store: Path | None) -> None:
    """Artifacts of the model: its metrics table and, when it was just trained, the tiling
    report of its patch store."""
    rows = metrics_rows(bundle)
    if rows:
        create_table_artifact(rows, key=f"{city}-metrics", description=f"Metrics of {bundle}")
    report = store / "report.json" if store is not None else None
    if report is not None and report.is_file():
        from sunet.tiling import TileReport

        table = TileReport.model_validate_json(report.read_text(encoding="utf-8")).table()
        create_markdown_artifact(
            f"```\n{table}\n```", key=f"{city}-tiling", description=f"Patch store {store}"
        )


def publish_version_report(city: str, version: MapVersion) -> None:
    """Artifacts of a published map version, read from its folder: quicklook and classes per
    district, the changes, how unlike the training data each scene looks, and the assessment
    against reference polygons."""
    version_dir = version.path
    info = version.info()
    create_markdown_artifact(
        _map_markdown(city, info, version), key=f"{city}-map", description=f"LCZ map {version.name}"
    )
    scenes = (info.get("mapping") or {}).get("scenes") or []
    if scenes:
        flagged = sum(bool(s["flagged"]) for s in scenes)
        create_table_artifact(
            scenes,
            key=f"{city}-scene-novelty",
            description=f"{flagged} of {len(scenes)} scenes unlike the model's training "
            "data (unfamiliar_share: windows beyond its held-out 99th percentile)",
        )
    assessed = version_dir / "assessment" / "assessment.json"
    if assessed.is_file():
        assessment = json.loads(assessed.read_text(encoding="utf-8"))
        rows = [
            {"figure": k, "value": v, "low": assessment["intervals"][k][0],
             "high": assessment["intervals"][k][1]}
            for k, v in assessment["figures"].items()
        ]  # fmt: skip
        create_table_artifact(
            rows,
            key=f"{city}-assessment",
            description=f"{version.name} against {assessment['reference']}: "
            f"{assessment['cells']} cells in {assessment['polygons']} polygons "
            f"({round(100 * assessment['confidence'])} % bootstrap intervals)",
        )
    changes_md = version_dir / CHANGES / "changes.md"
    if changes_md.is_file():
        create_markdown_artifact(
            changes_md.read_text(encoding="utf-8"),
            key=f"{city}-changes",
            description=f"Changes {info.get('previous') or '?'} -> {version.name}",
        )


def _map_markdown(city: str, info: dict[str, Any], version: MapVersion) -> str:
    folders: dict[str, str] = info.get("district_folders") or {}
    lines = [
        f"# {city}: LCZ map {version.name}",
        "",
        f"- mode: **{info.get('mode')}** ({info.get('reason')})",
        f"- folder: `{version.path}`",
        f"- districts touched: {', '.join(info.get('districts_touched') or []) or 'none'}",
    ]
    page = version.path / ANALYSIS_DIR / ANALYSIS_PAGE
    if page.is_file():
        lines.append(
            f"- district analysis: [{ANALYSIS_DIR}/{ANALYSIS_PAGE}]({page.resolve().as_uri()}) "
            "(composition by dominant class and by abundance, mixing, urban canopy parameters, "
            "changes since the previous version)"
        )
    lines.append("")
    quicklook = version.path / "city" / "quicklook.png"
    if quicklook.is_file():
        data = quicklook.read_bytes()
        if len(data) <= _QUICKLOOK_MAX_BYTES:
            lines.append(f"![quicklook](data:image/png;base64,{base64.b64encode(data).decode()})")
        lines += ["", f"Quicklook: `{quicklook}`", ""]
    areas = [
        read_area(version.path / slug, name) or (name, None)
        for slug, name in sorted(folders.items(), key=lambda kv: kv[1])
    ]
    return "\n".join(lines) + "\n" + area_table(areas) + "\n"
