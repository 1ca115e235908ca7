"""`make bench`: every throughput figure as a ratio against a baseline measured in the same run.

These machines are shared and noisy, so no absolute timing is trusted on its own: each benchmark
times the pipeline stage and a bare baseline (plain rasterio read + write, the bare model forward /
forward + backward) back to back on the same work, and reports the ratio. Results are printed and
written to ``runs/bench/bench.json``.

Usage: ``python -m benchmarks.run [startup tiling training mapping scaling]``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path

# As `lcz-map` does (sunet/cli.py): OpenMP reads this once, when torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

BENCHMARKS = {
    "startup": "benchmarks.startup",
    "tiling": "benchmarks.tiling_throughput",
    "training": "benchmarks.train_throughput",
    "mapping": "benchmarks.mapping_throughput",
    "scaling": "benchmarks.scaling",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    out = Path("runs/bench")
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "machine": {
            "platform": platform.platform(),
            "cpus": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        }
    }
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        start = time.perf_counter()
        params = inspect.signature(module.run).parameters
        kwargs = {k: out / name for k in ("workdir", "work_dir") if k in params}
        result = module.run(**kwargs)
        result["wall_s"] = round(time.perf_counter() - start, 1)
        results[name] = result
        print(f"\n== {name} ==")
        for key, value in result.items():
            print(f"  {key:>32}: {value}")
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
