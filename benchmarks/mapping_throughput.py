"""Mapping throughput against the bare model, where a map's time goes, and peak memory.

``run()`` builds a random-init ``cpu-small`` bundle (patch 256 ground pixels at 1 m, the model's
128 px input) and one painted 1 m UTM scene, then, for square districts of each size in
``sides_km`` (1 and 16 km² by default), and for a 4 km² district of a Web Mercator scene (Google
Earth's CRS, so every window is warped to UTM), measures in one process, alternating so that other
load on the machine hits both alike:

* the bare forward: ``Predictor.predict_abundances`` on as many random windows as the map runs,
  in the same batch size;
* the mapping: ``map_districts`` on the district, i.e. the inference pass (``report.seconds``:
  reading, batching, the model, accumulating and streaming cells), and the whole run including
  every product.

Throughput ratio = bare seconds / mapping seconds for the same windows (1.0 = mapping costs
nothing beyond the model), of the inference pass and end to end: of the medians, and of the best
runs (the least disturbed by other load). ``model_share_of_inference`` is the share of the
inference pass's wall time spent inside the model's forward, timed during the mapping itself.

Where the time goes (median over the repeats): ``phases`` are the pipeline's steps, whose wall
times add up to the run (plan: districts, scenes inspected, grid; inference; areas: every product
of the district and of the city, the areas in parallel threads; catalogs: STAC and the QGIS
project; record); ``products`` are the seconds inside each product writer, summed over the areas
(which run side by side, so these can add up to more than the areas' wall time).

Peak memory is measured in fresh subprocesses for the smallest district and for one four times
larger: the peak resident memory of the whole process during the run (model loaded beforehand,
sampled every 20 ms) and the ``tracemalloc`` peak of Python/numpy allocations during the run
(which excludes torch's own tensors).

    python -m benchmarks.mapping_throughput [--side-km 1 4] [--repeats 9] [--preset paper]
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


def _scene(path: Path, side_m: int, seed: int = 0, crs: str = UTM) -> Path:
    """A 1 m RGB scene of 16 px blocks painted in LCZ colours (tiled, DEFLATE) whose upper-left
    corner is the UTM point (LEFT, TOP) and which covers ``side_m`` metres each way; in UTM, or
    in ``crs`` (e.g. ``"EPSG:3857"``, Google Earth's, with pixels of 1 m on the ground)."""
    import math

    import rasterio
    from affine import Affine
    from pyproj import Transformer

    from sunet.lcz import CLASSES

    transform, width = Affine(1.0, 0, LEFT, 0, -1.0, TOP), side_m
    if crs != UTM:
        to_crs = Transformer.from_crs(UTM, crs, always_xy=True)
        xs, ys = to_crs.transform([LEFT, LEFT + side_m, LEFT, LEFT + side_m],
                                  [TOP, TOP, TOP - side_m, TOP - side_m])  # fmt: skip
        lat = Transformer.from_crs(UTM, 4326, always_xy=True).transform(LEFT, TOP)[1]
        res = 1.0 / math.cos(math.radians(lat))  # a Web Mercator pixel of 1 m on the ground
        transform = Affine(res, 0, min(xs), 0, -res, max(ys))
        width = math.ceil(max((max(xs) - min(xs)) / res, (max(ys) - min(ys)) / res))
    side_m = width
    rng = np.random.default_rng(seed)
    blocks = -(-side_m // 16)
    palette = np.array([c.rgb for c in CLASSES], dtype=np.uint8)
    idx = rng.integers(0, len(CLASSES), size=(blocks, blocks))
    with rasterio.open(
        path, "w", driver="GTiff", width=side_m, height=side_m, count=3, dtype="uint8", crs=crs,
        transform=transform, nodata=0, tiled=True, blockxsize=256, blockysize=256,
        compress="deflate",
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


def _config(root: Path, side_km: float, batch_size: int, tag: str, scene: str = "scene.tif") -> Any:
    from sunet.mapping import MapConfig

    return MapConfig(
        model=root / "model.safetensors",
        scenes=[root / scene],
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


# The pipeline's steps, as map_districts calls them (their wall times add up to the run).
_PHASES = {"plan": "plan_map", "inference": "infer_cells", "areas": "write_areas",
           "catalogs": "write_catalogs", "record": "write_record"}  # fmt: skip
# Each product writer, timed where an area's products are written.
_PRODUCT_WRITERS = {
    "sunet.mapping.products": ("write_cog", "write_wudapt", "write_dominant_polygons",
                               "write_layer_styles", "write_quicklook", "_write_summary"),
}  # fmt: skip


def timed_steps() -> tuple[dict[str, float], dict[str, float]]:
    """Wrap the pipeline's steps (:data:`_PHASES`) and the product writers
    (:data:`_PRODUCT_WRITERS`, and the grid-cell layer's row writes) so that their seconds add up
    in the two returned dicts (``phases``, ``products``); the caller clears them between runs."""
    import importlib
    import threading

    from sunet.mapping import pipeline
    from sunet.mapping.vectors import CellsLayerWriter

    phases: dict[str, float] = {}
    products: dict[str, float] = {}
    lock = threading.Lock()  # areas are written in parallel threads

    def timed(into: dict[str, float], name: str, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    into[name] = into.get(name, 0.0) + time.perf_counter() - t0

        return call

    for name, function in _PHASES.items():
        setattr(pipeline, function, timed(phases, name, getattr(pipeline, function)))
    for module_name, names in _PRODUCT_WRITERS.items():
        module = importlib.import_module(module_name)
        for name in names:
            setattr(module, name, timed(products, name.lstrip("_"), getattr(module, name)))
    CellsLayerWriter.write = timed(products, "cells_layer", CellsLayerWriter.write)  # type: ignore[method-assign]
    return phases, products


def measure(
    config: Any,
    timed: _TimedPredictor,
    repeats: int,
    stop: Any = lambda: False,
    steps: tuple[dict[str, float], dict[str, float]] | None = None,
    runs: list[tuple[dict[str, float], dict[str, float]]] | None = None,
) -> tuple[list[float], list[float], list[float], list[float], Any]:
    """Alternate ``repeats`` mappings with the bare model on as many windows (until ``stop()``
    says so after the first): bare seconds, inference-pass seconds, whole-run seconds, the model's
    share of the inference pass, and the last report. With ``steps`` (from :func:`timed_steps`),
    a copy of each run's step and writer seconds is appended to ``runs``."""
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
        for d in steps or ():
            d.clear()
        t0 = time.perf_counter()
        report = map_districts(config, timed)
        total_s.append(time.perf_counter() - t0)
        if steps is not None and runs is not None:
            runs.append((dict(steps[0]), dict(steps[1])))
        infer_s.append(report.seconds)
        share.append(timed.seconds / report.seconds)
        predictor = timed.inner
        bare_s.append(_bare(predictor, report.windows_run, config.batch_size, predictor.patch_size))
    return bare_s, infer_s, total_s, share, report


def _median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = list(dict.fromkeys(k for r in runs for k in r))
    return {k: round(statistics.median(r.get(k, 0.0) for r in runs), 4) for k in keys}


def _size(config: Any, timed: _TimedPredictor, repeats: int, steps: Any) -> dict[str, Any]:
    """The figures of one district size."""
    from sunet.mapping import map_districts

    map_districts(config, timed)  # warm-up: imports, GDAL caches, torch kernels
    runs: list[tuple[dict[str, float], dict[str, float]]] = []
    bare_s, infer_s, total_s, share, report = measure(
        config, timed, repeats, steps=steps, runs=runs
    )
    windows, km2 = report.windows_run, report.city.area_km2
    bare, infer, total = (statistics.median(v) for v in (bare_s, infer_s, total_s))
    phases = _median_of([r[0] for r in runs])
    phases["other"] = round(total - sum(phases.values()), 4)
    return {
        "district_km2": round(km2, 3),
        "windows": windows,
        "bare_windows_per_s": round(windows / bare, 1),
        "mapping_windows_per_s": round(windows / infer, 1),
        "end_to_end_km2_per_min": round(km2 / (total / 60.0), 1),
        "throughput_ratio": round(bare / infer, 3),
        "throughput_ratio_best": round(min(bare_s) / min(infer_s), 3),
        "end_to_end_ratio": round(bare / total, 3),
        "end_to_end_ratio_best": round(min(bare_s) / min(total_s), 3),
        "model_share_of_inference": round(statistics.median(share), 3),
        "phase_share": {k: round(v / total, 3) for k, v in phases.items()},
        "phase_seconds": phases,
        "product_seconds": _median_of([r[1] for r in runs]),
        "raw_seconds": {"bare": bare_s, "inference": infer_s, "total": total_s},
    }


def run(
    sides_km: tuple[float, ...] = (1.0, 4.0),
    repeats: int = 9,
    batch_size: int = 16,
    memory_batch_size: int = 8,
    preset: str = "cpu-small",
    memory: bool = True,
    workdir: Path | None = None,
    mercator_km: float = 2.0,
) -> dict[str, Any]:
    """Measure mapping throughput and memory; returns a JSON-ready dict of figures.

    Args:
        sides_km: sides of the benchmark districts (1 and 16 km²); the memory check maps the
            first and one of twice its side.
        repeats: alternating bare/mapping repetitions per size (medians and best runs reported).
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
        mercator_km: also map a district of this side from a Web Mercator scene (Google Earth's
            CRS: every window warped to UTM), 0 to skip.

    Keys: per size ``"<km2> km2"`` (see :func:`_size`), and the headline figures of the largest
    district: ``throughput_ratio`` (aim 0.9) and ``end_to_end_ratio`` (aim 0.85).
    """
    import torch

    from sunet.mapping.predictor import load_predictor

    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    steps = timed_steps()
    sizes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        _bundle(root / "model.safetensors", preset)
        _scene(root / "scene.tif", int(max(max(sides_km), 2 * sides_km[0]) * 1000 + 400))
        predictor = load_predictor(root / "model.safetensors")
        timed = _TimedPredictor(predictor)
        for side in sides_km:
            config = _config(root, side, batch_size, f"s{side:g}")
            figures = _size(config, timed, repeats, steps)
            sizes[f"{figures['district_km2']:g} km2"] = figures
        if mercator_km:
            _scene(root / "mercator.tif", int(mercator_km * 1000 + 400), crs="EPSG:3857")
            config = _config(root, mercator_km, batch_size, "merc", scene="mercator.tif")
            figures = _size(config, timed, repeats, steps)
            sizes[f"{figures['district_km2']:g} km2, Web Mercator scene"] = figures
        if memory:
            small = _memory(root, sides_km[0], memory_batch_size, "mem1")
            large = _memory(root, 2 * sides_km[0], memory_batch_size, "mem4")
    largest = [v for k, v in sizes.items() if "Mercator" not in k][-1]
    result: dict[str, Any] = {
        "preset": preset,
        "torch_threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "throughput_ratio": largest["throughput_ratio"],
        "end_to_end_ratio": largest["end_to_end_ratio"],
        "throughput_ratio_target": 0.9,
        "end_to_end_ratio_target": 0.85,
        **sizes,
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
    parser.add_argument("--side-km", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--preset", default="cpu-small", choices=("cpu-small", "paper"))
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    args = parser.parse_args()
    result = run(
        tuple(args.side_km),
        args.repeats,
        args.batch_size,
        preset=args.preset,
        memory=not args.no_memory,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
