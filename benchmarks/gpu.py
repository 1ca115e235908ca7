"""GPU run: training and mapping speed of the ``paper`` model on one NVIDIA GPU, and what that
means for a whole city (Wuhan, 8,569 km²).

Everything goes through the project's own code, on generated inputs (nothing is downloaded):

* training: random in-memory patches (``benchmarks.train_throughput``), prepared on the device
  once, through :class:`~sunet.training.step.StepRunner` as the trainer builds it from
  ``TrainConfig``'s defaults (GradNorm every 4th step, grad clipping, AdamW; bf16 autocast where
  :func:`~sunet.training.distributed.bf16_native`), with the model and its input channels-last.
  Eager first; then the trainer's own inner loop (:func:`~sunet.training.step.train_epoch`:
  gather, ``looks`` augmentation, normalise, step) on the same model; then ``torch.compile`` in
  a child process with whatever time is left, so that a compiler that fails, or takes longer
  than the budget, costs the eager figures nothing (the run says which happened);
* mapping: a random-init bundle of the preset and a painted 1 m UTM scene
  (``benchmarks.mapping_throughput``), a square district of ``side_km``; the bare
  :class:`~sunet.bundle.Predictor` (float32, as mapping runs it; and under bf16 autocast, which
  mapping does not use yet) on as many random windows, against ``map_districts`` (read-ahead on a
  GPU): windows/s of its inference pass and km²/min of the whole run with every product;
* the projection: minutes to map Wuhan at the end-to-end rate, at the inference pass's and at the
  bare model's (windows per km² as in the benchmark district, whose edge windows make it a little
  pessimistic for a city).

Compile time is reported apart: the warm-up steps' wall time less what they take once compiled.
``--max-seconds`` bounds the whole run: each phase stops measuring when it is reached and the
figures so far are reported (``stopped_early`` says where). The results are printed as one
markdown table and written to ``runs/bench/gpu.json`` (rewritten after every phase).

    python -m benchmarks.gpu [--preset paper] [--steps 40] [--side-km 6] [--max-seconds 280]
    python -m benchmarks.gpu --tiny   # cpu-small, a few steps, a tiny district: runs on a CPU
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# As `lcz-map` does (sunet/cli.py): OpenMP reads this once, when torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sunet.atomic import write_text_atomic  # noqa: E402

__all__ = ["WUHAN_KM2", "minutes_to_map", "model_km2_per_min", "projection", "run_child", "main"]

WUHAN_KM2 = 8569.0
OUT = Path("runs/bench/gpu.json")
_RESULT = "GPU-BENCH-RESULT "  # prefix of the child's one JSON line
_REPO = Path(__file__).resolve().parents[1]

# Settings of a default run (a GPU) and of --tiny (a CPU, to know the script works).
_FULL = {"preset": "paper", "steps": 40, "batch_size": None, "side_km": 6.0, "repeats": 3}
_TINY = {"preset": "cpu-small", "steps": 4, "batch_size": 8, "side_km": 0.5, "repeats": 1}


# --- projection ----------------------------------------------------------------------------------


def minutes_to_map(area_km2: float, km2_per_min: float | None) -> float | None:
    """Minutes to map ``area_km2`` at ``km2_per_min`` (None when the rate was not measured)."""
    if km2_per_min is None or km2_per_min <= 0:
        return None
    return area_km2 / km2_per_min


def model_km2_per_min(windows_per_s: float | None, windows: int, km2: float) -> float | None:
    """km²/min that ``windows_per_s`` covers where ``windows`` windows cover ``km2``."""
    if windows_per_s is None or windows <= 0:
        return None
    return windows_per_s * 60.0 * km2 / windows


def projection(mapping: dict[str, Any], area_km2: float = WUHAN_KM2) -> dict[str, Any]:
    """Minutes to map ``area_km2`` at the rates of a mapping measurement (``measure_mapping``)."""
    windows, km2 = mapping.get("windows", 0), mapping.get("district_km2", 0.0)
    rates = {
        "end_to_end": mapping.get("end_to_end_km2_per_min"),
        "inference_pass": model_km2_per_min(mapping.get("mapping_windows_per_s"), windows, km2),
        "model_only": model_km2_per_min(mapping.get("bare_windows_per_s"), windows, km2),
        "model_only_bf16": model_km2_per_min(mapping.get("bare_bf16_windows_per_s"), windows, km2),
    }
    return {
        "area_km2": area_km2,
        "km2_per_min": rates,
        "minutes": {k: minutes_to_map(area_km2, v) for k, v in rates.items()},
    }


# --- running ------------------------------------------------------------------------------------


@dataclass
class Deadline:
    """The run's wall-clock limit (``time.monotonic`` seconds)."""

    end: float

    def left(self) -> float:
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def _fresh_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _say(message: str) -> None:
    print(f"[gpu-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on."""
    import timm

    from sunet.training.distributed import bf16_native

    env: dict[str, Any] = {
        "device": str(device),
        "device_name": _cpu_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "timm": timm.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "bf16_native": bf16_native(device),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            device_name=torch.cuda.get_device_name(device),
            capability=f"{props.major}.{props.minor}",
            memory_gib=round(props.total_memory / 2**30, 1),
        )
    return env


# --- training -----------------------------------------------------------------------------------


def measure_training(
    preset: str,
    batch_size: int | None,
    steps: int,
    device: torch.device,
    deadline: Deadline,
    compile_backend: str | None = None,
    full_loop: bool = False,
) -> dict[str, Any]:
    """Training steps/s of ``preset`` on ``device`` through the trainer's ``StepRunner``.

    Two warm-up steps (a GradNorm update and a plain step: both paths, and for a compiled model
    the compilation) are timed apart; then ``steps`` steps from global step ``gradnorm_every``,
    so that GradNorm updates on every ``gradnorm_every``-th of them, as in training.

    Args:
        batch_size: None = the preset's.
        compile_backend: ``torch.compile`` backend of the forward pass; None = eager.
        full_loop: then also time ``train_epoch`` (gather from the cached split, augment,
            normalise, step) over as many batches.

    Returns:
        ``steps``, ``steps_per_s``, ``images_per_s``, ``peak_gib`` (allocated, GPU only),
        ``warmup_s``, ``compile_s`` (compiled only), ``amp``, ``full_loop_images_per_s``.
    """
    from benchmarks.train_throughput import _random_split
    from sunet.model import SUNet
    from sunet.training.augment import Augmenter
    from sunet.training.config import PURE_FRACTION, TrainConfig
    from sunet.training.data import MixedBatchSampler, band_statistics
    from sunet.training.distributed import bf16_native
    from sunet.training.gradnorm import GradNorm
    from sunet.training.learner import build_optimizer
    from sunet.training.settings import Settings
    from sunet.training.step import StepRunner, prepare_batch, train_epoch

    config = TrainConfig(
        patches=Path("."),  # never read: the patches are made in memory
        out=Path("."),
        preset=preset,  # type: ignore[arg-type]
        batch_size=batch_size,
        pure_fraction=PURE_FRACTION,  # the trainer's share for a store that is a third pure
        device=device.type,  # type: ignore[arg-type]
    )
    settings = Settings.of(config)
    bs = settings.batch_size
    # A handful of distinct batches, reused: enough to keep the step honest, little memory.
    distinct = max(1, min(steps, 8))
    data = _random_split(bs * distinct, config.arch.input_size, config.seed)
    mean, std = band_statistics(data)
    sampler = MixedBatchSampler(data.pure, bs, settings.pure_fraction, config.seed)
    rows = [b for e in range(distinct) for b in sampler.batches(e)][:distinct]
    _fresh_memory(device)
    torch.manual_seed(config.seed)
    model = SUNet(config.arch).to(device).to(memory_format=torch.channels_last)
    amp = torch.bfloat16 if config.amp and bf16_native(device) else None
    forward: torch.nn.Module = model
    if compile_backend is not None:
        forward = torch.compile(model, backend=compile_backend)  # type: ignore[assignment]
    runner = StepRunner(
        forward,
        model,
        build_optimizer(model, settings.lr, settings.weight_decay),
        GradNorm(len(config.tasks), config.gradnorm_alpha, config.gradnorm_lr).to(device),
        config.loss_weights == "gradnorm",
        config.grad_clip,
        amp,
        shared_layer=config.gradnorm_layer,
        gradnorm_every=config.gradnorm_every,
        abundances_on_pure=config.abundances_on_pure,
    )
    batches = []
    for r in rows:
        b = prepare_batch(data, r, mean, std, device, None)
        b.x = b.x.contiguous(memory_format=torch.channels_last)
        batches.append(b)
    lr, every = settings.lr, config.gradnorm_every
    model.train()
    t0 = time.perf_counter()
    for i in range(2):
        runner.step(batches[i % distinct], lr, i)
    _sync(device)
    warmup_s = time.perf_counter() - t0
    done, t0 = 0, time.perf_counter()
    while done < steps and (done == 0 or not deadline.passed()):
        runner.step(batches[done % distinct], lr, every + done)
        done += 1
    _sync(device)
    seconds = time.perf_counter() - t0
    result: dict[str, Any] = {
        "preset": preset,
        "input_px": config.arch.input_size,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "batch_size": bs,
        "amp": str(amp).removeprefix("torch.") if amp is not None else "float32",
        "channels_last": True,
        "gradnorm_every": every,
        "compile_backend": compile_backend,
        "steps": done,
        "seconds": seconds,
        "steps_per_s": done / seconds,
        "images_per_s": done * bs / seconds,
        "peak_gib": _peak_gib(device),
        "warmup_s": warmup_s,
        "stopped_early": done < steps,
    }
    if compile_backend is not None:
        result["compile_s"] = max(0.0, warmup_s - 2 / result["steps_per_s"])
    if full_loop and deadline.passed():
        result["full_loop_steps"] = 0  # no time left for it
    elif full_loop:
        augmenter = Augmenter(config.seed + 1000, appearance=config.appearance)
        loop_rows = [rows[i % distinct] for i in range(steps)]
        step_no = 0

        def stop() -> bool:
            nonlocal step_no
            step_no += 1
            return step_no > 1 and deadline.passed()

        t0 = time.perf_counter()
        _, taken, _ = train_epoch(
            runner, data, loop_rows, mean, std, augmenter, lambda _: lr, every, stop
        )
        _sync(device)
        result["full_loop_steps"] = taken
        result["full_loop_images_per_s"] = taken * bs / (time.perf_counter() - t0)
        result["full_loop_appearance"] = config.appearance
    return result


def run_child(command: list[str], timeout_s: float) -> dict[str, Any]:
    """Run ``command`` (a measurement in a fresh process) for at most ``timeout_s``.

    Returns:
        The JSON its last ``GPU-BENCH-RESULT`` line holds, with ``status: ok``; or ``status:
        failed`` / ``timed out`` and a one-line ``reason`` (the child's last line of output).
    """
    proc = subprocess.Popen(
        command, cwd=_REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: a timeout stops its compile workers too
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=max(timeout_s, 1.0))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"status": "timed out", "reason": f"no result within {timeout_s:.0f} s"}
    lines = [x for x in out.splitlines() if x.startswith(_RESULT)]
    if proc.returncode == 0 and lines:
        return {"status": "ok", **json.loads(lines[-1][len(_RESULT) :])}
    tail = [x for x in (err + out).splitlines() if x.strip()]
    for line in tail[-8:]:
        print(f"  child: {line}", file=sys.stderr)
    reason = tail[-1].strip() if tail else f"exit status {proc.returncode}"
    return {"status": "failed", "reason": reason[:300]}


