"""A map folder as a QGIS project: ``lcz_map.qgz``, one layer group per area, every layer styled.

The project (a ``.qgs`` XML document zipped as ``.qgz``, the form QGIS saves by default) holds a
group for the city and one per district, each with the area's layers: the dominant-class polygons
and grid cells of the GeoPackage, the dominant LCZ, the abundances, the uncertainty and the WUDAPT
raster. Only the city's dominant LCZ is shown when the project opens; a district group shows its
dominant LCZ once ticked.

* **Styles** are the products' own: the ``.qml`` beside each GeoTIFF and the GeoPackage layers'
  ``layer_styles`` entries are embedded in the layers, so the project opens styled anywhere.
* **Abundances**: the layer carries one named style per LCZ (QGIS: right-click the layer >
  Styles), each showing that class's band on the same fixed 0-1 ramp; the one shown first is the
  area's most abundant class, as in ``lcz_abundance.qml``.
* **Relative paths**: data sources are written ``./<area>/<file>`` and the project is marked as
  using relative paths, so the folder can be moved or copied as a whole.

No library writes QGIS projects outside QGIS; the document is the subset of what QGIS 3.22 itself
saves that it needs (layer tree, layers with source, CRS and style, map canvas), built with
ElementTree like the styles (:mod:`.styles`). The zip has a fixed timestamp, so a rerun writes the
same bytes.
"""

from __future__ import annotations

import copy
import re
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import rasterio
from pyproj import CRS

from sunet.atomic import atomic_path
from sunet.geo.crs import from_rasterio
from sunet.lcz import CLASSES
from sunet.mapping import styles
from sunet.mapping.districts import CITY, District
from sunet.mapping.products import ABUNDANCE, DOMINANT, UNCERTAINTY, WUDAPT
from sunet.mapping.vectors import CELLS_LAYER, DOMINANT_LAYER, read_layer_styles

__all__ = ["QGIS_PROJECT", "project_xml", "write_qgis_project"]

QGIS_PROJECT = "lcz_map.qgz"
# A fixed zip entry time (the earliest a zip can hold), so reruns are byte-identical.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class _Layer:
    """One layer of an area's group: ``file`` in the area folder, ``layer`` inside a GeoPackage."""

    key: str
    title: str
    file: str
    layer: str | None = None
    shown: bool = False


# Top of the layer tree first (drawn last, on top).
_LAYERS = (
    _Layer("polygons", "Dominant LCZ polygons", "lcz_dominant.gpkg", DOMINANT_LAYER),
    _Layer("cells", "Grid cells (all abundances)", "lcz_dominant.gpkg", CELLS_LAYER),
    _Layer("dominant", "Dominant LCZ", DOMINANT, shown=True),
    _Layer("abundance", "LCZ abundance", ABUNDANCE),
    _Layer("uncertainty", "Uncertainty", UNCERTAINTY),
    _Layer("wudapt", "WUDAPT LCZ (EPSG:4326, ~100 m)", WUDAPT),
)


