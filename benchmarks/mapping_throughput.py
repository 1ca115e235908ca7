"""Mapping throughput against the bare model, and peak memory as the district grows.

``run()`` builds a random-init ``cpu-small`` bundle (patch 256 ground pixels at 1 m, the model's
128 px input) and a painted 1 m UTM scene, then measures in one process, alternating so that
other load on the machine hits both alike:

* the bare forward: ``Predictor.predict_abundances`` on as many random windows as the map runs,
  in the same batch size;
* the mapping: ``map_districts`` on a square district (``side_km``), reading, warping, batching,
  accumulating and streaming cells, i.e. the inference pass (``report.seconds``), and the whole
  run including all products.

Throughput ratio = bare seconds / mapping seconds for the same windows (1.0 = mapping costs
nothing beyond the model): of the medians, and of the best runs (the least disturbed by other
load). ``model_share_of_inference`` is the share of the inference pass's wall time spent inside
the model's forward, timed during the mapping itself, so immune to load changing between runs. Peak memory is measured in fresh subprocesses for the district and
for one four times larger: the peak resident memory of the whole process during the run (model
loaded beforehand, sampled every 20 ms) and the ``tracemalloc`` peak of Python/numpy
allocations during the run (which excludes torch's own tensors).

    python -m benchmarks.mapping_throughput [--side-km 1.0] [--repeats 15] [--preset paper]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run"]

UTM = "EPSG:32650"
LEFT, TOP = 240_000.0, 3_390_000.0


def _scene(path: Path, side_m: int, seed: int = 0) -> Path:
    """A 1 m RGB scene of 16 m blocks painted in LCZ colours (tiled, DEFLATE)."""
    import rasterio
    from affine import Affine

    from sunet.lcz import CLASSES

    rng = np.random.default_rng(seed)
    blocks = -(-side_m // 16)
    palette = np.array([c.rgb for c in CLASSES], dtype=np.uint8)
    idx = rng.integers(0, len(CLASSES), size=(blocks, blocks))
    with rasterio.open(
        path, "w", driver="GTiff", width=side_m, height=side_m, count=3, dtype="uint8", crs=UTM,
        transform=Affine(1.0, 0, LEFT, 0, -1.0, TOP), nodata=0, tiled=True, blockxsize=256,
        blockysize=256, compress="deflate",
    ) as dst:  # fmt: skip
        for r0 in range(0, side_m, 1024):
            rows = min(1024, side_m - r0)
            band_idx = np.repeat(np.repeat(idx[r0 // 16 : -(-(r0 + rows) // 16)], 16, 0), 16, 1)
            img = palette[band_idx[:rows, :side_m]].transpose(2, 0, 1)
            noise = rng.integers(-12, 13, size=img.shape)
            img = np.clip(img.astype(np.int16) + noise, 1, 255).astype(np.uint8)
            dst.write(img, window=rasterio.windows.Window(0, r0, side_m, rows))
    return path


def _districts(path: Path, side_m: float) -> Path:
    import geopandas as gpd
    import shapely

    box = shapely.box(LEFT + 100, TOP - 100 - side_m, LEFT + 100 + side_m, TOP - 100)
    gpd.GeoDataFrame({"name": ["Bench"]}, geometry=[box], crs=UTM).to_file(path, driver="GPKG")
    return path


def _bundle(path: Path, preset_name: str = "cpu-small") -> Path:
    import torch

    from sunet.bundle import BundleMeta, save_bundle
    from sunet.model import SUNet, get_preset

    torch.manual_seed(0)
    preset = get_preset(preset_name)
    meta = BundleMeta(
        preset=preset.name, model=preset.model, mean=[120.0] * 3, std=[60.0] * 3,
        patch_size=256, input_size=preset.model.input_size, gsd=1.0,
        bands=["red", "green", "blue"], crs=UTM, index_hash="0" * 64,
    )  # fmt: skip
    return save_bundle(path, SUNet(preset.model), meta)


def _config(root: Path, side_km: float, batch_size: int, tag: str) -> Any:
    from sunet.mapping import MapConfig

    return MapConfig(
        model=root / "model.safetensors",
        scenes=[root / "scene.tif"],
        districts=_districts(root / f"districts_{tag}.gpkg", side_km * 1000),
        out=root / f"out_{tag}",
        batch_size=batch_size,
        progress=False,
    )


class _TimedPredictor:
    """The bundle's predictor, with the wall time spent inside ``predict_abundances`` counted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.patch_size, self.gsd, self.bands = inner.patch_size, inner.gsd, inner.bands

    def predict_abundances(self, images: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.inner.predict_abundances(images)
        self.seconds += time.perf_counter() - t0
        return np.asarray(out)


def _bare(predictor: Any, windows: int, batch_size: int, patch: int) -> float:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(batch_size, 3, patch, patch), dtype=np.uint8)
    t0 = time.perf_counter()
    done = 0
    while done < windows:
        n = min(batch_size, windows - done)
        predictor.predict_abundances(images[:n])
        done += n
    return time.perf_counter() - t0


