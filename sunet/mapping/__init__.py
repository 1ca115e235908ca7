"""Windowed district inference: scenes + districts + model -> LCZ maps (COG, GPKG, QML, PNG).

``map_districts(MapConfig(...))`` is the whole stage; ``lcz-map map`` and ``flows/map.py`` are thin
layers over it. The choices a user of the maps should know, each documented where it is made:

* **Grid** (:mod:`.windows`): the model's metric CRS (``auto`` = UTM zone of the districts'
  centre) and GSD; one output cell per window step (``stride * gsd`` m, default stride P/2),
  aligned to multiples of the cell size so every district and the city share cells.
* **Mosaic** (:mod:`.mosaic`): scenes of any CRS are warped on demand; where they overlap the
  first valid pixel wins, in the order the scenes were given.
* **Windows** (:mod:`.windows`, :mod:`.accumulate`): every cell of a district's bounding box is
  covered by ``(P/stride)^2`` windows, edge cells included; a window runs only if at least
  ``min_window_valid`` of it has imagery, a cell is mapped only if ``min_cell_valid`` of it has;
  a cell's abundances are the tent-weighted mean of its windows' (uniform at stride P/2).
* **District membership**: cell-centre rule (a cell belongs to the district holding its centre).
* **Nodata**: -1 in the abundance and uncertainty rasters (all bands together), 0 in class rasters.
* **Styles** (:mod:`.styles`): ``<name>.qml`` beside each GeoTIFF; the GeoPackage's two layers
  carry theirs in its ``layer_styles`` table, which QGIS applies on opening.
* **Indexes** (:mod:`.stac`, :mod:`.qgis_project`): ``catalog.json``, a STAC catalog with an
  item per area, and ``lcz_map.qgz``, a QGIS project with a styled layer group per area; both
  with relative paths, so a map folder can be moved whole.
* **Reproducibility**: outputs are byte-identical across reruns and between one process and
  Dask workers (same batches, same torch thread count).
"""

from typing import TYPE_CHECKING

from sunet.lazy import lazy_exports

if TYPE_CHECKING:
    from sunet.mapping.config import MapConfig
    from sunet.mapping.pipeline import map_districts
    from sunet.mapping.predictor import AbundancePredictor, load_predictor
    from sunet.mapping.report import AreaReport, MapReport

__all__ = [
    "AbundancePredictor",
    "AreaReport",
    "MapConfig",
    "MapReport",
    "load_predictor",
    "map_districts",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MapConfig": "sunet.mapping.config",
        "AreaReport": "sunet.mapping.report",
        "MapReport": "sunet.mapping.report",
        "map_districts": "sunet.mapping.pipeline",
        "AbundancePredictor": "sunet.mapping.predictor",
        "load_predictor": "sunet.mapping.predictor",
    },
)
