"""Deployment declarations, flow parameters and task cache keys (no server needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from prefect.utilities.callables import parameter_schema

from flows.caching import fingerprint
from flows.city import CITY_CONFIG
from flows.deployments import build_deployments
from flows.lcz_map import lcz_map, resolve_data

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def deployments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    data = tmp_path_factory.mktemp("data")
    (data / "wuhan").mkdir()
    shutil.copy(REPO / "data" / "wuhan" / CITY_CONFIG, data / "wuhan" / CITY_CONFIG)
    (data / "paris").mkdir()
    (data / "paris" / CITY_CONFIG).write_text(
        "crs: EPSG:2154\ndeployment: {schedule: null, watch_inbox: null}\n"
    )
    (data / "empty").mkdir()  # no city file: not a city
    return {f"{d.flow_name}/{d.name}": d for d in build_deployments(data, Path("/r"))}


def test_deployments_declared(deployments: dict[str, object]) -> None:
    assert sorted(deployments) == [
        "lcz-inbox/wuhan", "lcz-map/demo", "lcz-map/paris", "lcz-map/wuhan"
    ]  # fmt: skip
    wuhan = deployments["lcz-map/wuhan"]
    params = wuhan.parameters  # type: ignore[attr-defined]
    # Only the city and its file: everything else is read from the file on every run.
    assert sorted(params) == ["city", "config_file"]
    assert params["config_file"].endswith("wuhan/lcz-map.yaml")
    # Remapped on the file's schedule and on the imagery event, one run at a time; both say
    # they are automatic, so that they never train unless the file allows it.
    (schedule,) = wuhan.schedules  # type: ignore[attr-defined]
    assert schedule.slug == "scheduled-remap"
    assert schedule.parameters == {"started_by": "schedule"}
    assert schedule.schedule.timezone == "Asia/Shanghai"
    (trigger,) = wuhan.triggers  # type: ignore[attr-defined]
    assert trigger.expect == {"lcz.imagery.arrived"}
    assert trigger.match.model_dump()["prefect.resource.id"] == "lcz.city.wuhan"
    assert trigger.parameters == {"started_by": "event"}
    assert wuhan.concurrency_limit == 1  # type: ignore[attr-defined]
    paris = deployments["lcz-map/paris"]
    assert paris.schedules == []  # type: ignore[attr-defined]
    # Every schedule has a slug, so a redeploy updates it instead of adding a copy.
    for d in deployments.values():
        assert all(s.slug for s in d.schedules)  # type: ignore[attr-defined]


def test_parameters_render_as_a_form() -> None:
    schema = parameter_schema(lcz_map).model_dump()
    props = schema["properties"]
    assert "Folder of the city's scene GeoTIFFs" in props["scenes_dir"]["description"]
    # Option groups are typed sub-forms carrying the stage configs' own field descriptions.
    tiling = schema["definitions"]["TileOptions"]["properties"]
    assert tiling["patch"]["type"] == "integer" and tiling["patch"]["description"]
    assert "scenes" not in tiling and "out" not in tiling
    assert "stride" in schema["definitions"]["MapOptions"]["properties"]


def test_missing_wuhan_data_is_one_line_naming_each_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        resolve_data(
            "wuhan",
            tmp_path / "out",
            tmp_path / "wuhan" / "scenes",
            tmp_path / "wuhan" / "labels.gpkg",
            None,
            None,
            None,
        )
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("lcz-map/wuhan: missing input(s): scenes_dir (")
    assert "labels (" in message and "districts (not set)" in message


def test_cache_key_follows_file_content_not_outputs(tmp_path: Path) -> None:
    labels = tmp_path / "labels.gpkg"
    labels.write_bytes(b"v1")
    out = tmp_path / "store"
    key = fingerprint({"labels": labels, "out": out, "patch": 64}, outputs=("out",))
    out.mkdir()
    (out / "index.parquet").write_bytes(b"made by the task")
    # The task's own output appearing must not change the key (else nothing is ever reused) ...
    assert fingerprint({"labels": labels, "out": out, "patch": 64}, outputs=("out",)) == key
    # ... while new label bytes or another setting must.
    labels.write_bytes(b"v2")
    assert fingerprint({"labels": labels, "out": out, "patch": 64}, outputs=("out",)) != key
    labels.write_bytes(b"v1")
    assert fingerprint({"labels": labels, "out": out, "patch": 32}, outputs=("out",)) != key


def test_metrics_table_rows_share_every_column(tmp_path: Path) -> None:
    from mapping_fixtures import random_bundle

    from flows.train import metrics_rows
    from sunet.bundle import load_bundle, save_bundle

    start = load_bundle(random_bundle(tmp_path / "a.safetensors"))
    meta = start.meta.model_copy(
        update={"metrics": {"test": {"oa": 0.97}}, "training": {"epochs": 3, "seed": 0}}
    )
    rows = metrics_rows(save_bundle(tmp_path / "b.safetensors", start.model, meta))
    # A table takes its columns from the first row: every row must have them all.
    assert all(list(r) == ["metric", "test", "training"] for r in rows)
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["oa"]["test"] == 0.97 and by_metric["epochs"]["training"] == 3
    assert by_metric["seed"]["training"] == 0 and by_metric["oa"]["training"] is None
