"""The ``lcz-map`` flow in-process (Prefect test harness): a run after a crash resumes.

A small random-initialised bundle maps a 128 m district; what is checked is orchestration, not
map quality: the map task's result is reused after a crash that happened before publishing, and
a rerun with nothing new publishes nothing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from mapping_fixtures import LEFT, TOP, random_bundle, split_scene, write_districts

import sunet.operations.remap as remap_module
from sunet.operations.remap import MapOptions
from sunet.operations.versions import latest_version


@pytest.mark.slow
def test_rerun_after_crash_reuses_the_map(
    harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.lcz_map import lcz_map

    (tmp_path / "scenes").mkdir()
    split_scene(tmp_path / "scenes" / "a.tif", 2, 17, size=192)
    districts = write_districts(
        tmp_path / "districts.gpkg", {"Hanyang": (LEFT + 32, TOP - 160, LEFT + 160, TOP - 32)}
    )
    args: dict[str, Any] = {
        "city": "test",
        "out": tmp_path / "map",
        "scenes_dir": tmp_path / "scenes",
        "districts": districts,
        "model": random_bundle(tmp_path / "model.safetensors"),
        "crs": "EPSG:32650",
        "mapping": MapOptions(stride=16, progress=False, cells_layer=False),
        "dask_workers": 0,
    }
    calls = {"map": 0, "publish": 0}
    real_map, real_publish = remap_module.map_districts, remap_module.publish_version

    def counting_map(*a: Any, **k: Any) -> Any:
        calls["map"] += 1
        return real_map(*a, **k)

    def crashing_publish(*a: Any, **k: Any) -> Any:
        calls["publish"] += 1
        if calls["publish"] == 1:
            raise OSError("disk full while publishing")
        return real_publish(*a, **k)

    monkeypatch.setattr(remap_module, "map_districts", counting_map)
    monkeypatch.setattr(remap_module, "publish_version", crashing_publish)

    with pytest.raises(OSError, match="disk full"):
        lcz_map(**args)
    assert calls["map"] == 1 and latest_version(tmp_path / "map") is None

    result = lcz_map(**args)  # resumes: the finished map is published, not recomputed
    assert calls == {"map": 1, "publish": 2}
    assert result["version"] == "v0001" and result["plan"]["mode"] == "full"
    latest = tmp_path / "map" / "latest"
    assert (latest / "hanyang" / "lcz_dominant.tif").is_file()
    # Each version carries the urban canopy parameters of its areas.
    for area in ("city", "hanyang"):
        assert (latest / area / "lcz_parameters.tif").is_file()
        assert (latest / area / "lcz_parameters_lookup_100m.tif").is_file()
    assert json.loads((latest / "lcz_parameters.json").read_text())["areas"] == ["city", "hanyang"]
    # ... and its district analysis, naming the version's folder, not the one it was built in.
    page = (latest / "analysis" / "index.html").read_text()
    record = json.loads((latest / "analysis" / "analysis.json").read_text())
    assert record["areas"] == ["city", "hanyang"] and record["previous"] is None
    assert record["config"]["map"].endswith("versions/v0001")
    assert ".build-" not in page and "versions/v0001" in page

    again = lcz_map(**args)  # nothing new: nothing mapped, nothing published
    assert again["plan"]["mode"] == "none" and again["version"] is None
    assert calls["map"] == 1


def test_the_map_artifact_links_the_district_analysis(tmp_path: Path) -> None:
    from flows.lcz_map import _map_markdown
    from sunet.operations.versions import MapVersion

    version = MapVersion(tmp_path, 2)
    (version.path / "analysis").mkdir(parents=True)
    assert "district analysis" not in _map_markdown("wuhan", {}, version)
    (version.path / "analysis" / "index.html").write_text("<html></html>")
    text = _map_markdown("wuhan", {}, version)
    uri = (version.path / "analysis" / "index.html").resolve().as_uri()
    assert f"- district analysis: [analysis/index.html]({uri})" in text


@pytest.mark.slow
def test_watcher_announces_settled_imagery(
    harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.inbox
    from flows.inbox import lcz_inbox

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(flows.inbox, "emit_event", lambda **event: sent.append(event))
    (tmp_path / "inbox").mkdir()
    (tmp_path / "scenes").mkdir()
    assert lcz_inbox("wuhan", tmp_path / "map", tmp_path / "scenes", tmp_path / "inbox", 0) == []
    assert sent == []

    split_scene(tmp_path / "inbox" / "new.tif", 2, 2, size=64)
    assert lcz_inbox("wuhan", tmp_path / "map", tmp_path / "scenes", tmp_path / "inbox", 0) == [
        "new.tif"
    ]
    (event,) = sent
    assert event["event"] == "lcz.imagery.arrived"
    assert event["resource"]["prefect.resource.id"] == "lcz.city.wuhan"
    assert event["payload"] == {"scenes": ["new.tif"], "count": 1}


@pytest.mark.slow
def test_fine_tunes_from_a_bundle_and_assesses_each_version(harness: None, tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    from flows.lcz_map import TileOptions, TrainOptions, lcz_map
    from sunet.bundle import read_bundle_meta

    (tmp_path / "scenes").mkdir()
    split_scene(tmp_path / "scenes" / "a.tif", 2, 17, size=512)
    districts = write_districts(
        tmp_path / "districts.gpkg", {"Hanyang": (LEFT + 32, TOP - 480, LEFT + 480, TOP - 32)}
    )
    halves = [shapely.box(LEFT, TOP - 512, LEFT + 256, TOP), shapely.box(LEFT + 256, TOP - 512,
                                                                        LEFT + 512, TOP)]  # fmt: skip
    gpd.GeoDataFrame({"lcz": ["2", "G"]}, geometry=halves, crs=32650).to_crs(4326).to_file(
        tmp_path / "labels.gpkg", layer="labels"
    )
    start = random_bundle(tmp_path / "start.safetensors")
    result = lcz_map(
        city="test",
        out=tmp_path / "map",
        scenes_dir=tmp_path / "scenes",
        labels=tmp_path / "labels.gpkg",
        districts=districts,
        init_from=start,
        reference=tmp_path / "labels.gpkg",
        crs="EPSG:32650",
        tiling=TileOptions(patch=32, block=2),
        training=TrainOptions(fine_tune_steps=4, batch_size=8, progress=False, num_threads=1),
        mapping=MapOptions(stride=16, progress=False, cells_layer=False),
        evaluate=False,
        dask_workers=0,
    )
    trained = next((tmp_path / "map" / "work" / "models").glob("*/model.safetensors"))
    assert read_bundle_meta(trained).training["init_from"]["index_hash"] == "0" * 64
    assert (tmp_path / "map" / "latest" / "assessment" / "assessment.json").is_file()
    assert set(result["assessment"]) >= {"oa", "kappa", "oa_weighted"}


@pytest.mark.slow
def test_city_file_drives_automatic_runs_which_never_train(harness: None, tmp_path: Path) -> None:

    from flows.lcz_map import lcz_map

    city = tmp_path / "data" / "testcity"
    (city / "scenes").mkdir(parents=True)
    split_scene(city / "scenes" / "a.tif", 2, 17, size=192)
    write_districts(
        city / "districts.gpkg",
        {"Hanyang": (LEFT + 32, TOP - 160, LEFT + 352, TOP - 32), "Wuchang": (LEFT + 32, TOP - 64,
                                                                             LEFT + 96, TOP - 40)},
    )  # fmt: skip
    (city / "labels.gpkg").write_bytes(b"not read: automatic runs do not train")
    config = city / "lcz-map.yaml"
    common = (
        f"out: {tmp_path / 'map'}\ncrs: EPSG:32650\ndistrict_names: [Hanyang]\n"
        "settle_seconds: 0\ndask_workers: 0\nevaluate: false\n"
        "mapping: {stride: 16, progress: false, cells_layer: false}\n"
    )
    config.write_text(common, encoding="utf-8")
    run = {"city": "testcity", "config_file": config, "started_by": "event"}

    # No model and automation may not train: one line, and no training folder started.
    with pytest.raises(RuntimeError, match="automatic runs do not train"):
        lcz_map(**run)
    assert not (tmp_path / "map" / "work" / "models").exists()

    random_bundle(city / "model.safetensors")
    config.write_text(common + "model: model.safetensors\n", encoding="utf-8")
    first = lcz_map(**run)
    assert first["version"] == "v0001" and first["plan"]["districts"] == ["Hanyang"]

    # New imagery beside the first scene, through the inbox: an incremental version whose
    # change report names both versions and the newly mapped area.
    (city / "inbox").mkdir(exist_ok=True)
    split_scene(city / "inbox" / "b.tif", 11, 11, size=192, left=LEFT + 192)
    second = lcz_map(**run)
    assert second["version"] == "v0002" and second["plan"]["mode"] == "incremental"
    changes = json.loads((tmp_path / "map" / "latest" / "changes" / "changes.json").read_text())
    assert (changes["before"], changes["after"]) == ("v0001", "v0002")
    hanyang = changes["districts"]["Hanyang"]
    # The district reaches 160 m beyond the first scene; the new one covers it (grid cells of
    # 16 m: 128 m x 128 m of the 160 x 128 m gap lie in whole cells of the district).
    assert hanyang["covered_m2"] >= 128 * 96
    assert hanyang["uncovered_m2"] == 0
    assert sum(hanyang["covered_cells"]) * hanyang["cell_area_m2"] == hanyang["covered_m2"]
    assert (city / "scenes" / "b.tif").is_file()
    # The district analysis compares the new version's parameters with the previous one's.
    analysis = tmp_path / "map" / "latest" / "analysis"
    rows = csv.DictReader((analysis / "changes.csv").read_text().splitlines())
    (row,) = [r for r in rows if r["area"] == "hanyang"]
    assert row["previous"] == str((tmp_path / "map" / "versions" / "v0001").resolve())
    assert int(row["compared_cells"]) > 0
    assert (analysis / "change_building_surface_fraction.png").is_file()


@pytest.mark.slow
def test_rerun_after_a_crash_mid_map_reuses_the_finished_batches(
    harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sunet.mapping.inference as inference
    from flows.lcz_map import lcz_map

    (tmp_path / "scenes").mkdir()
    split_scene(tmp_path / "scenes" / "a.tif", 2, 17, size=256)
    districts = write_districts(
        tmp_path / "districts.gpkg", {"Hanyang": (LEFT + 32, TOP - 224, LEFT + 224, TOP - 32)}
    )
    args: dict[str, Any] = {
        "city": "test", "out": tmp_path / "map", "scenes_dir": tmp_path / "scenes",
        "districts": districts, "model": random_bundle(tmp_path / "model.safetensors"),
        "crs": "EPSG:32650", "dask_workers": 0,
        "mapping": MapOptions(stride=16, batch_size=4, progress=False, cells_layer=False,
                              novelty_windows=0),
    }  # fmt: skip
    real, calls = inference.predict_batch, {"n": 0}

    def crash_on_the_fourth(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("worker killed")
        return real(*a, **k)

    monkeypatch.setattr(inference, "predict_batch", crash_on_the_fourth)
    with pytest.raises(OSError, match="worker killed"):
        lcz_map(**args)
    assert latest_version(tmp_path / "map") is None
    monkeypatch.setattr(inference, "predict_batch", real)
    counted = {"n": 0}

    def counting(*a: Any, **k: Any) -> Any:
        counted["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(inference, "predict_batch", counting)
    result = lcz_map(**args)
    assert result["version"] == "v0001"
    report = json.loads((tmp_path / "map" / "latest" / "version.json").read_text())["mapping"]
    # The three batches finished before the crash are read back; only the rest run.
    assert report["batches_reused"] == 3
    assert counted["n"] == report["batches"] - 3
    assert not list((tmp_path / "map" / "versions").glob(".resume-*"))
