"""Which scenes look unlike the data the model was trained on (a warning before trusting a map).

For each scene, up to ``windows`` model windows are placed evenly over its valid footprint, read
from that scene alone (so the score belongs to the scene, whatever the mosaic order) with the
model's radiometry, and their feature distances to the training data are measured
(:meth:`sunet.bundle.Predictor.novelty`). A scene's score is the share of its windows farther than
the 99th percentile of the model's own held-out patches: about 1 % for imagery like the training
data, and most of the windows for another city, season or sensor. A scene above
:data:`FLAG_SHARE` is flagged: map it with care, and fine-tune on a few of its labels
(``lcz-map train --init-from``; ``lcz-map suggest`` says where to draw them).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import shapely
from affine import Affine
from pydantic import BaseModel, ConfigDict, Field

from sunet.mapping.mosaic import SceneMosaic

__all__ = ["FLAG_SHARE", "NoveltyModel", "SceneNovelty", "format_novelty", "scene_novelty"]

# A scene is flagged when more than this share of its windows lies beyond the held-out q99.
FLAG_SHARE = 0.25


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
    median_distance: float | None = Field(description="Median feature distance of its windows.")
    distance_ratio: float | None = Field(
        description="Median distance over the held-out median (about 1 for familiar imagery)."
    )
    unfamiliar_share: float | None = Field(
        description="Share of windows beyond the held-out 99th percentile (about 0.01 for "
        "familiar imagery)."
    )
    flagged: bool = Field(description=f"unfamiliar_share > {FLAG_SHARE}: consider fine-tuning.")


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
        reference: the model's held-out distance quantiles (``q50``, ``q99``).
        windows: windows per scene (at most).
    """
    p, gsd = int(model.patch_size), float(model.gsd)
    side = p * gsd
    out = []
    for i, info in enumerate(mosaic.scenes):
        images = []
        for x, y in _window_origins(mosaic.footprints[i], side, windows):
            image, valid = mosaic.scene_reader(i).read(
                mosaic.crs, Affine(gsd, 0, x, 0, -gsd, y), p, p
            )
            if valid.mean() >= 0.9:
                images.append(image)
        if not images:
            out.append(SceneNovelty(scene=info.name, windows=0, median_distance=None,
                                    distance_ratio=None, unfamiliar_share=None, flagged=False))  # fmt: skip
            continue
        d = model.novelty(np.stack(images))
        median = float(np.median(d))
        share = float((d > reference["q99"]).mean())
        out.append(
            SceneNovelty(
                scene=info.name,
                windows=len(d),
                median_distance=median,
                distance_ratio=median / reference["q50"] if reference["q50"] > 0 else math.nan,
                unfamiliar_share=share,
                flagged=share > FLAG_SHARE,
            )
        )
    mosaic.close()
    return out


def format_novelty(scenes: list[SceneNovelty]) -> list[str]:
    """Lines for the terminal: every flagged scene, or one line saying none is."""
    measured = [s for s in scenes if s.unfamiliar_share is not None]
    if not measured:
        return []
    flagged = [s for s in measured if s.flagged]
    worst = max(s.unfamiliar_share or 0.0 for s in measured)
    if not flagged:
        return [
            f"all {len(measured)} scenes look like the model's training data "
            f"(at most {worst:.0%} of a scene's windows unfamiliar)"
        ]
    lines = [
        f"{len(flagged)} of {len(measured)} scenes look unlike the model's training data "
        "(share of windows beyond its held-out 99th percentile of feature distance); consider "
        "fine-tuning on a few labels there (lcz-map suggest, lcz-map train --init-from):"
    ]
    for s in sorted(flagged, key=lambda s: -(s.unfamiliar_share or 0.0)):
        lines.append(
            f"  {s.scene}: {s.unfamiliar_share:.0%} of {s.windows} windows unfamiliar, "
            f"median distance x{s.distance_ratio:.1f}"
        )
    return lines