def _text(parent: ET.Element, tag: str, text: str, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    element.text = text
    return element


def _spatialrefsys(parent: ET.Element, crs: CRS) -> None:
    # QGIS builds the CRS from the WKT when no internal srsid is given.
    srs = ET.SubElement(parent, "spatialrefsys", nativeFormat="Wkt")
    epsg = crs.to_epsg()
    _text(srs, "wkt", crs.to_wkt())
    _text(srs, "srid", str(epsg or 0))
    _text(srs, "authid", f"EPSG:{epsg}" if epsg else "")
    _text(srs, "description", crs.name)
    _text(srs, "geographicflag", "true" if crs.is_geographic else "false")


def _layer_id(slug: str, key: str) -> str:
    """A layer id of QGIS's own form (name, then a UUID), fixed by area and layer so reruns
    agree. QGIS 3.22 replaces short ids when it reads a project, so plain names will not do."""
    fixed = uuid.uuid5(uuid.NAMESPACE_URL, f"lcz-map/{slug}/{key}")
    return f"{slug}_{key}_{fixed}".replace("-", "_")


def _parse_qml(text: str) -> ET.Element:
    """The ``<qgis>`` element of a QML document (its DOCTYPE line dropped)."""
    return ET.fromstring(re.sub(r"^<!DOCTYPE[^>]*>\s*", "", text))


def _apply_style(layer: ET.Element, qml: ET.Element) -> None:
    """Embed a style: the QML's scale attributes and its elements (renderer, pipe, blending)."""
    for key in ("hasScaleBasedVisibilityFlag", "minScale", "maxScale", "styleCategories"):
        if key in qml.attrib:
            layer.set(key, qml.attrib[key])
    for child in qml:
        layer.append(copy.deepcopy(child))


def _abundance_styles(layer: ET.Element, qml: ET.Element) -> None:
    """One named style per LCZ band; the current one is the band the area's ``.qml`` shows."""
    renderer = qml.find("pipe/rasterrenderer")
    band = int(renderer.get("band", "1")) if renderer is not None else 1
    current = CLASSES[band - 1].label
    manager = ET.SubElement(layer, "map-layer-style-manager", current=current)
    for c in CLASSES:
        style = ET.SubElement(manager, "map-layer-style", name=c.label)
        # QGIS keeps the current style in the layer itself, the others inside their entry.
        if c.label != current:
            style.append(_parse_qml(styles.pseudocolor_raster_qml(band=c.code)))


def _map_layer(
    parent: ET.Element, layer_id: str, spec: _Layer, source: str, crs: CRS, qml: ET.Element
) -> None:
    raster = spec.layer is None
    element = ET.SubElement(parent, "maplayer", type="raster" if raster else "vector")
    if not raster:
        element.set("geometry", "Polygon")
    _text(element, "id", layer_id)
    _text(element, "datasource", source)
    _text(element, "layername", spec.title)
    _spatialrefsys(ET.SubElement(element, "srs"), crs)
    if raster:
        _text(element, "provider", "gdal")
    else:
        _text(element, "provider", "ogr", encoding="UTF-8")
    _apply_style(element, qml)
    if spec.key == "abundance":
        _abundance_styles(element, qml)


def _area_styles(folder: Path) -> dict[str, ET.Element]:
    """The style of each layer present in an area folder, by layer key."""
    found: dict[str, ET.Element] = {}
    gpkg = folder / "lcz_dominant.gpkg"
    vector = read_layer_styles(gpkg) if gpkg.is_file() else {}
    for spec in _LAYERS:
        if spec.layer is not None:
            if spec.layer in vector:
                found[spec.key] = _parse_qml(vector[spec.layer])
        elif (folder / spec.file).is_file():
            qml = folder / Path(spec.file).with_suffix(".qml")
            found[spec.key] = _parse_qml(qml.read_text(encoding="utf-8"))
    return found


def _layer_crs(path: Path, crs: CRS) -> CRS:
    """A raster's own CRS (the WUDAPT raster is in EPSG:4326); GeoPackage layers are in ``crs``."""
    if path.suffix != ".tif":
        return crs
    with rasterio.open(path) as ds:
        return from_rasterio(ds.crs)


def project_xml(out: Path, areas: Sequence[District], crs: CRS, title: str = "LCZ map") -> str:
    """The ``.qgs`` document of the map in ``out``: a group per area (the city first), every
    layer found in the area folders, styled, with paths relative to ``out``.

    Args:
        out: the map folder; areas: its areas (slug = folder, name = group name; geometries in
            ``crs``, the first one's bounds give the initial view).
        crs: the map CRS (the project's).
    """
    root = ET.Element("qgis", projectname=title, version=f"{styles.QGIS_VERSION}-Białowieża")
    ET.SubElement(root, "homePath", path="")
    _text(root, "title", title)
    _spatialrefsys(ET.SubElement(root, "projectCrs"), crs)
    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    layers = ET.Element("projectlayers")
    for area in areas:
        is_city = area.slug == CITY
        group = ET.SubElement(
            tree, "layer-tree-group", name=area.name,
            checked="Qt::Checked" if is_city else "Qt::Unchecked", expanded="1" if is_city else "0",
        )  # fmt: skip
        ET.SubElement(group, "customproperties")
        found = _area_styles(out / area.slug)
        for spec in _LAYERS:
            if spec.key not in found:
                continue
            layer_id = _layer_id(area.slug, spec.key)
            source = f"./{area.slug}/{spec.file}"
            if spec.layer is not None:
                source += f"|layername={spec.layer}"
            ET.SubElement(
                group, "layer-tree-layer", id=layer_id, name=spec.title, source=source,
                providerKey="gdal" if spec.layer is None else "ogr",
                checked="Qt::Checked" if spec.shown else "Qt::Unchecked", expanded="0",
            )  # fmt: skip
            layer_crs = _layer_crs(out / area.slug / spec.file, crs)
            _map_layer(layers, layer_id, spec, source, layer_crs, found[spec.key])
    root.append(layers)

    canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    _text(canvas, "units", "meters")
    extent = ET.SubElement(canvas, "extent")
    for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), areas[0].geometry.bounds, strict=True):
        _text(extent, tag, repr(float(value)))
    _text(canvas, "rotation", "0")
    _spatialrefsys(ET.SubElement(canvas, "destinationsrs"), crs)

    properties = ET.SubElement(root, "properties")
    _text(ET.SubElement(properties, "Paths"), "Absolute", "false", type="bool")
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"


def write_qgis_project(
    out: Path, areas: Sequence[District], crs: CRS, title: str = "LCZ map"
) -> Path:
    """Write ``out/lcz_map.qgz`` (see :func:`project_xml`) atomically and return its path."""
    info = zipfile.ZipInfo(Path(QGIS_PROJECT).with_suffix(".qgs").name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    dst = out / QGIS_PROJECT
    with atomic_path(dst) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr(info, project_xml(out, areas, crs, title).encode("utf-8"))
    return dst
