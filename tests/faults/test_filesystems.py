"""Real file-system faults (a full disk, a read-only mount) met by the CLI: one line naming the path
and the problem, and nothing complete-looking left. Needs root to mount; skipped elsewhere."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mapping_fixtures import LEFT, TOP, random_bundle, split_scene, write_districts

pytestmark = pytest.mark.slow


def _mount(args: list[str]) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    split_scene(tmp_path / "scene.tif", 2, 17, size=320)
    write_districts(tmp_path / "d.gpkg", {"A": (LEFT + 32, TOP - 288, LEFT + 288, TOP - 32)})
    random_bundle(tmp_path / "m.safetensors")
    return tmp_path


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "mnt"
    point.mkdir()
    yield point
    subprocess.run(["umount", str(point)], capture_output=True)


def _map(inputs: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sunet.cli", "map", "--model", str(inputs / "m.safetensors"),
         "--scenes", str(inputs / "scene.tif"), "--districts", str(inputs / "d.gpkg"),
         "--out", str(out), "--no-progress", "--novelty-windows", "0"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_a_full_disk_is_one_line_and_leaves_no_complete_map(inputs: Path, mounted: Path) -> None:
    if not _mount(["-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mounted)]):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    run = _map(inputs, mounted / "maps")
    assert run.returncode == 2, run.stderr[-2000:]
    # GDAL's TIFF writer prints its own "No space left on device" lines from C before ours; the
    # error itself is one line naming the output.
    lines = [ln for ln in run.stderr.strip().splitlines() if not ln.startswith("_tiff")]
    assert len(lines) == 1, run.stderr[-2000:]
    assert (
        lines[0] == f"lcz-map map: error: {mounted / 'maps'}: no space left on device (while "
        "writing rasters)"
    )
    assert not (mounted / "maps" / "config.json").exists()


def test_a_read_only_output_is_one_line(inputs: Path, mounted: Path, tmp_path: Path) -> None:
    source = tmp_path / "ro-source"
    source.mkdir()
    if not _mount(["--bind", "-o", "ro", str(source), str(mounted)]):
        pytest.skip("cannot bind-mount read-only here (needs root)")
    if not _mount(["-o", "remount,bind,ro", str(mounted)]):
        pytest.skip("cannot remount read-only here")
    run = _map(inputs, mounted / "maps")
    assert run.returncode == 2, run.stderr[-2000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "read-only file system" in lines[0], run.stderr[-2000:]
    assert str(mounted) in lines[0]
