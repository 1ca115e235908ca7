"""QGIS check of a suggestions GeoPackage (``lcz-map suggest``): it opens styled and labelled.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis/check_suggestions.py FILE [PNG [RASTER]]

Prints one JSON line and exits 0 only if the layer is valid, has features, draws unfilled squares
and labels them by rank. With PNG, renders the layer (over RASTER, e.g. the map's dominant
classes) to that image, as an analyst would see it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(path: Path, png: Path | None, raster: Path | None) -> int:
    from qgis.core import (
        QgsApplication,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsRasterLayer,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QSize

    app = QgsApplication([], False)
    app.initQgis()
    layer = QgsVectorLayer(f"{path}|layername=suggestions", "suggestions", "ogr")
    renderer = layer.renderer() if layer.isValid() else None
    result: dict[str, object] = {
        "file": str(path),
        "valid": layer.isValid(),
        "features": layer.featureCount() if layer.isValid() else None,
        "renderer": renderer.type() if renderer is not None else None,
        "labels": layer.labelsEnabled() if layer.isValid() else None,
    }
    ok = bool(layer.isValid() and layer.featureCount() > 0 and result["renderer"] == "singleSymbol")
    if ok:
        symbol_layer = renderer.symbol().symbolLayer(0)  # type: ignore[union-attr]
        result["fill"] = symbol_layer.brushStyle() == 0  # Qt.NoBrush
        settings = layer.labeling().settings() if layer.labeling() is not None else None
        result["label_field"] = settings.fieldName if settings is not None else None
        ok = bool(result["fill"] and layer.labelsEnabled() and result["label_field"] == "rank")
        fields = [f.name() for f in layer.fields()]
        ok = ok and {"rank", "lcz", "mapped", "reason"} <= set(fields)
    if ok and png is not None:
        layers = [layer]
        if raster is not None:
            layers.append(QgsRasterLayer(str(raster), "map", "gdal"))
        settings = QgsMapSettings()
        settings.setLayers(layers)
        settings.setDestinationCrs(layer.crs())
        settings.setExtent(layers[-1].extent())
        settings.setOutputSize(QSize(900, 900))
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        job.renderedImage().save(str(png), "PNG")
        result["png"] = str(png)
    result["ok"] = ok
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:]]
    code = main(args[0], args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else None)
    sys.stdout.flush()
    os._exit(code)
