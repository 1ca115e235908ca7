"""All scenes of a run seen as one image on the map's pixel grid, read strip by strip.

Nothing is mosaicked in advance: each read warps only the scenes whose footprint meets the
requested strip (through :func:`sunet.geo.raster.read_reprojected`). Where scenes overlap the
**first valid pixel wins**, in the order the scenes were given: a deterministic rule that lets the
caller set priorities (e.g. newest or least cloudy first) and never blends two acquisitions into
a pixel that exists in neither.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from sunet.geo.raster import Radiometry, SceneInfo, SceneReader, open_scene, scene_footprint

__all__ = ["SceneMosaic"]

# Scenes kept open per thread (file handles and GDAL caches are per dataset).
_OPEN_SCENES = 16


class SceneMosaic:
    """Scenes in priority order, reprojected on demand to ``crs``.

    Picklable (Dask sends it to workers): what travels is scene descriptions and footprints.
    Scenes are opened on first use and kept open (at most ``_OPEN_SCENES`` per thread, least
    recently used closed first), since opening a file costs about as much as reading a strip;
    :meth:`close` closes them.

    Args:
        scenes: from :func:`sunet.geo.raster.inspect_scene`, highest priority first.
        crs: the map CRS.
        bands: 1-based source bands read as R, G, B.
        radiometry: how scene values become uint8 (the model's, from its bundle).
    """

    def __init__(
        self,
        scenes: Sequence[SceneInfo],
        crs: CRS,
        bands: Sequence[int],
        radiometry: Radiometry | None = None,
    ) -> None:
        self.scenes = tuple(scenes)
        self.crs = crs
        self.bands = tuple(int(b) for b in bands)
        self.radiometry = radiometry or Radiometry()
        self.footprints: tuple[BaseGeometry, ...] = tuple(
            scene_footprint(s, crs) for s in self.scenes
        )
        self._tree: shapely.STRtree | None = None
        self._local = threading.local()  # open readers: a rasterio dataset is not thread-safe

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_tree"] = None  # rebuilt lazily on the worker
        del state["_local"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def scene_reader(self, i: int) -> SceneReader:
        """The open reader of scene ``i`` (opened on first use, kept open per thread)."""
        open_: OrderedDict[int, tuple[ExitStack, SceneReader]] | None = getattr(
            self._local, "open", None
        )
        if open_ is None:
            open_ = self._local.open = OrderedDict()
        if i in open_:
            open_.move_to_end(i)
            return open_[i][1]
        stack = ExitStack()
        reader = stack.enter_context(open_scene(self.scenes[i], self.bands, self.radiometry))
        open_[i] = (stack, reader)
        if len(open_) > _OPEN_SCENES:
            open_.popitem(last=False)[1][0].close()
        return reader

    def close(self) -> None:
        """Close the scenes this thread has open."""
        open_ = getattr(self._local, "open", None)
        while open_:
            open_.popitem()[1][0].close()

    @property
    def coverage(self) -> BaseGeometry:
        """Union of all scene footprints (map CRS)."""
        return shapely.union_all(self.footprints)

    def ground_pixel(self, scene: int) -> float:
        """Side of a scene's pixel on the ground, metres (from its footprint in the metric map
        CRS, so a EPSG:3857 scene's 1/cos(latitude) stretch is accounted for)."""
        info = self.scenes[scene]
        _, _, w, h = info.valid_window
        return math.sqrt(self.footprints[scene].area / max(w * h, 1))

    def scenes_meeting(self, bounds: tuple[float, float, float, float]) -> list[int]:
        """Indices (priority order) of scenes whose footprint meets ``bounds``."""
        if self._tree is None:
            self._tree = shapely.STRtree(list(self.footprints))
        hits = self._tree.query(box(*bounds), predicate="intersects")
        return sorted(int(i) for i in hits)

    def read(self, transform: Affine, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Read a ``(height, width)`` pixel grid at ``transform`` (map CRS).

        Returns:
            ``(image, valid)``: uint8 ``(3, height, width)`` (0 where no scene has data) and
            bool ``(height, width)``.
        """
        left, top = transform.c, transform.f
        right, bottom = transform @ (width, height)
        image: np.ndarray | None = None
        valid = np.zeros((height, width), dtype=bool)
        for i in self.scenes_meeting((left, bottom, right, top)):
            img, ok = self.scene_reader(i).read(self.crs, transform, width, height)
            if image is None:
                image, valid = img, ok  # the first scene is 0 wherever it has no data
            else:
                take = ok & ~valid
                np.copyto(image, img, where=take[None])
                valid |= take
            if valid.all():
                break
        if image is None:
            image = np.zeros((len(self.bands), height, width), dtype=np.uint8)
        return image, valid
