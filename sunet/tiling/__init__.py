"""Scenes + labels -> patch store (docs/DESIGN.md "Patch store").

``tile(TileConfig(...)) -> TileReport`` from Python, ``lcz-map tile`` on the command line, and
``flows/tile.py`` as a Prefect flow share :func:`plan_tiling`, :func:`tile_scene` and
:func:`assemble`.
"""

from sunet.tiling.config import TileConfig
from sunet.tiling.pipeline import TilePlan, assemble, plan_tiling, run_jobs, tile
from sunet.tiling.report import TileReport
from sunet.tiling.scene import SceneCache, SceneJob, tile_scene

__all__ = [
    "SceneCache",
    "SceneJob",
    "TileConfig",
    "TilePlan",
    "TileReport",
    "assemble",
    "plan_tiling",
    "run_jobs",
    "tile",
    "tile_scene",
]
