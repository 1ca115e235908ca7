"""QGIS smoke test of a mapping output folder: every product opens valid and styled.

Run with the system Python that has PyQGIS (not the project venv):

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis/check_outputs.py OUT_DIR

Prints one JSON line per checked layer and exits 0 only if all pass. Uses ``os._exit`` because
``QgsApplication.exitQgis()`` crashes headless.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

EXPECTED_RASTERS = {
    "lcz_dominant.tif": "paletted",
    "lcz_wudapt_100m.tif": "paletted",
    "lcz_abundance.tif": "singlebandpseudocolor",
    "lcz_uncertainty.tif": "singlebandpseudocolor",
}
EXPECTED_LAYERS = {"lcz_dominant": "categorizedSymbol", "lcz_cells": "categorizedSymbol"}


def _check_raster(path: Path, kind: str) -> dict[str, object]:
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(str(path), path.stem, "gdal")
    renderer = layer.renderer() if layer.isValid() else None
    got = renderer.type() if renderer is not None else None
    result: dict[str, object] = {"file": str(path), "valid": layer.isValid(), "renderer": got}
    ok = layer.isValid() and got == kind and layer.crs().isValid()
    if ok and kind == "paletted":
        classes = renderer.classes()
        result["classes"] = len(classes)
        ok = len(classes) == 17 and classes[0].label == "LCZ 1 Compact high-rise"
    if ok and kind == "singlebandpseudocolor":
        result["min_max"] = [renderer.classificationMin(), renderer.classificationMax()]
        ok = (renderer.classificationMin(), renderer.classificationMax()) == (0.0, 1.0)
    result["ok"] = ok
    return result


def _check_vector(path: Path, layer_name: str, kind: str) -> dict[str, object]:
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(f"{path}|layername={layer_name}", layer_name, "ogr")
    renderer = layer.renderer() if layer.isValid() else None
    got = renderer.type() if renderer is not None else None
    result: dict[str, object] = {
        "file": f"{path}|{layer_name}",
        "valid": layer.isValid(),
        "renderer": got,
        "features": layer.featureCount() if layer.isValid() else None,
    }
    ok = layer.isValid() and got == kind and layer.featureCount() > 0
    if ok:
        cats = renderer.categories()
        result["categories"] = len(cats)
        ok = len(cats) == 17 and cats[16].label() == "LCZ G Water"
    result["ok"] = ok
    return result


def main(out: Path) -> int:
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    folders = sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    results = []
    for folder in folders:
        for name, kind in EXPECTED_RASTERS.items():
            results.append(_check_raster(folder / name, kind))
        for layer_name, kind in EXPECTED_LAYERS.items():
            results.append(_check_vector(folder / "lcz_dominant.gpkg", layer_name, kind))
    for r in results:
        print(json.dumps(r))
    failed = [r for r in results if not r["ok"]]
    print(json.dumps({"checked": len(results), "failed": len(failed)}))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.stdout.flush()
    code = main(Path(sys.argv[1]))
    sys.stdout.flush()
    os._exit(code)
