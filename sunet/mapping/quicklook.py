"""A PNG quicklook of the dominant LCZ with a legend of the classes present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sunet.lcz import CLASSES

__all__ = ["write_quicklook"]


def write_quicklook(
    path: Path,
    dominant: np.ndarray,
    title: str,
    cell_size: float,
    shares: dict[int, float] | None = None,
) -> None:
    """Render ``dominant`` (uint8 ``(H, W)`` codes, 0 = nodata, transparent) with the LCZ palette.

    Args:
        path: PNG to write; title: e.g. the district name; cell_size: metres per pixel of
            ``dominant`` (for the axis labels); shares: code -> share of the district, shown in
            the legend.
    """
    colours = ["#ffffff00"] + [c.colour for c in CLASSES]
    cmap = ListedColormap(colours)
    h, w = dominant.shape
    aspect = h / max(w, 1)
    fig = Figure(figsize=(8.0, max(3.0, min(12.0, 6.0 * aspect + 1.0))), dpi=100)
    ax = fig.add_axes((0.06, 0.08, 0.62, 0.84))
    extent = (0.0, w * cell_size / 1000.0, 0.0, h * cell_size / 1000.0)
    ax.imshow(dominant, cmap=cmap, vmin=-0.5, vmax=17.5, interpolation="nearest", extent=extent)
    ax.set_xlabel("km")
    ax.set_ylabel("km")
    ax.set_title(title)
    present = [c for c in CLASSES if (dominant == c.code).any()]
    handles = [
        Patch(
            facecolor=c.colour,
            edgecolor="#333333",
            label=c.label + (f" ({shares[c.code]:.0%})" if shares and c.code in shares else ""),
        )
        for c in present
    ]
    if handles:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.70, 0.5), fontsize=7,
                   frameon=False, title="Dominant LCZ")  # fmt: skip
    # No 'Software' metadata: the PNG bytes then depend only on the map (reruns are identical).
    fig.savefig(path, format="png", metadata={"Software": None})
