"""Which scenes look unlike the data the model was trained on (a warning before trusting a map).

For each scene, up to ``windows`` model windows are placed evenly over its valid footprint, read
from that scene alone (so the score belongs to the scene, whatever the mosaic order) with the
model's radiometry, and their distances to the nearest training patches are measured in the
feature view and the colour view (:meth:`sunet.bundle.Predictor.novelty`, as a multiple of the
held-out median). A scene's ratios are the medians over its windows: about 1 for imagery like the
training data. A scene whose larger ratio exceeds :data:`FLAG_RATIO` is flagged: map it with
care, and fine-tune on a few of its labels (``lcz-map train --init-from``; ``lcz-map suggest``
says where to draw them).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import shapely
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field

from sunet.mapping.mosaic import SceneMosaic

__all__ = ["FLAG_RATIO", "NoveltyModel", "SceneNovelty", "format_novelty", "scene_novelty"]

# A scene is flagged when its median distance to the training patches, in either view, exceeds
# this multiple of the held-out median: above the city-wide medians of familiar cities and the
# single scenes of rarer content in them, below those of other seasons, materials and sensors
# (the ratios measured with the demo models are in README "Another city").
FLAG_RATIO = 1.5


class NoveltyModel(Protocol):
    """What scoring needs: the predictor's geometry, feature distances and their reference."""

    @property
    def patch_size(self) -> int: ...

    @property
    def gsd(self) -> float: ...

    def novelty(self, images: np.ndarray) -> np.ndarray: ...


class SceneNovelty(BaseModel):
    """How unlike the training data one scene looks."""

    model_config = ConfigDict(extra="forbid")

    scene: str = Field(description="Scene name (file stem).")
    windows: int = Field(description="Windows measured.")
    feature_ratio: float | None = Field(
        description="Median distance of its windows to the nearest training patches in the "
        "model's feature view, over the held-out median (about 1 when familiar)."
    )
    colour_ratio: float | None = Field(
        description="The same in the colour view (colour and gradient histograms)."
    )
    unfamiliar_share: float | None = Field(
        description="Share of windows beyond the held-out 95th percentile in either view "
        "(about 0.1 when familiar)."
    )
    flagged: bool = Field(description=f"A ratio above {FLAG_RATIO}: consider fine-tuning.")


def _window_origins(
    footprint: shapely.Geometry, side: float, count: int
) -> list[tuple[float, float]]:
    """Upper-left corners of up to ``count`` windows of ``side`` metres lying inside
    ``footprint``, evenly spread over it."""
    left, bottom, right, top = footprint.bounds
    nx, ny = int((right - left) // side), int((top - bottom) // side)
    if nx < 1 or ny < 1:
        return []
    xs = left + side * np.arange(nx)
    ys = top - side * np.arange(ny)
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel() - side, gx.ravel() + side, gy.ravel())
    inside = shapely.contains(footprint, boxes)
    corners = np.column_stack([gx.ravel(), gy.ravel()])[inside]
    if len(corners) > count:
        corners = corners[np.linspace(0, len(corners) - 1, count).astype(np.int64)]
    return [(float(x), float(y)) for x, y in corners]


def scene_novelty(
    mosaic: SceneMosaic, model: NoveltyModel, reference: dict[str, float], windows: int = 32
) -> list[SceneNovelty]:
    """Score every scene of ``mosaic`` (see the module docstring).

    Args:
        reference: the model's profile scale (``features_q95``, ``colours_q95``).
        windows: windows per scene (at most).
    """
    p, gsd = int(model.patch_size), float(model.gsd)
    side = p * gsd
    q95 = np.array([reference["features_q95"], reference["colours_q95"]])
    out = []
    for i, info in enumerate(mosaic.scenes):
        images = []
        for x, y in _window_origins(mosaic.footprints[i], side, windows):
            window = Affine(gsd, 0, x, 0, -gsd, y)
            image, valid = mosaic.scene_reader(i).read(mosaic.crs, window, p, p)
            if valid.mean() >= 0.9:
                images.append(image)
        if not images:
            out.append(SceneNovelty(scene=info.name, windows=0, feature_ratio=None,
                                    colour_ratio=None, unfamiliar_share=None, flagged=False))  # fmt: skip
            continue
        ratios = np.asarray(model.novelty(np.stack(images)), dtype=np.float64)  # (n, 2)
        median = np.median(ratios, axis=0)
        out.append(
            SceneNovelty(
                scene=info.name,
                windows=len(ratios),
                feature_ratio=float(median[0]),
                colour_ratio=float(median[1]),
                unfamiliar_share=float((ratios > q95).any(axis=1).mean()),
                flagged=bool(median.max() > FLAG_RATIO),
            )
        )
    mosaic.close()
    return out


def format_novelty(scenes: list[SceneNovelty]) -> list[str]:
    """Lines for the terminal: the city-wide median ratios, then every flagged scene."""
    measured = [s for s in scenes if s.feature_ratio is not None and s.colour_ratio is not None]
    if not measured:
        return []
    features = float(np.median([s.feature_ratio for s in measured]))
    colours = float(np.median([s.colour_ratio for s in measured]))
    flagged = [s for s in measured if s.flagged]
    lines = [
        f"likeness to the training data: the {len(measured)} scenes' windows lie x{features:.2f} "
        f"(features) and x{colours:.2f} (colours) the held-out distance to the nearest training "
        f"patches (median; about 1 when familiar); {len(flagged)} scene(s) above x{FLAG_RATIO}"
        + (":" if flagged else "")
    ]
    for s in sorted(flagged, key=lambda s: -max(s.feature_ratio or 0, s.colour_ratio or 0)):
        lines.append(
            f"  {s.scene}: features x{s.feature_ratio:.2f}, colours x{s.colour_ratio:.2f} "
            f"({s.unfamiliar_share:.0%} of {s.windows} windows beyond the held-out 95th percentile)"
        )
    if flagged:
        lines.append(
            "  these look unlike the training data: check the map there, and consider fine-tuning "
            "on a few labels (lcz-map suggest, lcz-map train --init-from)"
        )
    return lines
