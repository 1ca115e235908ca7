"""kill -9 at many moments of a map run, over an empty folder and over an earlier map made with
other options: afterwards the folder is either complete and right, or does not claim to be
complete (a kill before the rerun starts writing leaves the earlier map whole); a rerun gives the
bytes of a clean run and leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from mapping_fixtures import LEFT, TOP, random_bundle, split_scene, write_districts

from sunet.locks import lock_path

pytestmark = pytest.mark.slow

AREAS = ("city", "a", "b")
RASTERS = ("lcz_abundance.tif", "lcz_dominant.tif")


def _map_cmd(inputs: Path, out: Path, stride: int) -> list[str]:
    return [sys.executable, "-m", "sunet.cli", "map", "--model", str(inputs / "m.safetensors"),
            "--scenes", str(inputs / "scene.tif"), "--districts", str(inputs / "d.gpkg"),
            "--out", str(out), "--stride", str(stride), "--quiet", "--novelty-windows", "0",
            "--batch-size", "4"]  # fmt: skip


def _rasters(out: Path) -> dict[str, np.ndarray]:
    found = {}
    for area in AREAS:
        for name in RASTERS:
            with rasterio.open(out / area / name) as ds:
                found[f"{area}/{name}"] = ds.read()
    return found


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kill9")
    split_scene(root / "scene.tif", 2, 17, size=320)
    write_districts(root / "d.gpkg", {"A": (LEFT + 32, TOP - 288, LEFT + 160, TOP - 32),
                                      "B": (LEFT + 160, TOP - 288, LEFT + 288, TOP - 32)})  # fmt: skip
    random_bundle(root / "m.safetensors")
    return root


@pytest.mark.parametrize("over_earlier_map", [False, True])
def test_kill_9_at_many_moments_never_leaves_a_wrong_complete_map(
    inputs: Path, tmp_path: Path, over_earlier_map: bool
) -> None:
    clean = tmp_path / "clean"
    t0 = time.monotonic()
    subprocess.run(_map_cmd(inputs, clean, 16), check=True, capture_output=True, timeout=600)
    duration = time.monotonic() - t0
    reference = _rasters(clean)
    subprocess.run(_map_cmd(inputs, tmp_path / "clean32", 32), check=True, capture_output=True,
                   timeout=600)  # fmt: skip
    earlier = _rasters(tmp_path / "clean32")
    kills, old_intact = 0, 0
    for i, share in enumerate((0.15, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 0.95)):
        out = tmp_path / f"run{i}"
        if over_earlier_map:  # a complete map made with other options is already there
            subprocess.run(_map_cmd(inputs, out, 32), check=True, capture_output=True, timeout=600)
        proc = subprocess.Popen(_map_cmd(inputs, out, 16), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        time.sleep(share * duration)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        record = out / "config.json"
        if record.is_file():  # it claims to be complete: then it is, the old map or the new one
            stride = json.loads(record.read_text())["config"]["stride"]
            assert _same(_rasters(out), reference if stride == 16 else earlier)
            old_intact += stride == 32
        subprocess.run(_map_cmd(inputs, out, 16), check=True, capture_output=True, timeout=600)
        assert _same(_rasters(out), reference)
        assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
        assert not lock_path(out).exists()
    assert kills >= 5  # most moments fell inside the run
    print(f"{kills} kills; the earlier map still whole after {old_intact} of them")
