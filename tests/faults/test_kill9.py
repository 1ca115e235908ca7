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
            "--out", str(out), "--stride", str(stride), "--no-progress", "--novelty-windows", "0",
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


def _kill_at(cmd: list[str], seconds: float) -> bool:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    time.sleep(seconds)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return killed


def test_kill_9_during_training_then_resume_gives_the_clean_run(tmp_path: Path) -> None:
    from fake_patch_store import write_patch_store
    from safetensors.numpy import load_file

    store = write_patch_store(tmp_path / "patches", n=48, patch=64)

    def cmd(out: Path, *more: str) -> list[str]:
        return [sys.executable, "-m", "sunet.cli", "train", "--patches", str(store), "--out",
                str(out), "--epochs", "4", "--batch-size", "8", "--threads", "1",
                "--max-minutes", "0", "--no-progress", *more]  # fmt: skip

    t0 = time.monotonic()
    subprocess.run(cmd(tmp_path / "clean"), check=True, capture_output=True, timeout=900)
    duration = time.monotonic() - t0
    clean = load_file(str(tmp_path / "clean" / "model.safetensors"))
    kills = 0
    for i, share in enumerate((0.4, 0.6, 0.8)):
        out = tmp_path / f"run{i}"
        kills += _kill_at(cmd(out), share * duration)
        more = ["--resume"] if (out / "config.json").is_file() else []
        subprocess.run(cmd(out, *more), check=True, capture_output=True, timeout=900)
        resumed = load_file(str(out / "model.safetensors"))
        assert resumed.keys() == clean.keys()
        assert all(np.array_equal(resumed[k], clean[k]) for k in clean), f"kill at {share}"
        assert not lock_path(out).exists()
    assert kills >= 2


def test_kill_9_during_tiling_then_rerun_gives_the_clean_store(
    inputs: Path, tmp_path: Path
) -> None:
    import geopandas as gpd
    import pandas as pd
    import shapely

    halves = [shapely.box(LEFT, TOP - 320, LEFT + 160, TOP), shapely.box(LEFT + 160, TOP - 320,
                                                                        LEFT + 320, TOP)]  # fmt: skip
    gpd.GeoDataFrame({"lcz": ["2", "G"]}, geometry=halves, crs=32650).to_file(tmp_path / "l.gpkg")

    def cmd(out: Path) -> list[str]:
        return [sys.executable, "-m", "sunet.cli", "tile", "--scenes", str(inputs / "scene.tif"),
                "--labels", str(tmp_path / "l.gpkg"), "--out", str(out), "--patch", "32"]  # fmt: skip

    t0 = time.monotonic()
    subprocess.run(cmd(tmp_path / "clean"), check=True, capture_output=True, timeout=600)
    duration = time.monotonic() - t0
    clean = pd.read_parquet(tmp_path / "clean" / "index.parquet")
    for i, share in enumerate((0.3, 0.6, 0.9)):
        out = tmp_path / f"run{i}"
        _kill_at(cmd(out), share * duration)
        if (out / "index.parquet").is_file():  # complete-looking: then it is the clean store
            pd.testing.assert_frame_equal(pd.read_parquet(out / "index.parquet"), clean)
        subprocess.run(cmd(out), check=True, capture_output=True, timeout=600)
        pd.testing.assert_frame_equal(pd.read_parquet(out / "index.parquet"), clean)
        assert not lock_path(out).exists()


def test_kill_9_during_remap_then_rerun_publishes_one_complete_version(
    inputs: Path, tmp_path: Path
) -> None:
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "scene.tif").write_bytes((inputs / "scene.tif").read_bytes())

    def cmd(out: Path) -> list[str]:
        return [sys.executable, "-m", "sunet.cli", "remap", "--out", str(out), "--scenes",
                str(scenes), "--districts", str(inputs / "d.gpkg"), "--model",
                str(inputs / "m.safetensors"), "--batch-size", "4", "--no-progress"]  # fmt: skip

    t0 = time.monotonic()
    subprocess.run(cmd(tmp_path / "clean"), check=True, capture_output=True, timeout=600)
    duration = time.monotonic() - t0
    reference = _rasters(tmp_path / "clean" / "versions" / "v0001")
    for i, share in enumerate((0.3, 0.6, 0.9)):
        out = tmp_path / f"run{i}"
        _kill_at(cmd(out), share * duration)
        published = sorted(p.name for p in (out / "versions").glob("v*")) if out.exists() else []
        assert published in ([], ["v0001"])
        if published:  # a published version is complete and right
            assert _same(_rasters(out / "versions" / "v0001"), reference)
        subprocess.run(cmd(out), check=True, capture_output=True, timeout=600)
        assert sorted(p.name for p in (out / "versions").glob("v*")) == ["v0001"]
        assert _same(_rasters(out / "latest"), reference)
        assert not [p.name for p in (out / "versions").iterdir() if p.name.startswith(".")]
        assert not lock_path(out).exists()
