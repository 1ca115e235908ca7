"""Start-up of the command line: ``lcz-map COMMAND --help`` against a bare Python start.

Each command's help is timed in a fresh interpreter (median of several runs) and divided by the
median of ``python -c pass`` timed alongside; the ratio says what the command costs beyond Python
itself. Absolute seconds are reported too, for the README's "--help answers at once".
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

REPEATS = 5


def _median_seconds(argv: list[str]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run() -> dict[str, Any]:
    from sunet.cli import COMMANDS

    bare = _median_seconds([sys.executable, "-c", "pass"])
    result: dict[str, Any] = {"python_start_s": round(bare, 3)}
    worst = 0.0
    for name in ["", *COMMANDS]:
        argv = [sys.executable, "-m", "sunet.cli", *([name] if name else []), "--help"]
        seconds = _median_seconds(argv)
        worst = max(worst, seconds)
        result[f"help_{name or 'top'}_ratio"] = round(seconds / bare, 1)
    result["help_slowest_s"] = round(worst, 2)
    return result
