"""Deployment declarations, flow parameters and task cache keys (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.utilities.callables import parameter_schema

from flows.caching import fingerprint
from flows.deployments import WUHAN_DISTRICTS, build_deployments
from flows.lcz_map import lcz_map, resolve_data


@pytest.fixture(scope="module")
def deployments() -> dict[str, object]:
    return {f"{d.flow_name}/{d.name}": d for d in build_deployments(Path("/d"), Path("/r"))}


def test_deployments_declared(deployments: dict[str, object]) -> None:
    assert sorted(deployments) == ["lcz-inbox/wuhan", "lcz-map/demo", "lcz-map/wuhan"]
    wuhan = deployments["lcz-map/wuhan"]
    params = wuhan.parameters  # type: ignore[attr-defined]
    assert params["crs"] == "EPSG:32650"
    assert params["district_names"] == WUHAN_DISTRICTS
    assert {k: params[k] for k in ("scenes_dir", "labels", "districts")} == {
        "scenes_dir": "/d/wuhan/scenes",
        "labels": "/d/wuhan/labels.gpkg",
        "districts": "/d/wuhan/districts.gpkg",
    }
    # Remapped on a schedule and on the imagery event, one run at a time.
    assert [s.slug for s in wuhan.schedules] == ["weekly-remap"]  # type: ignore[attr-defined]
    (trigger,) = wuhan.triggers  # type: ignore[attr-defined]
    assert trigger.expect == {"lcz.imagery.arrived"}
    assert trigger.match.model_dump()["prefect.resource.id"] == "lcz.city.wuhan"
    assert wuhan.concurrency_limit == 1  # type: ignore[attr-defined]
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
