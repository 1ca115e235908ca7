"""Map versions and the ``latest`` pointer (sunet.operations.versions)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sunet.operations.versions import (
    build_version,
    latest_version,
    list_versions,
    previous_version,
    prune_versions,
    publish_version,
)


def _publish(root: Path, text: str) -> str:
    with build_version(root) as tmp:
        (tmp / "map.txt").write_text(text)
    v = latest_version(root)
    assert v is not None
    return v.name


def test_versions_are_numbered_and_latest_follows(tmp_path: Path) -> None:
    assert latest_version(tmp_path) is None
    assert [_publish(tmp_path, t) for t in ("a", "b", "c")] == ["v0001", "v0002", "v0003"]
    assert [v.name for v in list_versions(tmp_path)] == ["v0001", "v0002", "v0003"]
    # Both pointers name the newest version, and old versions keep their content.
    assert json.loads((tmp_path / "latest.json").read_text())["path"] == "versions/v0003"
    assert (tmp_path / "latest" / "map.txt").read_text() == "c"
    assert os.readlink(tmp_path / "latest") == "versions/v0003"
    assert (tmp_path / "versions" / "v0001" / "map.txt").read_text() == "a"


def test_previous_version_skips_pruned_ones_and_follows_latest(tmp_path: Path) -> None:
    for t in ("a", "b", "c", "d"):
        _publish(tmp_path, t)
    prune_versions(tmp_path, keep=3)  # v0001 goes
    versions = tmp_path / "versions"
    assert previous_version(versions / "v0004") == list_versions(tmp_path)[-2]
    assert previous_version(tmp_path / "latest") is not None  # the link resolves to v0004
    assert previous_version(versions / "v0002") is None  # the one before it was pruned
    assert previous_version(tmp_path) is None  # a map root is not a version


def test_failed_build_leaves_latest_and_no_trace(tmp_path: Path) -> None:
    _publish(tmp_path, "good")
    with pytest.raises(RuntimeError):
        with build_version(tmp_path) as tmp:
            (tmp / "map.txt").write_text("half")
            raise RuntimeError("crash while mapping")
    assert latest_version(tmp_path).name == "v0001"  # type: ignore[union-attr]
    assert (tmp_path / "latest" / "map.txt").read_text() == "good"
    assert sorted(p.name for p in (tmp_path / "versions").iterdir()) == ["v0001"]


def test_publish_skips_a_number_taken_meanwhile(tmp_path: Path) -> None:
    _publish(tmp_path, "a")
    built = tmp_path / "versions" / ".tmp-mine"
    built.mkdir()
    (built / "map.txt").write_text("mine")
    # Another publisher took v0002 after this one looked: the rename must not clobber it.
    (tmp_path / "versions" / "v0002").mkdir()
    (tmp_path / "versions" / "v0002" / "map.txt").write_text("theirs")
    version = publish_version(tmp_path, built)
    assert version.name == "v0003"
    assert (tmp_path / "versions" / "v0002" / "map.txt").read_text() == "theirs"


def test_prune_keeps_newest_and_latest(tmp_path: Path) -> None:
    for t in "abcd":
        _publish(tmp_path, t)
    deleted = prune_versions(tmp_path, keep=2)
    assert [v.name for v in deleted] == ["v0001", "v0002"]
    assert [v.name for v in list_versions(tmp_path)] == ["v0003", "v0004"]


def test_bad_pointer_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "latest.json").write_text('{"version": "v0007"}')
    with pytest.raises(ValueError, match=r"latest.json: points to v0007, which does not exist"):
        latest_version(tmp_path)
