"""Scenes + labels -> patch store (docs/DESIGN.md "Patch store").

``tile(TileConfig(...)) -> TileReport`` from Python, ``lcz-map tile`` on the command line, and
``flows/tile.py`` as a Prefect flow share :func:`plan_tiling`, :func:`tile_scene` and
:func:`assemble`.
"""

from typing import TYPE_CHECKING

from sunet.lazy import lazy_exports

if TYPE_CHECKING:
    from sunet.tiling.assembly import assemble
    from sunet.tiling.config import TileConfig
    from sunet.tiling.pipeline import TilePlan, plan_tiling, run_jobs, tile
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TileConfig": "sunet.tiling.config",
        "TilePlan": "sunet.tiling.pipeline",
        "assemble": "sunet.tiling.assembly",
        "plan_tiling": "sunet.tiling.pipeline",
        "run_jobs": "sunet.tiling.pipeline",
        "tile": "sunet.tiling.pipeline",
        "TileReport": "sunet.tiling.report",
        "SceneCache": "sunet.tiling.scene",
        "SceneJob": "sunet.tiling.scene",
        "tile_scene": "sunet.tiling.scene",
    },
)
