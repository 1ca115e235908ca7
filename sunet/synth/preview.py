"""The city's preview: the downsampled mosaic beside its labels in the standard LCZ palette."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
from affine import Affine
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from rasterio import features
from rasterio.transform import array_bounds

from sunet.lcz import CLASSES, parse_lcz_values

__all__ = ["Thumbnail", "write_preview"]


class Thumbnail:
    """A downsampled copy of the mosaic, filled scene by scene (later scenes on top).

    ``factor`` mosaic pixels make one thumbnail pixel; ``transform`` is its 3857 affine.
    """

    def __init__(self, height: int, width: int, factor: int, transform: Affine) -> None:
        self.factor = factor
        self.image = np.zeros((height // factor + 1, width // factor + 1, 3), dtype=np.uint8)
        self.transform = transform @ Affine.scale(factor)

    def add(self, image: np.ndarray, row0: int, col0: int) -> None:
        """Paste a scene (uint8 ``(3, h, w)`` at global pixel ``(row0, col0)``), block-averaged."""
        f = self.factor
        # Align blocks to the global grid so every scene lands on the same thumbnail pixels.
        r_off, c_off = (-row0) % f, (-col0) % f
        sub = image[:, r_off:, c_off:]
        h, w = sub.shape[1] // f, sub.shape[2] // f
        if h == 0 or w == 0:
            return
        blocks = sub[:, : h * f, : w * f].reshape(3, h, f, w, f).mean(axis=(2, 4), dtype=np.float32)
        r, c = (row0 + r_off) // f, (col0 + c_off) // f
        self.image[r : r + h, c : c + w] = np.rint(blocks).astype(np.uint8).transpose(1, 2, 0)


def write_preview(
    path: Path, thumb: Thumbnail, labels: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, title: str
) -> None:
    """Save the preview PNG.

    Args:
        path: the PNG to write.
        thumb: the mosaic thumbnail (EPSG:3857).
        labels: label polygons in EPSG:3857 with the ``lcz`` column.
        districts: district polygons in EPSG:3857 with the ``name`` column.
        title: figure title.
    """
    h, w = thumb.image.shape[:2]
    codes = parse_lcz_values(labels["lcz"], source="labels")
    raster = np.zeros((h, w), dtype=np.uint8)
    shapes = [(g, int(c)) for g, c in zip(labels.geometry, codes, strict=True) if not g.is_empty]
    if shapes:
        features.rasterize(shapes, out=raster, transform=thumb.transform)
    palette = np.array([(245, 245, 245)] + [c.rgb for c in CLASSES], dtype=np.uint8)
    label_img = palette[raster]

    left, bottom, right, top = array_bounds(h, w, thumb.transform)
    extent = (left, right, bottom, top)
    # Two panels of the thumbnail's size (1 px = 1/100 in at 100 dpi) and a legend column.
    panel_in = max(w, h) / 100.0
    fig_w, fig_h = 2 * panel_in + 2.6, panel_in + 0.7
    fig = Figure(figsize=(fig_w, fig_h), dpi=100)
    FigureCanvasAgg(fig)
    pw, ph = panel_in / fig_w, panel_in / fig_h
    ax_img = fig.add_axes((0.1 / fig_w, 0.1 / fig_h, pw, ph))
    ax_lab = fig.add_axes((0.2 / fig_w + pw, 0.1 / fig_h, pw, ph))
    for ax, img, name in (
        (ax_img, thumb.image, "imagery (EPSG:3857)"),
        (ax_lab, label_img, "LCZ labels"),
    ):
        ax.imshow(img, extent=extent, interpolation="nearest")
        for geom, dname in zip(districts.geometry, districts["name"], strict=True):
            for part in getattr(geom, "geoms", [geom]):
                xs, ys = part.exterior.xy
                ax.plot(xs, ys, color="white" if ax is ax_img else "black", lw=0.8)
            p = geom.representative_point()
            ax.text(
                p.x, p.y, dname, fontsize=7, ha="center", color="white" if ax is ax_img else "black"
            )
        ax.set_xlim(left, right)
        ax.set_ylim(bottom, top)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Patch(facecolor=c.colour, edgecolor="black", lw=0.3, label=c.label) for c in CLASSES]
    handles.append(Patch(facecolor="#f5f5f5", edgecolor="black", lw=0.3, label="unlabelled"))
    fig.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(0.3 / fig_w + 2 * pw, 0.5),
        fontsize=7,
        frameon=False,
    )
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=100)
