"""QGIS check of an area's urban canopy parameter rasters (``lcz-map parameters``).

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis/check_parameters.py AREA_DIR SPEC_JSON

``SPEC_JSON`` lists the styles: ``[{"style": "lcz_parameters_<name>.qml", "band": 1, "minimum":
0, "maximum": 1, "unit": "m", "description": "..."}, ...]``. Each of the four rasters must open
valid with its default style (pseudocolor, band 1); ``lcz_parameters.tif`` must then take every
style (renderer, band, range, legend in the unit) and draw with it. Prints one JSON line per
check and exits 0 only if all pass (``os._exit``: ``exitQgis()`` crashes headless).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RASTERS = (
    "lcz_parameters.tif",
    "lcz_parameters_lookup.tif",
    "lcz_parameters_100m.tif",
    "lcz_parameters_lookup_100m.tif",
)


def _draw(layer: object) -> int:
    """Distinct opaque colours when ``layer`` is drawn on a 64 x 64 image."""
    from qgis.core import QgsMapRendererSequentialJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize

    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(64, 64))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    colours = set()
    for y in range(image.height()):
        for x in range(image.width()):
            pixel = image.pixel(x, y)
            if pixel >> 24:  # alpha
                colours.add(pixel)
    return len(colours)


def main(area: Path, spec: list[dict[str, object]]) -> int:
    from qgis.core import Qgis, QgsApplication, QgsRasterLayer

    app = QgsApplication([], False)
    app.initQgis()
    results: list[dict[str, object]] = []
    for name in RASTERS:
        layer = QgsRasterLayer(str(area / name), name, "gdal")
        renderer = layer.renderer() if layer.isValid() else None
        got = renderer.type() if renderer is not None else None
        results.append(
            {
                "file": name,
                "qgis": Qgis.QGIS_VERSION,
                "valid": layer.isValid(),
                "bands": layer.bandCount() if layer.isValid() else None,
                "renderer": got,
                "ok": bool(
                    layer.isValid()
                    and layer.crs().isValid()
                    and layer.bandCount() == len(spec)
                    and got == "singlebandpseudocolor"
                    and renderer.band() == 1
                ),
            }
        )
    layer = QgsRasterLayer(str(area / RASTERS[0]), RASTERS[0], "gdal")
    for item in spec:
        message, loaded = layer.loadNamedStyle(str(area / str(item["style"])))
        renderer = layer.renderer()
        band = int(item["band"])  # type: ignore[call-overload]
        legend = [label for label, _ in renderer.legendSymbologyItems()]
        unit = str(item["unit"])
        result: dict[str, object] = {
            "style": item["style"],
            "loaded": loaded,
            "message": message if not loaded else "",
            "renderer": renderer.type(),
            "band": renderer.band(),
            "band_name": layer.bandName(band),
            "range": [renderer.classificationMin(), renderer.classificationMax()],
            "legend": legend,
            "colours_drawn": _draw(layer),
        }
        result["ok"] = bool(
            loaded
            and renderer.type() == "singlebandpseudocolor"
            and renderer.band() == band
            and result["range"] == [item["minimum"], item["maximum"]]
            and len(legend) >= 2
            and (unit == "1" or all(label.endswith(f" {unit}") for label in legend))
            and str(item["description"]) in layer.bandName(band)
            and int(result["colours_drawn"]) >= 2  # type: ignore[call-overload]
        )
        results.append(result)
    for r in results:
        print(json.dumps(r))
    failed = [r for r in results if not r["ok"]]
    print(json.dumps({"checked": len(results), "failed": len(failed)}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.stdout.flush()
    code = main(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")))
    sys.stdout.flush()
    os._exit(code)
