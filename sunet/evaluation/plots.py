"""Confusion-matrix figures in the style of the paper's Figures 4-7.

Rows are reference classes, columns predicted classes, both labelled with the LCZ letters
(1-10, A-G); each cell is coloured by and printed with its row-normalised percentage (the share of
the reference class's patches given that prediction). Rows without reference patches are greyed
out instead of printed as zeros, so an absent class is not mistaken for a class scored 0%.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sunet.atomic import atomic_path  # noqa: E402
from sunet.lcz import CLASSES  # noqa: E402

__all__ = ["plot_confusion", "row_percent"]


def row_percent(cm: np.ndarray) -> np.ndarray:
    """float64 ``(C, C)``: each row of ``cm`` as percent of its total; NaN rows where the total is 0."""
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, 100.0 * cm / np.where(totals > 0, totals, 1), np.nan)


def plot_confusion(cm: np.ndarray, path: str | Path, title: str) -> Path:
    """Write the row-normalised confusion matrix ``cm`` (17x17 counts) as a PNG at ``path``."""
    pct = row_percent(cm)
    letters = [c.letter for c in CLASSES]
    n = len(letters)
    fig, ax = plt.subplots(figsize=(9.0, 8.0), dpi=120)
    cmap = plt.get_cmap("Blues").with_extremes(bad="#e6e6e6")
    image = ax.imshow(np.ma.masked_invalid(pct), cmap=cmap, vmin=0.0, vmax=100.0)
    for i in range(n):
        for j in range(n):
            v = pct[i, j]
            if not np.isfinite(v) or cm[i, j] == 0:
                continue
            text = "<1" if v < 1 else f"{v:.0f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if v > 60 else "black")  # fmt: skip
    support = np.asarray(cm).sum(axis=1)
    ax.set_xticks(range(n), letters)
    ax.set_yticks(range(n), [f"{c} (n={int(k)})" for c, k in zip(letters, support, strict=True)])
    ax.set_xlabel("Predicted LCZ")
    ax.set_ylabel("Reference LCZ (patches)")
    ax.set_title(title)
    # Separate built (1-10) from natural (A-G) classes, as the LCZ scheme does.
    split = sum(c.is_built for c in CLASSES) - 0.5
    ax.axhline(split, color="0.4", linewidth=0.8)
    ax.axvline(split, color="0.4", linewidth=0.8)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("% of reference patches of the class")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return path