class _RssSampler:
    """Peak resident memory of this process (``/proc/self/statm``), sampled every 20 ms."""

    def __init__(self) -> None:
        import os
        import threading

        self._page = os.sysconf("SC_PAGE_SIZE")
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def now(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def _memory_child(root: str, side_km: float, batch_size: int, tag: str) -> None:
    """Run one mapping in this (fresh) process and print its peak memory as JSON."""
    from sunet.mapping import map_districts
    from sunet.mapping.predictor import load_predictor

    config = _config(Path(root), side_km, batch_size, tag)
    load_predictor(config.model)  # the model's own memory is the same for any district
    tracemalloc.start()
    with _RssSampler() as rss:
        before = rss.now()
        report = map_districts(config)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"windows": report.windows, "km2": report.city.area_km2,
                      "rss_before_mb": before / 2**20, "rss_peak_mb": rss.peak / 2**20,
                      "tracemalloc_peak_mb": peak / 2**20}))  # fmt: skip


def _memory(root: Path, side_km: float, batch_size: int, tag: str) -> dict[str, float]:
    code = (
        "import sys; from benchmarks.mapping_throughput import _memory_child; "
        f"_memory_child({str(root)!r}, {side_km!r}, {batch_size!r}, {tag!r})"
    )
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(
    config: Any, timed: _TimedPredictor, repeats: int, stop: Any = lambda: False
) -> tuple[list[float], list[float], list[float], list[float], Any]:
    """Alternate ``repeats`` mappings with the bare model on as many windows (until ``stop()``
    says so after the first): bare seconds, inference-pass seconds, whole-run seconds, the model's
    share of the inference pass, and the last report."""
    from sunet.mapping import map_districts

    bare_s: list[float] = []
    infer_s: list[float] = []
    total_s: list[float] = []
    share: list[float] = []
    report = None
    for _ in range(repeats):
        if bare_s and stop():
            break
        timed.seconds = 0.0
        t0 = time.perf_counter()
        report = map_districts(config, timed)
        total_s.append(time.perf_counter() - t0)
        infer_s.append(report.seconds)
        share.append(timed.seconds / report.seconds)
        predictor = timed.inner
        bare_s.append(_bare(predictor, report.windows_run, config.batch_size, predictor.patch_size))
    return bare_s, infer_s, total_s, share, report


def run(
    side_km: float = 1.0,
    repeats: int = 15,
    batch_size: int = 16,
    memory_batch_size: int = 8,
    preset: str = "cpu-small",
    memory: bool = True,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Measure mapping throughput and memory; returns a JSON-ready dict of figures.

    Args:
        side_km: side of the benchmark district (the memory check also maps 2 x side_km).
        repeats: alternating bare/mapping repetitions (medians and best runs are reported).
        batch_size: windows per model call, for both.
        memory_batch_size: batch size of the memory runs. A batch reads strips of at most
            ``batch`` windows, so peak memory grows with the district until its window rows are
            longer than one batch, then stays flat; the default 8 is below the 9 windows of a
            1 km row at 256 m windows, so both memory runs are past that point.
        preset: model preset of the random-init bundle (``cpu-small``: 1.4 M parameters at
            128 px, ~450 windows/s on 2 quiet cores, where reading is ~10% of the model's time;
            ``paper``: Swin-V2 tiny at 256 px).
        memory: also run the two memory subprocesses.
        workdir: where to put the generated inputs (a temporary folder by default).
    """
    import torch

    from sunet.mapping import map_districts
    from sunet.mapping.predictor import load_predictor

    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        _bundle(root / "model.safetensors", preset)
        _scene(root / "scene.tif", int(2 * side_km * 1000 + 400))
        predictor = load_predictor(root / "model.safetensors")
        timed = _TimedPredictor(predictor)
        config = _config(root, side_km, batch_size, "small")
        map_districts(config, timed)  # warm-up: imports, GDAL caches, torch kernels
        bare_s, infer_s, total_s, share, report = measure(config, timed, repeats)
        windows, km2 = report.windows_run, report.city.area_km2
        bare, infer, total = (statistics.median(v) for v in (bare_s, infer_s, total_s))
        if memory:
            small = _memory(root, side_km, memory_batch_size, "mem1")
            large = _memory(root, 2 * side_km, memory_batch_size, "mem4")
    result: dict[str, Any] = {
        "preset": preset,
        "torch_threads": torch.get_num_threads(),
        "district_km2": km2,
        "windows": windows,
        "batch_size": batch_size,
        "bare_windows_per_s": windows / bare,
        "mapping_windows_per_s": windows / infer,
        "mapping_km2_per_min": km2 / (infer / 60.0),
        "end_to_end_km2_per_min": km2 / (total / 60.0),
        "throughput_ratio": bare / infer,
        "throughput_ratio_best": min(bare_s) / min(infer_s),
        "model_share_of_inference": statistics.median(share),
        "end_to_end_ratio": bare / total,
        "throughput_ratio_target": 0.9,
        "raw_seconds": {"bare": bare_s, "inference": infer_s, "total": total_s},
    }
    if memory:
        result.update(
            {
                "memory_small": small,
                "memory_4x": large,
                "rss_peak_ratio_4x": large["rss_peak_mb"] / small["rss_peak_mb"],
                "rss_growth_mb": [m["rss_peak_mb"] - m["rss_before_mb"] for m in (small, large)],
                "tracemalloc_ratio_4x": large["tracemalloc_peak_mb"] / small["tracemalloc_peak_mb"],
                "memory_batch_size": memory_batch_size,
                "memory_ratio_target": 1.25,
            }
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side-km", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--preset", default="cpu-small", choices=("cpu-small", "paper"))
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    args = parser.parse_args()
    result = run(
        args.side_km,
        args.repeats,
        args.batch_size,
        preset=args.preset,
        memory=not args.no_memory,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
