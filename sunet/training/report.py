"""The run's human-readable record: ``train_log.csv`` (one row per epoch) and
``training_curves.png`` (losses, GradNorm task weights, validation metrics)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from sunet.atomic import atomic_path

__all__ = ["write_log", "plot_curves"]


def write_log(path: Path, history: list[dict[str, Any]]) -> Path:
    """Write the per-epoch history as CSV (atomically)."""
    with atomic_path(path) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False, float_format="%.6g")
    return path


def plot_curves(path: Path, history: list[dict[str, Any]], tasks: tuple[str, ...]) -> Path:
    """Training/validation losses per task, task weights and validation metrics per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(history)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, task in enumerate(tasks):
        colour = f"C{i}"
        axes[0].plot(df["epoch"], df[f"loss_{task}"], colour, label=f"train {task}")
        if f"val_loss_{task}" in df:
            axes[0].plot(df["epoch"], df[f"val_loss_{task}"], colour, ls="--", label=f"val {task}")
        axes[1].plot(df["epoch"], df[f"weight_{task}"], colour, label=task)
    axes[0].set(title="losses", xlabel="epoch", yscale="log")
    axes[1].set(title="task weights (sum = number of tasks)", xlabel="epoch")
    for key, label in (("val_oa", "OA (pure)"), ("val_mae", "MAE (mixed)")):
        if key in df and not df[key].isna().all():
            axes[2].plot(df["epoch"], df[key], marker=".", label=label)
    axes[2].set(title="validation", xlabel="epoch", ylim=(0, 1))
    for ax in axes:
        if ax.has_data():
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: ``None`` for NaN/inf."""
    return value if math.isfinite(value) else None
