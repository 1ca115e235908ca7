"""Atomic writes never leave a half-written output and never lose the previous one."""

from __future__ import annotations

from pathlib import Path

import pytest

from sunet.atomic import atomic_dir, atomic_path, scratch_dir, write_text_atomic


def test_atomic_path_renames_on_success(tmp_path: Path) -> None:
    dst = tmp_path / "out" / "a.txt"
    with atomic_path(dst) as tmp:
        assert tmp.parent == dst.parent and tmp.suffix == ".txt"
        tmp.write_text("x")
        assert not dst.exists()
    assert dst.read_text() == "x"
    assert sorted(p.name for p in dst.parent.iterdir()) == ["a.txt"]


def test_atomic_path_failure_keeps_old_file(tmp_path: Path) -> None:
    dst = write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(dst) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert dst.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_dir_replaces_whole_folder_or_nothing(tmp_path: Path) -> None:
    dst = tmp_path / "store"
    with atomic_dir(dst) as tmp:
        (tmp / "one").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(dst) as tmp:
        (tmp / "two").write_text("2")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in dst.iterdir()) == ["one"]
    with atomic_dir(dst) as tmp:
        (tmp / "three").write_text("3")
    assert sorted(p.name for p in dst.iterdir()) == ["three"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_scratch_dir_is_removed_only_on_failure(tmp_path: Path) -> None:
    with scratch_dir(tmp_path / "kept") as d:
        (d / "x").write_text("x")
    assert (tmp_path / "kept" / "x").read_text() == "x"
    with pytest.raises(RuntimeError), scratch_dir(tmp_path / "gone") as d:
        (d / "x").write_text("x")
        raise RuntimeError("interrupted")
    assert not (tmp_path / "gone").exists()