# --- mapping ------------------------------------------------------------------------------------


class _Autocast:
    """A predictor whose forward runs under bf16 autocast (mapping does not do this yet)."""

    def __init__(self, inner: Any, device: torch.device) -> None:
        self.inner, self.device_type = inner, device.type
        self.patch_size, self.gsd, self.bands = inner.patch_size, inner.gsd, inner.bands

    def predict_abundances(self, images: np.ndarray) -> np.ndarray:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return np.asarray(self.inner.predict_abundances(images))


def measure_mapping(
    preset: str,
    side_km: float,
    batch_size: int,
    repeats: int,
    device: torch.device,
    deadline: Deadline,
    workdir: Path,
) -> dict[str, Any]:
    """Windows/s of the bare model and of ``map_districts`` on a ``side_km`` square district,
    and km²/min end to end (medians over ``repeats``, after one warm-up map)."""
    import statistics

    from benchmarks.mapping_throughput import (
        _bare,
        _bundle,
        _config,
        _scene,
        _TimedPredictor,
        measure,
    )
    from sunet.bundle import Predictor
    from sunet.mapping import map_districts
    from sunet.training.distributed import bf16_native

    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        _bundle(root / "model.safetensors", preset)
        _scene(root / "scene.tif", int(side_km * 1000 + 400))
        inputs_s = time.perf_counter() - t0
        _fresh_memory(device)
        predictor = Predictor(root / "model.safetensors", device=device, batch_size=batch_size)
        timed = _TimedPredictor(predictor)
        config = _config(root, side_km, batch_size, "district")
        config = config.model_copy(update={"read_ahead": device.type == "cuda"})
        t0 = time.perf_counter()
        report = map_districts(config, timed)  # warm-up: imports, GDAL caches, kernels
        warmup_s = time.perf_counter() - t0
        windows, km2 = report.windows_run, report.city.area_km2
        bare_s, infer_s, total_s, share, _ = measure(config, timed, repeats, deadline.passed)
        bf16_s = None
        if bf16_native(device) and not deadline.passed():
            fast = _Autocast(predictor, device)
            _bare(fast, batch_size, batch_size, predictor.patch_size)  # warm-up
            bf16_s = _bare(fast, windows, batch_size, predictor.patch_size)
        peak = _peak_gib(device)
    bare, infer, total = (statistics.median(v) for v in (bare_s, infer_s, total_s))
    return {
        "preset": preset,
        "district_km2": km2,
        "side_km": side_km,
        "cell_size_m": report.cell_size_m,
        "windows": windows,
        "batch_size": batch_size,
        "read_ahead": config.read_ahead,
        "repeats": len(bare_s),
        "dtype": "float32",
        "bare_windows_per_s": windows / bare,
        "bare_bf16_windows_per_s": windows / bf16_s if bf16_s else None,
        "mapping_windows_per_s": windows / infer,
        "model_share_of_inference": statistics.median(share),
        "end_to_end_s": total,
        "end_to_end_km2_per_min": km2 / (total / 60.0),
        "peak_gib": peak,
        "inputs_s": inputs_s,
        "warmup_s": warmup_s,
        "stopped_early": len(bare_s) < repeats,
        "raw_seconds": {"bare": bare_s, "inference": infer_s, "total": total_s},
    }


