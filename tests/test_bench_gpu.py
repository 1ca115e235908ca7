"""The GPU run (``benchmarks/gpu.py``): its projection, its guard around the compiled run, and the
whole script in its ``--tiny`` CPU form, so that it is known to work before a GPU is lent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.gpu import WUHAN_KM2, minutes_to_map, model_km2_per_min, projection, run_child

ROOT = Path(__file__).resolve().parents[1]


def test_wuhan_takes_its_area_over_the_rate() -> None:
    assert WUHAN_KM2 == 8569.0
    assert minutes_to_map(WUHAN_KM2, 100.0) == pytest.approx(85.69)


def test_model_rate_in_km2_follows_the_windows_per_km2_of_the_district() -> None:
    # 2,500 windows cover 36 km²: 500 windows/s is 7.2 km²/s, 432 km²/min.
    assert model_km2_per_min(500.0, 2500, 36.0) == pytest.approx(432.0)


def test_projection_gives_minutes_at_each_measured_rate_and_none_for_the_rest() -> None:
    mapping = {
        "windows": 2500,
        "district_km2": 36.0,
        "end_to_end_km2_per_min": 85.69,
        "mapping_windows_per_s": 250.0,
        "bare_windows_per_s": 500.0,
        "bare_bf16_windows_per_s": None,  # not measured (no native bf16)
    }
    p = projection(mapping)
    assert p["minutes"]["end_to_end"] == pytest.approx(100.0)
    assert p["minutes"]["inference_pass"] == pytest.approx(8569 / 216)
    assert p["minutes"]["model_only"] == pytest.approx(8569 / 432)
    assert p["minutes"]["model_only_bf16"] is None
    # A mapping phase that failed leaves no rates, and no made-up minutes.
    assert set(projection({"status": "failed"})["minutes"].values()) == {None}


def test_child_result_is_read_from_its_marked_line() -> None:
    code = "print('noise'); print('GPU-BENCH-RESULT ' + '{\"steps_per_s\": 2.5}')"
    assert run_child([sys.executable, "-c", code], 60) == {"status": "ok", "steps_per_s": 2.5}


def test_a_failing_child_is_reported_with_its_last_line() -> None:
    code = "import sys; sys.exit('BackendCompilerFailed: no compiler')"
    r = run_child([sys.executable, "-c", code], 60)
    assert r == {"status": "failed", "reason": "BackendCompilerFailed: no compiler"}


def test_a_child_past_its_time_is_stopped_with_its_own_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A child that starts a worker of its own (as inductor's compile workers are) and hangs.
    code = (
        "import subprocess, sys, time; "
        "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        f"open({str(pids)!r}, 'w').write(f'{{w.pid}}'); time.sleep(120)"
    )
    r = run_child([sys.executable, "-c", code], 3)
    assert r["status"] == "timed out"
    stat = Path(f"/proc/{int(pids.read_text())}/stat")
    # SIGKILL is delivered asynchronously: on a busy machine the worker may take a moment to die
    # (gone, or a zombie awaiting its reaper). A worker left alive would sleep on for 2 minutes.
    for _ in range(300):
        try:
            state = stat.read_text().split()[2]
        except FileNotFoundError:
            state = "gone"
        if state in ("gone", "Z"):
            break
        time.sleep(0.1)
    assert state in ("gone", "Z")


@pytest.mark.slow
def test_tiny_run_on_cpu_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    # The compiled run with dynamo's 'eager' backend: the child process and its figures without
    # minutes of inductor compilation on a small CPU.
    cmd = [sys.executable, "-m", "benchmarks.gpu", "--tiny", "--device", "cpu", "--compile", "on",
           "--compile-backend", "eager", "--max-seconds", "1200", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["stopped_early"] == []
    eager, compiled = result["training"]["eager"], result["training"]["compiled"]
    mapping, minutes = result["mapping"], result["projection"]["minutes"]
    assert eager["status"] == compiled["status"] == mapping["status"] == "ok"
    figures = {
        "eager steps/s": eager["steps_per_s"],
        "eager images/s": eager["images_per_s"],
        "full loop images/s": eager["full_loop_images_per_s"],
        "compile s": compiled["compile_s"] + 1,  # may round to 0 with the eager backend
        "compiled steps/s": compiled["steps_per_s"],
        "compiled images/s": compiled["images_per_s"],
        "bare windows/s": mapping["bare_windows_per_s"],
        "mapping windows/s": mapping["mapping_windows_per_s"],
        "end-to-end km²/min": mapping["end_to_end_km2_per_min"],
        **{f"Wuhan minutes, {k}": v for k, v in minutes.items() if k != "model_only_bf16"},
    }
    assert {k: v for k, v in figures.items() if not (isinstance(v, float) and v > 0)} == {}
    assert eager["steps"] == compiled["steps"] == 4 and eager["batch_size"] == 8
    assert eager["preset"] == mapping["preset"] == "cpu-small"
    assert eager["peak_gib"] is None  # no GPU memory on a CPU run
    assert set(result["environment"]) >= {"device_name", "torch", "cuda", "bf16_native"}
    # One markdown table, with a row for each figure and the Wuhan projection.
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert table[:2] == ["| stage | figure | value |", "|---|---|---|"]
    assert len(table) == 18 and any(line.startswith("| Wuhan, 8,569 km²") for line in table)
    assert "dtype: training" in done.stdout
