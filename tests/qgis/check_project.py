"""QGIS check of a map's project (``lcz_map.qgz``): it opens, every layer valid and styled, and draws.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis/check_project.py PROJECT PNG

Prints one JSON line per layer, then a summary line with the groups, the abundance styles and the
colours found in the rendered image (the layers ticked when the project opens, saved to PNG).
Exits 0 only if every check passes. Uses ``os._exit`` because ``QgsApplication.exitQgis()``
crashes headless.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# Data source (file, or GeoPackage layer) -> renderer type the product's style gives.
RENDERERS = {
    "lcz_dominant": "categorizedSymbol",
    "lcz_cells": "categorizedSymbol",
    "lcz_dominant.tif": "paletted",
    "lcz_abundance.tif": "singlebandpseudocolor",
    "lcz_uncertainty.tif": "singlebandpseudocolor",
    "lcz_wudapt_100m.tif": "paletted",
}


def _product(layer: object) -> str:
    """The product a layer shows: its file name, or its layer name inside the GeoPackage."""
    path, _, options = layer.source().partition("|layername=")
    return options.split("|")[0] if options else Path(path).name


def _check_layer(layer: object, home: Path) -> dict[str, object]:
    kind = _product(layer)
    renderer = layer.renderer() if layer.isValid() else None
    source = layer.source().split("|")[0]
    result: dict[str, object] = {
        "id": layer.id(),
        "valid": layer.isValid(),
        "renderer": renderer.type() if renderer is not None else None,
        "source": source,
        "crs": layer.crs().authid(),
    }
    # The source resolves inside the folder the project is in now (relative paths).
    ok = layer.isValid() and result["renderer"] == RENDERERS[kind]
    ok = ok and Path(source).resolve().is_relative_to(home.resolve()) and layer.crs().isValid()
    if ok and result["renderer"] == "paletted":
        classes = renderer.classes()
        ok = len(classes) == 17 and classes[16].label == "LCZ G Water"
    elif ok and result["renderer"] == "categorizedSymbol":
        ok = len(renderer.categories()) == 17 and layer.featureCount() > 0
    elif ok:
        ok = (renderer.classificationMin(), renderer.classificationMax()) == (0.0, 1.0)
    result["ok"] = bool(ok)
    return result


def _abundance_styles(layer: object) -> dict[str, object]:
    """The named styles of an abundance layer, and whether switching to one shows its band."""
    manager = layer.styleManager()
    names = manager.styles()
    before = layer.renderer().band()
    switched = manager.setCurrentStyle("LCZ A Dense trees")
    after = layer.renderer().band()
    return {"styles": len(names), "current_band": before, "switched": switched, "band": after}


def _colours(image: object, step: int = 3) -> set[str]:
    """The opaque colours of a rendered image (every ``step``-th pixel), as '#rrggbb'."""
    found = set()
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            c = image.pixelColor(x, y)
            if c.alpha() == 255:
                found.add(c.name())
    return found


def main(project_path: Path, png: Path) -> int:
    from qgis.core import QgsApplication, QgsMapRendererParallelJob, QgsMapSettings, QgsProject
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    app = QgsApplication([], False)
    app.initQgis()
    project = QgsProject.instance()
    read = project.read(str(project_path))
    layers = list(project.mapLayers().values())
    results = [_check_layer(layer, project_path.parent) for layer in layers]
    for r in results:
        print(json.dumps(r))

    root = project.layerTreeRoot()
    abundance = [x for x in layers if _product(x) == "lcz_abundance.tif"]
    shown = root.checkedLayers()
    settings = QgsMapSettings()
    settings.setLayers(shown)
    settings.setDestinationCrs(project.crs())
    settings.setBackgroundColor(QColor(255, 255, 255, 0))
    extent = shown[0].extent() if shown else None
    if extent is not None:
        settings.setExtent(extent)
    settings.setOutputSize(QSize(400, 400))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(str(png), "PNG")

    summary = {
        "read": read,
        "relative": not project.readBoolEntry("Paths", "/Absolute", True)[0],
        "groups": [g.name() for g in root.children()],
        "shown": [x.id() for x in shown],
        "abundance": [_abundance_styles(x) for x in abundance[:1]],
        "colours": sorted(_colours(image)),
        "checked": len(results),
        "failed": len([r for r in results if not r["ok"]]),
    }
    print(json.dumps(summary))
    return 0 if read and results and not summary["failed"] else 1


if __name__ == "__main__":
    sys.stdout.flush()
    code = main(Path(sys.argv[1]), Path(sys.argv[2]))
    sys.stdout.flush()
    os._exit(code)