# --- report -------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # an error message may hold one


def table(result: dict[str, Any]) -> str:
    """The run's figures as one markdown table."""
    train = result.get("training", {})
    eager, compiled = train.get("eager") or {}, train.get("compiled") or {}
    mapping = result.get("mapping") or {}
    proj = result.get("projection") or {"minutes": {}, "area_km2": WUHAN_KM2}
    minutes = proj["minutes"]
    t = (
        f"{eager.get('preset', '?')}, batch {eager.get('batch_size', '?')}, "
        f"{eager.get('amp', '?')}, channels-last"
    )
    if compiled.get("status") == "ok":
        c_note = f"torch.compile (backend {compiled.get('compile_backend')})"
    else:
        c_note = f"torch.compile: {compiled.get('status', 'not run')}"
        if compiled.get("reason"):
            c_note += f" ({compiled['reason']})"
    loop = _fmt(eager.get("full_loop_images_per_s"))
    m = (
        f"{mapping.get('preset', '?')}, {_fmt(mapping.get('district_km2'), 2)} km², "
        f"{_fmt(mapping.get('windows'))} windows, batch {mapping.get('batch_size', '?')}"
    )
    w = f"Wuhan, {proj['area_km2']:,.0f} km²"
    rows = [
        (f"training ({t}), eager", "steps/s", _fmt(eager.get("steps_per_s"), 2)),
        ("", "images/s", _fmt(eager.get("images_per_s"))),
        ("", "peak GPU memory, GiB", _fmt(eager.get("peak_gib"), 2)),
        ("", "full inner loop images/s (gather, augment, step)", loop),
        (c_note, "compile time, s", _fmt(compiled.get("compile_s"))),
        ("", "steps/s", _fmt(compiled.get("steps_per_s"), 2)),
        ("", "images/s", _fmt(compiled.get("images_per_s"))),
        ("", "peak GPU memory, GiB", _fmt(compiled.get("peak_gib"), 2)),
        (
            f"mapping ({m})",
            "bare model windows/s, float32",
            _fmt(mapping.get("bare_windows_per_s")),
        ),
        ("", "bare model windows/s, bf16 autocast", _fmt(mapping.get("bare_bf16_windows_per_s"))),
        ("", "mapping windows/s (inference pass)", _fmt(mapping.get("mapping_windows_per_s"))),
        ("", "end-to-end km²/min (all products)", _fmt(mapping.get("end_to_end_km2_per_min"), 2)),
        (w, "minutes at the end-to-end rate", _fmt(minutes.get("end_to_end"))),
        ("", "minutes at the inference pass's rate", _fmt(minutes.get("inference_pass"))),
        ("", "minutes at the model-only rate (float32)", _fmt(minutes.get("model_only"))),
        ("", "minutes at the model-only rate (bf16)", _fmt(minutes.get("model_only_bf16"))),
    ]
    lines = ["| stage | figure | value |", "|---|---|---|"]
    lines += [f"| {_cell(a)} | {_cell(b)} | {_cell(c)} |" for a, b, c in rows]
    return "\n".join(lines)


