"""Scene manifests, change detection, inbox ingestion and touched area (sunet.operations.inbox)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pyproj import CRS

from sunet.operations.inbox import (
    SceneManifest,
    diff_scenes,
    ingest_inbox,
    pending_inbox,
    pending_scenes,
    scan_scenes,
)

UTM50N = CRS.from_epsg(32650)
# Two places ~2 km apart in Wuhan.
WEST = (114.290, 30.590)
EAST = (114.310, 30.590)


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_scan_detects_added_changed_removed(tmp_path: Path, scene_at: Callable[..., Path]) -> None:
    scenes = tmp_path / "scenes"
    scene_at(scenes / "a.tif", centre_lonlat=WEST, size_px=64, seed=1)
    scene_at(scenes / "b.tif", centre_lonlat=EAST, size_px=64, seed=2)
    v1 = scan_scenes(scenes, UTM50N)
    assert sorted(v1.scenes) == ["a.tif", "b.tif"]
    assert not diff_scenes(v1, scan_scenes(scenes, UTM50N, previous=v1))

    scene_at(scenes / "a.tif", centre_lonlat=WEST, size_px=64, seed=9)  # new pixels
    (scenes / "b.tif").unlink()
    scene_at(scenes / "c.tif", centre_lonlat=EAST, size_px=64, seed=3)
    v2 = scan_scenes(scenes, UTM50N, previous=v1)
    changes = diff_scenes(v1, v2)
    assert changes.to_json() == {"added": ["c.tif"], "changed": ["a.tif"], "removed": ["b.tif"]}


def test_touched_file_with_same_bytes_is_no_change(
    tmp_path: Path, scene_at: Callable[..., Path]
) -> None:
    scenes = tmp_path / "scenes"
    scene_at(scenes / "a.tif", centre_lonlat=WEST, size_px=64)
    v1 = scan_scenes(scenes, UTM50N)
    copy = tmp_path / "copy.tif"
    shutil.copyfile(scenes / "a.tif", copy)
    os.replace(copy, scenes / "a.tif")  # same bytes, new inode, new times
    assert not diff_scenes(v1, scan_scenes(scenes, UTM50N, previous=v1))


def test_touched_area_covers_old_and_new_footprints(
    tmp_path: Path, scene_at: Callable[..., Path]
) -> None:
    scenes = tmp_path / "scenes"
    scene_at(scenes / "a.tif", centre_lonlat=WEST, size_px=64)
    scene_at(scenes / "b.tif", centre_lonlat=EAST, size_px=64)
    v1 = scan_scenes(scenes, UTM50N)
    # b moves 1 km north: both where it was and where it is now must be remapped; a is untouched.
    scene_at(scenes / "b.tif", centre_lonlat=(EAST[0], EAST[1] + 0.009), size_px=64)
    v2 = scan_scenes(scenes, UTM50N, previous=v1)
    area = diff_scenes(v1, v2).touched_area(v1, v2)
    assert area.covers(v1.footprint("b.tif")) and area.covers(v2.footprint("b.tif"))
    assert not area.intersects(v1.footprint("a.tif"))
    assert 2 * 64 * 64 * 0.9 < area.area < 2 * 64 * 64 * 1.1  # two ~64 m squares, m²


def test_manifest_round_trip_and_bad_file(tmp_path: Path, scene_at: Callable[..., Path]) -> None:
    scene_at(tmp_path / "scenes" / "a.tif", size_px=32)
    manifest = scan_scenes(tmp_path / "scenes", UTM50N)
    manifest.save(tmp_path / "scenes.json")
    assert SceneManifest.load(tmp_path / "scenes.json") == manifest
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match=r"broken.json: not a scene manifest"):
        SceneManifest.load(tmp_path / "broken.json")


def test_ingest_moves_settled_valid_scenes_and_rejects_junk(
    tmp_path: Path, scene_at: Callable[..., Path]
) -> None:
    inbox, scenes = tmp_path / "inbox", tmp_path / "scenes"
    scene_at(scenes / "a.tif", centre_lonlat=WEST, size_px=32, seed=1)
    scene_at(inbox / "a.tif", centre_lonlat=WEST, size_px=32, seed=5)  # replaces scenes/a.tif
    scene_at(inbox / "new.tif", centre_lonlat=EAST, size_px=32)
    (inbox / "junk.tif").write_bytes(b"not a tiff")
    scene_at(inbox / "copying.tif", size_px=32)  # still being written: too fresh to take
    for name in ("a.tif", "new.tif", "junk.tif"):
        _age(inbox / name, 120)
    before = (scenes / "a.tif").read_bytes()
    incoming = (inbox / "a.tif").read_bytes()

    assert [p.name for p in pending_inbox(inbox, settle_seconds=60)] == [
        "a.tif",
        "junk.tif",
        "new.tif",
    ]
    result = ingest_inbox(inbox, scenes, settle_seconds=60)

    assert sorted(p.name for p in result.accepted) == ["a.tif", "new.tif"]
    assert (scenes / "a.tif").read_bytes() == incoming != before
    assert [p.name for p in result.rejected[0][:1]] == ["junk.tif"]
    assert "junk.tif" in (inbox / "rejected" / "junk.tif.error.txt").read_text()
    assert sorted(p.name for p in inbox.glob("*.tif")) == ["copying.tif"]
    assert not list(scenes.glob(".tmp-*"))


def test_pending_scenes_lists_what_a_remap_would_pick_up(
    tmp_path: Path, scene_at: Callable[..., Path]
) -> None:
    scenes, inbox = tmp_path / "scenes", tmp_path / "inbox"
    scene_at(scenes / "a.tif", centre_lonlat=WEST, size_px=32, seed=1)
    scene_at(scenes / "b.tif", centre_lonlat=EAST, size_px=32, seed=2)
    manifest = scan_scenes(scenes, UTM50N)
    inbox.mkdir()
    assert pending_scenes(scenes, manifest, inbox, settle_seconds=0) == []

    shutil.copyfile(scenes / "a.tif", tmp_path / "a-copy.tif")
    os.replace(tmp_path / "a-copy.tif", scenes / "a.tif")  # same bytes: not pending
    scene_at(scenes / "b.tif", centre_lonlat=EAST, size_px=32, seed=7)  # changed
    scene_at(inbox / "c.tif", centre_lonlat=EAST, size_px=32)  # arrived
    assert pending_scenes(scenes, manifest, inbox, settle_seconds=0) == ["b.tif", "c.tif"]
    (scenes / "a.tif").unlink()  # removed scenes are pending too (their area must be redone)
    assert pending_scenes(scenes, manifest, inbox, settle_seconds=0) == ["a.tif", "b.tif", "c.tif"]
    # Before any map version everything present is pending.
    assert pending_scenes(scenes, None, None, settle_seconds=0) == ["b.tif"]
