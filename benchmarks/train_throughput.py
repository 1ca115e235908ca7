"""Training throughput: the full training loop against the bare model step, in the same run.

The machine is shared and its speed varies several-fold between minutes, so absolute figures say
little; the ratio does. Both sides run the same batches through the same model, optimiser and
loss weighting (:class:`~sunet.training.step.StepRunner`):

* full loop: :func:`sunet.training.step.train_epoch`, the trainer's own inner loop: gather the
  batch from the cached split, D4 + radiometric augmentation, normalisation, step;
* bare: the same batches, prepared beforehand and kept in memory, through ``StepRunner.step``
  only (forward, three losses, backward, GradNorm, AdamW).

``ratio = full img/s / bare img/s`` (1.0 = the data pipeline costs nothing). The three are
timed batch by batch, one after the other, and summed per repeat; medians over ``repeats``. A second bare run with fixed loss weights gives GradNorm's cost.
Run: ``python -m benchmarks.train_throughput [PATCH_STORE]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sunet.model import SUNet
from sunet.patch_store import PatchStore
from sunet.training.augment import Augmenter
from sunet.training.config import PURE_FRACTION, TrainConfig
from sunet.training.data import (
    MixedBatchSampler,
    SplitData,
    band_statistics,
    load_split,
)
from sunet.training.distributed import bf16_native
from sunet.training.gradnorm import GradNorm
from sunet.training.learner import build_optimizer
from sunet.training.settings import Settings
from sunet.training.step import StepRunner, prepare_batch, train_epoch

__all__ = ["run"]


def _random_split(n: int, size: int, seed: int) -> SplitData:
    """An in-memory split of smooth random patches (no store): a third pure, the rest mixed."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.integers(0, 256, (n, 3, size // 8, size // 8), dtype=np.uint8))
    images = torch.nn.functional.interpolate(coarse.float(), size=(size, size), mode="bilinear")
    images = (images + torch.from_numpy(rng.normal(0, 8, images.shape)).float()).clamp(0, 255)
    pure = np.arange(n) % 3 == 0
    target = rng.integers(0, 17, n)
    abundances = rng.dirichlet(np.full(17, 0.3), n).astype(np.float32)
    abundances[pure] = np.eye(17, dtype=np.float32)[target[pure]]
    return SplitData(
        store=None,  # type: ignore[arg-type]  # never read: everything is cached
        store_index=np.arange(n),
        pure=pure,
        target=target.astype(np.int64),
        abundances=abundances,
        input_size=size,
        cached=images.to(torch.uint8),
    )


def _runner(model: SUNet, loss_weights: str, n_tasks: int, config: TrainConfig) -> StepRunner:
    settings = Settings.of(config)
    return StepRunner(
        model,
        model,
        build_optimizer(model, settings.lr, settings.weight_decay),
        GradNorm(n_tasks, config.gradnorm_alpha, config.gradnorm_lr),
        loss_weights == "gradnorm",
        config.grad_clip,
        torch.bfloat16 if config.amp and bf16_native(torch.device("cpu")) else None,
        shared_layer=config.gradnorm_layer,
        gradnorm_every=config.gradnorm_every,
        abundances_on_pure=config.abundances_on_pure,
    )


def run(
    patches: Path | None = None,
    preset: str = "cpu-small",
    batch_size: int = 32,
    steps: int = 8,
    repeats: int = 2,
    threads: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure training throughput on CPU.

    Args:
        patches: a patch store (its train split); ``None`` = random in-memory patches.
        preset: model preset (``cpu-small`` or ``paper``).
        batch_size, steps: batches of this size per timed run.
        repeats: alternating full/bare runs; medians are reported.
        threads: torch CPU threads.

    Returns:
        ``params``, ``full_img_per_s``, ``bare_img_per_s``, ``ratio`` (full / bare),
        ``bare_fixed_img_per_s`` and ``gradnorm_cost`` (bare fixed / bare GradNorm - 1), and the
        settings used.
    """
    torch.set_num_threads(threads)
    config = TrainConfig(
        patches=Path("."), out=Path("."), preset=preset, batch_size=batch_size,  # type: ignore[arg-type]
        pure_fraction=PURE_FRACTION,  # the trainer's share for a store that is a third pure
    )  # fmt: skip
    settings = Settings.of(config)
    arch = config.arch
    if patches is not None:
        data = load_split(PatchStore(patches), "train", arch.input_size, config.cache_max_gb * 1e9)
    else:
        data = _random_split(batch_size * steps, arch.input_size, seed)
    mean, std = band_statistics(data)
    sampler = MixedBatchSampler(data.pure, batch_size, settings.pure_fraction, seed)
    batches = [b for e in range(steps) for b in sampler.batches(e)][:steps]
    torch.manual_seed(seed)
    model = SUNet(arch)
    n_tasks = len(config.tasks)
    runner = _runner(model, "gradnorm", n_tasks, config)
    fixed = _runner(model, "fixed", n_tasks, config)
    # Mild jitter: the augmentation the reported full-loop ratios were measured with.
    augmenter = Augmenter(seed, appearance="mild")
    prepared = [
        prepare_batch(data, rows, mean, std, torch.device("cpu"), augmenter) for rows in batches
    ]
    images = batch_size * len(batches)

    def timed(fn: Any) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    lr = settings.lr
    model.train()
    runner.step(prepared[0], lr)  # warm-up: allocator, autograd caches
    # Paired per step (full, bare, bare with fixed weights on the same batch, one after the
    # other) so that the machine's load drifting between minutes hits all three alike.
    totals = {"full": [], "bare": [], "bare_fixed": []}  # type: dict[str, list[float]]
    for _ in range(repeats):
        run_s = {"full": 0.0, "bare": 0.0, "bare_fixed": 0.0}
        # Step i of each side has the same index, so both update the GradNorm weights on the
        # same steps (every ``gradnorm_every``-th, as in training).
        for i, (rows, batch) in enumerate(zip(batches, prepared, strict=True)):
            run_s["full"] += timed(
                lambda rows=rows, i=i: train_epoch(
                    runner, data, [rows], mean, std, augmenter, lr_at=lambda _: lr, first_step=i
                )
            )
            run_s["bare"] += timed(lambda batch=batch, i=i: runner.step(batch, lr, i))
            run_s["bare_fixed"] += timed(lambda batch=batch, i=i: fixed.step(batch, lr, i))
        for k, v in run_s.items():
            totals[k].append(images / v)
    f, b, x = (statistics.median(totals[k]) for k in ("full", "bare", "bare_fixed"))
    full_ips, bare_ips, fixed_ips = totals["full"], totals["bare"], totals["bare_fixed"]
    return {
        "preset": preset,
        "input_px": arch.input_size,
        "params": sum(p.numel() for p in model.parameters()),
        "batch_size": batch_size,
        "steps": len(batches),
        "threads": threads,
        "data": str(patches) if patches is not None else "random in-memory patches",
        "full_img_per_s": round(f, 2),
        "bare_img_per_s": round(b, 2),
        "ratio": round(
            statistics.median(a / c for a, c in zip(full_ips, bare_ips, strict=True)), 3
        ),
        "bare_fixed_img_per_s": round(x, 2),
        "gradnorm_cost": round(x / b - 1, 3),
        "runs": {"full": full_ips, "bare": bare_ips, "bare_fixed": fixed_ips},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patches", type=Path, nargs="?", help="patch store (default: random)")
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    a = parser.parse_args()
    result = run(a.patches, a.preset, steps=a.steps, repeats=a.repeats, threads=a.threads)
    print(json.dumps(result, indent=2))