def _save(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(result, indent=2, default=str))


# --- command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="cpu-small, few steps, tiny district")
    p.add_argument(
        "--preset", choices=("paper", "cpu-small"), help="default paper (tiny: cpu-small)"
    )
    p.add_argument("--steps", type=int, help="timed training steps (default 40; tiny 4)")
    p.add_argument("--batch-size", type=int, help="training batch (default the preset's; tiny 8)")
    p.add_argument("--side-km", type=float, help="side of the district, km (default 6; tiny 0.5)")
    p.add_argument("--repeats", type=int, help="timed maps (default 3; tiny 1)")
    p.add_argument("--map-batch", type=int, help="windows per model call (GPU 128, CPU 16)")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                   help="measure torch.compile too (auto: on a GPU only; on a CPU the inductor "
                        "compile alone takes minutes)")  # fmt: skip
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend")
    p.add_argument("--max-seconds", type=float, default=280.0, help="wall-clock limit of the run")
    p.add_argument("--out", type=Path, default=OUT, help="JSON written here")
    p.add_argument("--child-compiled", action="store_true", help=argparse.SUPPRESS)
    return p


def _child_command(args: argparse.Namespace, timeout_s: float) -> list[str]:
    cmd = [sys.executable, "-m", "benchmarks.gpu", "--child-compiled", "--preset", args.preset,
           "--steps", str(args.steps), "--device", args.device, "--compile-backend",
           args.compile_backend,
           # Its own limit ends before the parent's: its start-up (imports) and the reply.
           "--max-seconds", f"{max(timeout_s - 15, 0.8 * timeout_s):.0f}"]  # fmt: skip
    if args.batch_size is not None:
        cmd += ["--batch-size", str(args.batch_size)]
    return cmd


