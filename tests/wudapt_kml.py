"""Write training areas the way the WUDAPT template lays them out (KML or KMZ), for tests and
examples.

The WUDAPT template is a Google Earth file with one folder per LCZ class; the polygons drawn in a
folder are training areas of that class. :func:`write_wudapt_kml` writes that layout as Google
Earth saves it: ``Document > Folder (class name) > Placemark``, ``lon,lat,0`` coordinates (with
altitude), ``MultiGeometry`` for a multi-part area, and a Point placemark in each class folder
(Google Earth files carry such non-polygon placemarks next to the areas).

    python tests/wudapt_kml.py training_areas.kmz   # a small example near Wuhan
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

from shapely.geometry import MultiPolygon, Polygon, box

__all__ = ["example_areas", "write_wudapt_kml"]

_NS = "http://www.opengis.net/kml/2.2"


def _ring(coords: Sequence[Sequence[float]]) -> str:
    text = " ".join(f"{x:.8f},{y:.8f},0" for x, y, *_ in coords)
    return f"<LinearRing><coordinates>{text}</coordinates></LinearRing>"


def _polygon(p: Polygon) -> str:
    inner = "".join(f"<innerBoundaryIs>{_ring(r.coords)}</innerBoundaryIs>" for r in p.interiors)
    return (
        "<Polygon><tessellate>1</tessellate>"
        f"<outerBoundaryIs>{_ring(p.exterior.coords)}</outerBoundaryIs>{inner}</Polygon>"
    )


def _placemark(name: str, geom: Polygon | MultiPolygon, description: str = "") -> str:
    if isinstance(geom, MultiPolygon):
        body = "<MultiGeometry>" + "".join(_polygon(p) for p in geom.geoms) + "</MultiGeometry>"
    else:
        body = _polygon(geom)
    desc = f"<description>{escape(description)}</description>" if description else ""
    return f"<Placemark><name>{escape(name)}</name>{desc}{body}</Placemark>"


def _placeholder(near: Polygon | MultiPolygon | None) -> str:
    x, y = near.representative_point().coords[0] if near is not None else (0.0, 0.0)
    return (
        "<Placemark><name>Style placeholder</name>"
        f"<Point><coordinates>{x:.8f},{y:.8f},0</coordinates></Point></Placemark>"
    )


@dataclass
class _Folder:
    placemarks: list[str] = field(default_factory=list)
    children: dict[str, _Folder] = field(default_factory=dict)

    def at(self, names: Sequence[str]) -> _Folder:
        """The sub-folder at a path of names, created on first use (document order kept)."""
        folder = self
        for name in names:
            folder = folder.children.setdefault(name, _Folder())
        return folder

    def xml(self) -> str:
        inner = "".join(
            f"<Folder><name>{escape(name)}</name><open>1</open>{child.xml()}</Folder>"
            for name, child in self.children.items()
        )
        return "".join(self.placemarks) + inner


def write_wudapt_kml(
    path: str | Path,
    polygons_by_class: Mapping[str, Sequence[Polygon | MultiPolygon]],
    kmz: bool = False,
    *,
    label_in: Literal["folder", "name", "description"] = "folder",
    placeholders: bool = True,
    document: str = "WUDAPT training areas",
) -> Path:
    """Write training areas as a WUDAPT-template KML (``kmz=True``: zipped as ``doc.kml``).

    Args:
        path: the output file; ``.kml`` or ``.kmz`` as the caller names it.
        polygons_by_class: folder name (e.g. ``"LCZ 1"``, ``"A"``, ``"LCZ 2 - Compact
            midrise"``) -> polygons in EPSG:4326 (lon, lat degrees); a ``MultiPolygon`` is
            written as one ``MultiGeometry`` placemark. ``"/"`` in a name nests folders:
            ``"LCZ 2/north bank"`` writes a sub-folder ``north bank`` inside ``LCZ 2``, and
            ``"Survey 2024/LCZ 1"`` a class folder inside a folder that names no class. An empty
            list writes an empty folder (with only its placeholder).
        kmz: zip the document as ``doc.kml`` (what Google Earth saves as ``.kmz``).
        label_in: ``"folder"`` (the template); ``"name"``: every area in one folder
            ``Training areas``, the class as the placemark's name; ``"description"``: the class
            as the placemark's description, the name left ``Untitled Polygon``.
        placeholders: add a Point placemark ``Style placeholder`` to each folder named in
            ``polygons_by_class``.
        document: the document's name.

    Returns:
        ``path``.
    """
    path = Path(path)
    root = _Folder()
    for key, geoms in polygons_by_class.items():
        if label_in == "folder":
            folder = root.at(key.split("/"))
            folder.placemarks.extend(_placemark("Untitled Polygon", g) for g in geoms)
            if placeholders:
                folder.placemarks.append(_placeholder(geoms[0] if geoms else None))
        elif label_in == "name":
            root.at(["Training areas"]).placemarks.extend(_placemark(key, g) for g in geoms)
        else:
            root.at(["Training areas"]).placemarks.extend(
                _placemark("Untitled Polygon", g, description=key) for g in geoms
            )
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<kml xmlns="{_NS}"><Document><name>{escape(document)}</name><open>1</open>'
        f"{root.xml()}</Document></kml>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if kmz:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("doc.kml", text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def example_areas(
    lon: float = 114.30, lat: float = 30.59
) -> dict[str, list[Polygon | MultiPolygon]]:
    """A few training areas around a place (degrees): compact midrise, open low-rise (one area in
    two parts, one in a nested folder), dense trees and water; about 100-200 m each."""
    d = 0.001  # about 100 m
    return {
        "LCZ 2 - Compact midrise": [box(lon - 2 * d, lat, lon - d, lat + d)],
        "LCZ 6 - Open low-rise": [
            MultiPolygon(
                [box(lon, lat, lon + d, lat + d), box(lon + 1.5 * d, lat, lon + 2 * d, lat + d)]
            )
        ],
        "LCZ 6 - Open low-rise/east": [box(lon + 2.5 * d, lat, lon + 3 * d, lat + d)],
        "LCZ A - Dense trees": [box(lon - 2 * d, lat - 2 * d, lon - d, lat - d)],
        "LCZ G - Water": [box(lon, lat - 2 * d, lon + 2 * d, lat - d)],
    }


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "training_areas.kml")
    write_wudapt_kml(out, example_areas(), kmz=out.suffix.lower() == ".kmz")
    print(out)
