"""How time and memory grow with the city: ``tile`` and ``map`` at 1, 4 and 16 times the area.

Each size runs in a fresh process (so one run's caches and allocator state do not carry over),
timed end to end (products included for ``map``) and sampled for its peak resident memory. The
figures are ratios to the smallest size: time per unit of area (1.0 = linear growth) and peak
memory (1.0 = flat). Aims: time per unit within 1.2x of the smallest at 16x, memory within 1.25x.

* ``map``: square districts of 1, 2 and 4 km side (1, 4, 16 km²) on one painted 1 m UTM scene,
  the random-init ``cpu-small`` bundle of ``benchmarks.mapping_throughput``;
* ``tile``: rows of 1, 4 and 16 generated 1024 px scenes with their label squares
  (``benchmarks.tiling_throughput.make_scenes``).

    python -m benchmarks.scaling
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run"]

FACTORS = (1, 4, 16)
_REPO = Path(__file__).resolve().parents[1]


def _map_child(root: str, side_km: float) -> None:
    """One mapping in this fresh process; prints seconds, km² and peak memory as JSON (where the
    time goes: ``benchmarks.mapping_throughput``)."""
    from benchmarks.mapping_throughput import _config, _RssSampler
    from sunet.mapping import map_districts
    from sunet.mapping.predictor import load_predictor

    config = _config(Path(root), side_km, 16, f"s{side_km:g}")
    load_predictor(config.model)
    with _RssSampler() as rss:
        t0 = time.perf_counter()
        report = map_districts(config)
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "units": report.city.area_km2,
                      "inference_seconds": report.seconds, "rss_peak_mb": rss.peak / 2**20}))  # fmt: skip


def _tile_child(root: str, scenes: int) -> None:
    """One tiling from scratch in this fresh process (of scenes the parent made, so that making
    them weighs on no measurement); prints seconds, scenes and peak memory."""
    from benchmarks.mapping_throughput import _RssSampler
    from sunet.tiling import TileConfig, tile

    scene_dir, labels = (
        Path(root) / f"data{scenes}" / "scenes",
        Path(root) / f"data{scenes}" / "labels.gpkg",
    )
    config = TileConfig(scenes=[scene_dir], labels=labels, out=Path(root) / f"store{scenes}")
    with _RssSampler() as rss:
        t0 = time.perf_counter()
        report = tile(config)
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "units": scenes, "patches": report.patches,
                      "rss_peak_mb": rss.peak / 2**20}))  # fmt: skip


def _child(function: str, *args: object) -> dict[str, Any]:
    code = f"from benchmarks.scaling import {function}; {function}(*{args!r})"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=_REPO, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _ratios(runs: list[dict[str, Any]]) -> dict[str, Any]:
    base = runs[0]
    per_unit = [r["seconds"] / r["units"] for r in runs]
    return {
        "time_per_unit_ratio": [round(t / per_unit[0], 3) for t in per_unit],
        "memory_ratio": [round(r["rss_peak_mb"] / base["rss_peak_mb"], 3) for r in runs],
        "runs": runs,
    }


def run(workdir: Path | None = None) -> dict[str, Any]:
    """Both stages at :data:`FACTORS` times the smallest size; ratios to the smallest."""
    root = Path(tempfile.mkdtemp(prefix="scaling-")) if workdir is None else Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    from benchmarks.mapping_throughput import _bundle, _scene
    from benchmarks.tiling_throughput import make_scenes

    try:  # the scenes, stores and maps are scratch: gone after the run
        _scene(root / "scene.tif", 4 * 1000 + 512)
        _bundle(root / "model.safetensors")
        mapping = [_child("_map_child", str(root), f**0.5) for f in FACTORS]
        for f in FACTORS:
            make_scenes(root / f"data{f}", f, 1024)
        tiling = [_child("_tile_child", str(root), f) for f in FACTORS]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result: dict[str, Any] = {"factors": list(FACTORS)}
    for name, runs in (("map", mapping), ("tile", tiling)):
        for key, value in _ratios(runs).items():
            result[f"{name}_{key}"] = value
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