def _phase(name: str, fn: Any) -> dict[str, Any]:
    """``fn()``'s figures, or ``status: failed`` with the error: one phase failing on a machine
    lent for minutes must not cost the others' figures."""
    try:
        return {"status": "ok", **fn()}
    except Exception as e:  # noqa: BLE001 - reported, and the run goes on
        traceback.print_exc()
        _say(f"{name} failed: {e!r}")
        return {"status": "failed", "reason": f"{type(e).__name__}: {e}"[:300]}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start = time.monotonic()
    deadline = Deadline(start + args.max_seconds)
    for key, value in (_TINY if args.tiny else _FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.child_compiled:
        device = torch.device(args.device)
        r = measure_training(args.preset, args.batch_size, args.steps, device, deadline,
                             compile_backend=args.compile_backend)  # fmt: skip
        print(_RESULT + json.dumps(r), flush=True)
        return 0
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device is available", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    if args.map_batch is None:
        args.map_batch = 128 if device.type == "cuda" else 16
    compile_on = args.compile == "on" or (args.compile == "auto" and device.type == "cuda")
    env = environment(device)
    amp = "bfloat16 autocast" if env["bf16_native"] else "float32"
    print(f"device: {env['device_name']} ({device}); torch {env['torch']}, CUDA {env['cuda']}, "
          f"cuDNN {env['cudnn']}; dtype: training {amp}, mapping float32 (as shipped) and "
          f"bf16 autocast (bare model only); TF32 matmul {env['tf32_matmul']}",
          flush=True)  # fmt: skip
    if device.type != "cuda" and not args.tiny:
        _say("no GPU: the default settings take long on a CPU (--tiny is the CPU check)")
    settings = {k: getattr(args, k) for k in ("tiny", "preset", "steps", "batch_size", "side_km",
                                              "repeats", "map_batch", "compile", "compile_backend",
                                              "max_seconds")}  # fmt: skip
    result: dict[str, Any] = {"environment": env, "settings": settings, "training": {}}
    stopped: list[str] = []

    _say(f"training {args.preset}, eager, {args.steps} steps")
    eager = _phase("eager training", lambda: measure_training(
        args.preset, args.batch_size, args.steps, device, deadline, full_loop=True))  # fmt: skip
    result["training"]["eager"] = eager
    if eager.get("stopped_early") or eager.get("full_loop_steps", args.steps) < args.steps:
        stopped.append("training (eager)")
    _save(result, args.out)

    _say(f"mapping a {args.side_km} km square district")
    mapping = _phase("mapping", lambda: measure_mapping(
        args.preset, args.side_km, args.map_batch, args.repeats, device, deadline,
        args.out.parent / "gpu_work"))  # fmt: skip
    result["mapping"] = mapping
    if mapping.get("stopped_early"):
        stopped.append("mapping")
    result["projection"] = projection(mapping)
    _save(result, args.out)

    if not compile_on:
        why = "--compile off" if args.compile == "off" else "no GPU (--compile on to force)"
        result["training"]["compiled"] = {"status": "skipped", "reason": why}
    elif deadline.left() < 20:
        result["training"]["compiled"] = {"status": "skipped", "reason": "no time left"}
        stopped.append("training (compiled)")
    else:
        _fresh_memory(device)  # the child gets the whole GPU
        budget = deadline.left() - 5
        _say(f"training, torch.compile in a child process, at most {budget:.0f} s")
        compiled = run_child(_child_command(args, budget), budget)
        result["training"]["compiled"] = compiled
        if compiled["status"] == "timed out" or compiled.get("stopped_early"):
            stopped.append("training (compiled)")
        if compiled["status"] != "ok":
            _say(f"compile {compiled['status']}: {compiled['reason']}; the eager figures stand")

    result["stopped_early"] = stopped
    result["wall_s"] = time.monotonic() - start
    _save(result, args.out)
    print()
    print(table(result))
    if stopped:
        print(f"\nstopped early by --max-seconds {args.max_seconds:.0f}: {', '.join(stopped)}")
    print(f"\nwall time {result['wall_s']:.0f} s; written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
