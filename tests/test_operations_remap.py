"""Remapping as imagery changes: versions, incremental remap, change reports (sunet.operations)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from mapping_fixtures import LEFT, TOP, ColourPredictor, lcz_rgb, split_scene, write_districts
from stac_validation import validate_offline

from sunet.operations.remap import MapOptions, RemapConfig, plan_remap, remap
from sunet.operations.versions import latest_version, prune_versions

PALETTE = {code: lcz_rgb(code) for code in (2, 6, 11, 14)}
# Two districts side by side, each inside its own 512 m scene (scenes 1 m, cells 16 m).
WEST = (LEFT + 32, TOP - 480, LEFT + 480, TOP - 32)
EAST = (LEFT + 544, TOP - 480, LEFT + 992, TOP - 32)


@pytest.fixture
def city(tmp_path: Path) -> RemapConfig:
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    split_scene(scenes / "west.tif", 2, 11)
    split_scene(scenes / "east.tif", 6, 14, left=LEFT + 512)
    districts = write_districts(tmp_path / "districts.gpkg", {"West": WEST, "East": EAST})
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"stands for a bundle; the predictor object is passed directly")
    return RemapConfig(
        out=tmp_path / "map",
        scenes_dir=scenes,
        districts=districts,
        model=model,
        crs="EPSG:32650",
        mapping=MapOptions(stride=16, progress=False, cells_layer=False),
    )


def _dominant(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def test_first_run_full_then_incremental_then_nothing(city: RemapConfig, tmp_path: Path) -> None:
    model = ColourPredictor(PALETTE)
    first = remap(city, predictor=model)
    assert first.plan.mode == "full" and first.version is not None
    assert first.version.name == "v0001" and first.changes_md is None
    full_windows = model.seen

    # New imagery over the east district only: dense trees replace the open mid-rise.
    time.sleep(0.01)
    split_scene(city.scenes_dir / "east.tif", 11, 11, left=LEFT + 512)
    model.seen = 0
    second = remap(city, predictor=model)
    assert second.plan.mode == "incremental"
    assert second.plan.changes.changed == ("east.tif",)
    assert second.plan.touched == ["east"]
    assert 0 < model.seen < full_windows  # only the east district's windows were run again
    v1, v2 = first.version.path, second.version.path  # type: ignore[union-attr]

    # The untouched district comes out byte for byte as before, the touched one is new.
    for name in ("lcz_dominant.tif", "lcz_abundance.tif", "summary.csv"):
        assert (v1 / "west" / name).read_bytes() == (v2 / "west" / name).read_bytes()
    assert (_dominant(v2 / "east" / "lcz_dominant.tif")[8:-8, 8:-8] == 11).all()
    # The city products are rebuilt from the districts: east changed, west did not.
    city_before, city_after = (
        _dominant(v1 / "city" / "lcz_dominant.tif"),
        _dominant(v2 / "city" / "lcz_dominant.tif"),
    )
    changed = city_before != city_after
    assert changed.any() and not changed[:, : city_after.shape[1] // 2 - 2].any()

    # The change report: all change in East, none in West, areas in m² of 16 m cells.
    doc = json.loads((v2 / "changes" / "changes.json").read_text())
    assert doc["before"] == "v0001"
    assert doc["districts"]["West"]["changed_m2"] == 0
    east = np.array(doc["districts"]["East"]["matrix"])
    assert east[5, 10] > 0 and east[13, 10] > 0  # LCZ 6 and LCZ D became LCZ A
    assert doc["districts"]["East"]["changed_m2"] == (east.sum() - np.trace(east)) * 256
    assert "East" in second.changes_md.read_text()  # type: ignore[union-attr]

    # Nothing new: no version is written, latest stays.
    third = remap(city, predictor=model)
    assert third.plan.mode == "none" and third.version is None
    assert latest_version(city.out).name == "v0002"  # type: ignore[union-attr]


def test_incremental_city_equals_a_full_remap(city: RemapConfig) -> None:
    model = ColourPredictor(PALETTE)
    remap(city, predictor=model)
    split_scene(city.scenes_dir / "east.tif", 2, 14, left=LEFT + 512, split_col=128)
    incremental = remap(city, predictor=model)
    full = remap(city.model_copy(update={"full": True}), predictor=model)
    assert (incremental.plan.mode, full.plan.mode) == ("incremental", "full")
    for area in ("city", "east", "west"):
        with (
            rasterio.open(incremental.version.path / area / "lcz_abundance.tif") as a,
            rasterio.open(  # type: ignore[union-attr]
                full.version.path / area / "lcz_abundance.tif"  # type: ignore[union-attr]
            ) as b,
        ):
            assert a.transform == b.transform
            np.testing.assert_array_equal(a.read(), b.read())
    # Published records name the version's own folder and name, not the one it was built in.
    version = full.version
    assert version is not None
    for record in ("config.json", "version.json", "changes/changes.json"):
        text = (version.path / record).read_text()
        assert ".tmp-" not in text and ".build-" not in text, record
    assert f'"out": "{version.path}"' in (version.path / "config.json").read_text()
    assert '"after": "' + version.name + '"' in (version.path / "changes/changes.json").read_text()


def test_a_small_new_scene_reruns_only_the_windows_it_reaches(city: RemapConfig) -> None:
    model = ColourPredictor(PALETTE)
    remap(city, predictor=model)
    full_windows = model.seen
    # A 64 m scene of dense trees inside the east district; by name it comes first in the mosaic.
    split_scene(city.scenes_dir / "a_trees.tif", 11, 11, size=64, left=LEFT + 704, top=TOP - 192)
    model.seen = 0
    incremental = remap(city, predictor=model)
    assert incremental.plan.mode == "incremental" and incremental.plan.touched == ["east"]
    assert incremental.report is not None and incremental.report.windows_skipped > 0
    assert 0 < model.seen < full_windows / 4
    v2 = incremental.version.path  # type: ignore[union-attr]
    assert (v2 / "remapped_area.gpkg").is_file()
    with rasterio.open(v2 / "east" / "lcz_dominant.tif") as src:
        row, col = src.index(LEFT + 736, TOP - 224)  # the new scene's centre
        assert src.read(1)[row, col] == 11

    full = remap(city.model_copy(update={"full": True}), predictor=model)
    for area in ("city", "east", "west"):
        with (
            rasterio.open(v2 / area / "lcz_abundance.tif") as a,
            rasterio.open(full.version.path / area / "lcz_abundance.tif") as b,  # type: ignore[union-attr]
        ):
            np.testing.assert_array_equal(a.read(), b.read())


def test_changed_model_means_full_remap(city: RemapConfig) -> None:
    model = ColourPredictor(PALETTE)
    remap(city, predictor=model)
    city.model.write_bytes(b"another model")
    plan = plan_remap(city)
    assert plan.mode == "full" and "model_sha256" in plan.reason


def test_unknown_district_name_lists_the_available_ones(city: RemapConfig) -> None:
    with pytest.raises(ValueError, match=r"no district named 'Qiaokou' \(districts: East, West\)"):
        plan_remap(city.model_copy(update={"district_names": ["Qiaokou"]}))


def test_inbox_scene_is_ingested_and_remapped(city: RemapConfig, tmp_path: Path) -> None:
    model = ColourPredictor(PALETTE)
    remap(city, predictor=model)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    split_scene(inbox / "west.tif", 14, 14)
    config = city.model_copy(update={"inbox": inbox, "settle_seconds": 0})
    result = remap(config, predictor=model)
    assert result.plan.ingested == ["west.tif"] and result.plan.touched == ["west"]
    assert not (inbox / "west.tif").exists()
    assert (_dominant(result.version.path / "west" / "lcz_dominant.tif")[8:-8, 8:-8] == 14).all()  # type: ignore[union-attr]


def test_root_catalog_follows_latest_and_versions_link_their_changes(city: RemapConfig) -> None:
    model = ColourPredictor(PALETTE)
    remap(city, predictor=model)
    split_scene(city.scenes_dir / "east.tif", 11, 11, left=LEFT + 512)
    remap(city, predictor=model)

    root = pystac.Catalog.from_file(str(city.out / "catalog.json"))
    assert [c.id for c in root.get_children()] == ["lcz-map-v0001", "lcz-map-v0002"]
    (latest,) = root.get_links("latest-version")
    assert pystac.Catalog.from_file(latest.get_absolute_href()).id == "lcz-map-v0002"
    # The `latest` link of the map root reaches the same catalog.
    assert pystac.Catalog.from_file(str(city.out / "latest" / "catalog.json")).id == "lcz-map-v0002"

    v1, v2 = (pystac.Catalog.from_file(str(city.out / "versions" / v / "catalog.json"))
              for v in ("v0001", "v0002"))  # fmt: skip
    assert not v1.get_links("related")  # a first version has no change report
    for catalog in (v1, v2):
        described = {Path(x.get_absolute_href()).name for x in catalog.get_links("describedby")}
        assert described == {"config.json", "version.json", "scenes.json"}
    changes = {Path(x.get_absolute_href()) for x in v2.get_links("related")}
    assert changes == {city.out / "versions" / "v0002" / "changes" / n
                       for n in ("changes.md", "changes.json")}  # fmt: skip
    for item in v2.get_items():
        assert {Path(x.get_absolute_href()) for x in item.get_links("related")} == changes
    assert all(p.is_file() for p in changes)

    # The whole tree (root, both versions, their items) is valid STAC.
    messages = validate_offline(city.out / "catalog.json")
    assert len(messages) == 1 + 2 * 4 and all(m["valid_stac"] for m in messages)

    prune_versions(city.out, keep=1)
    root = pystac.Catalog.from_file(str(city.out / "catalog.json"))
    assert [c.id for c in root.get_children()] == ["lcz-map-v0002"]
    assert root.get_single_link("latest-version").href == "./versions/v0002/catalog.json"  # type: ignore[union-attr]
