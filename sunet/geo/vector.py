"""Reading, validating and repairing polygon layers (LCZ labels, districts); GPKG 1.3 writing.

Invalid polygons (self-intersections, bow-ties, wrong ring order ...) are repaired with shapely's
``make_valid`` and only their polygonal parts are kept; a repair counts as safe when some area
remains. Features left with no area (null, empty, or collapsing to lines/points) are dropped.
Both are counted in :class:`PolygonLayer` so the caller can report them; nothing is dropped
silently.

Training areas drawn with the WUDAPT template (a Google Earth KML/KMZ, one folder per LCZ class)
are read by :func:`read_labels` as they are: every folder (GDAL layer) is read, Z is dropped, and
the class of each polygon is found, for the whole file at once, in the first of

1. the label field, when the file carries it (``ExtendedData``, e.g. ``lcz``);
2. the folders, when at least one polygon lies in a folder whose name names a class: each
   polygon takes the innermost enclosing folder that does (so sub-folders of a class folder
   inherit its class); a polygon in no such folder is an unknown label;
3. otherwise each placemark's name, or its description where the name names no class.

A name names a class when it starts with one, optionally after ``LCZ``: ``'LCZ 1'``, ``'1'``,
``'LCZ 1 - Compact high-rise'``, ``'1 compact highrise'``, ``'LCZ1a'``, ``'A'``, ``'LCZ A Dense
trees'``. A bare number is WUDAPT's class number, so ``'11'``-``'17'`` are LCZ A-G (as integer
codes in :func:`sunet.lcz.parse_lcz_values`); after ``LCZ`` only 1-10 exist.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from sunet.atomic import atomic_path
from sunet.lcz import UnknownLczValueError, parse_lcz, parse_lcz_values

__all__ = ["PolygonLayer", "read_labels", "read_polygons", "repair_polygons", "write_gpkg"]

_POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass
class PolygonLayer:
    """A polygon layer as read from a file.

    Attributes:
        path: the source file; layer: the layer read (KML/KMZ: ``''`` for all folders).
        frame: one row per kept feature, geometry valid and polygonal, in the file's CRS. For label
            layers it has a ``code`` column (uint8 LCZ raster code 1-17); KML/KMZ labels also a
            ``kml_folder`` column (the GDAL layer, i.e. folder, of each placemark).
        repaired: features whose invalid geometry was repaired with ``make_valid``.
        dropped: features dropped, by reason (``"empty"``, ``"no_area_after_repair"``,
            ``"not_polygon"``).
    """

    path: Path
    layer: str
    frame: gpd.GeoDataFrame
    repaired: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def crs(self) -> CRS:
        return CRS.from_user_input(self.frame.crs)


def _layer_names(path: Path | str, shown: Path) -> list[str]:
    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as e:  # pyogrio raises DataSourceError with a multi-line GDAL text
        raise ValueError(f"{shown}: not a readable vector file ({str(e).splitlines()[0]})") from e


def _pick_layer(path: Path, layer: str | None, preferred: str) -> str:
    names = _layer_names(path, path)
    if layer is not None:
        if layer not in names:
            raise ValueError(f"{path}: no layer {layer!r} (layers: {', '.join(names)})")
        return layer
    if len(names) == 1:
        return names[0]
    if preferred in names:
        return preferred
    raise ValueError(f"{path}: several layers ({', '.join(names)}); name one")


def repair_polygons(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, dict[str, int]]:
    """Repair and filter an array of shapely geometries.

    Returns:
        ``(geoms, keep, repaired, dropped)``: the repaired geometries (same length), a bool mask of
        the features to keep, the number repaired and the drop counts by reason.
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    keep = np.ones(len(geoms), dtype=bool)
    dropped = {"empty": 0, "no_area_after_repair": 0, "not_polygon": 0}
    repaired = 0
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            keep[i] = False
            dropped["empty"] += 1
            continue
        if geom.geom_type not in _POLYGONAL and not geom.geom_type == "GeometryCollection":
            keep[i] = False
            dropped["not_polygon"] += 1
            continue
        if geom.is_valid and geom.geom_type in _POLYGONAL:
            continue
        fixed = shapely.make_valid(geom)
        parts = [p for p in shapely.get_parts(fixed) if p.geom_type in _POLYGONAL and p.area > 0]
        if not parts:
            keep[i] = False
            dropped["no_area_after_repair"] += 1
            continue
        geoms[i] = shapely.union_all(parts)
        repaired += 1
    return geoms, keep, repaired, {k: v for k, v in dropped.items() if v}


def read_polygons(
    path: str | Path, layer: str | None = None, preferred_layer: str = ""
) -> PolygonLayer:
    """Read a polygon layer, require a CRS, repair invalid geometries (see module docstring).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: one line naming the file: unreadable, ambiguous layer, no CRS, no polygon.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such vector file")
    name = _pick_layer(path, layer, preferred_layer)
    frame = _read_layer(path, path, name)
    if frame.crs is None:
        raise ValueError(f"{path}: layer {name!r} has no CRS")
    return _kept_polygons(path, name, frame, f"layer {name!r}")


def _read_layer(source: Path | str, path: Path, name: str, **kwargs: Any) -> gpd.GeoDataFrame:
    try:
        return gpd.read_file(source, layer=name, engine="pyogrio", **kwargs)
    except Exception as e:
        raise ValueError(f"{path}: cannot read layer {name!r} ({str(e).splitlines()[0]})") from e


def _kept_polygons(path: Path, layer: str, frame: gpd.GeoDataFrame, where: str) -> PolygonLayer:
    geoms, keep, repaired, dropped = repair_polygons(frame.geometry.to_numpy())
    frame = frame.set_geometry(gpd.GeoSeries(geoms, crs=frame.crs, index=frame.index))
    frame = frame[keep].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"{path}: {where} has no polygon with an area")
    return PolygonLayer(path=path, layer=layer, frame=frame, repaired=repaired, dropped=dropped)


def read_labels(path: str | Path, label_field: str, layer: str | None = None) -> PolygonLayer:
    """Read an LCZ label layer: polygons with a label field parsed into raster codes.

    The ``code`` column holds uint8 raster codes 1-17 (``sunet.lcz`` order); values are parsed
    with :func:`sunet.lcz.parse_lcz_values`, so ``'5'``, ``5``, ``'LCZ 5'``, ``'E'`` all work.
    A ``.kml``/``.kmz`` file (the WUDAPT training-area template, EPSG:4326) is read whole, its
    classes found as the module docstring says; there ``label_field`` is used only if present and
    ``layer`` restricts the reading to one folder.

    Raises:
        ValueError: (besides :func:`read_polygons`' errors) missing field, or unknown label
            values, listed in one line (for KML/KMZ with their folders or placemarks).
    """
    if Path(path).suffix.lower() in _KML_SUFFIXES:
        return _read_kml_labels(Path(path), label_field, layer)
    labels = read_polygons(path, layer=layer, preferred_layer="labels")
    frame = labels.frame
    if label_field not in frame.columns:
        fields = [c for c in frame.columns if c != frame.geometry.name]
        raise ValueError(f"{labels.path}: no field {label_field!r} (fields: {', '.join(fields)})")
    frame["code"] = parse_lcz_values(frame[label_field].tolist(), source=str(labels.path))
    return labels


_KML_SUFFIXES = (".kml", ".kmz")
# A name naming a class: it starts with one, optionally after 'LCZ' ('LCZ 1 - Compact high-rise',
# '1 compact highrise', 'LCZ1a', 'A', 'LCZ A Dense trees'); a letter must end its word, so
# 'Dense trees' names none.
_LEADING_CLASS = re.compile(r"^\s*(lcz[\s_\-]*)?(\d{1,2}(?!\d)|[a-g](?![a-z\d]))", re.IGNORECASE)
# GDAL names the k-th layer (folder) of an already used name 'name (#k)'.
_GDAL_REPEAT = re.compile(r"^(.*) \(#(\d+)\)$")


def _class_value(name: Any) -> Any:
    """The class a folder/placemark name starts with, as a value for ``parse_lcz_values``
    (a bare number as an int, WUDAPT's class number); ``None`` when it names none."""
    if not isinstance(name, str):
        return None
    m = _LEADING_CLASS.match(name)
    if m is None:
        return None
    prefix, token = m.groups()
    value: Any = int(token) if token.isdigit() and not prefix else m.group(0).strip()
    try:
        parse_lcz(value)
    except UnknownLczValueError:
        return None
    return value


def _kml_text(path: Path) -> tuple[bytes, str | None]:
    """The KML document of a .kml or .kmz file, and for a .kmz the member it came from."""
    if path.suffix.lower() != ".kmz":
        return path.read_bytes(), None
    try:
        with zipfile.ZipFile(path) as zf:
            kmls = [n for n in zf.namelist() if n.lower().endswith(".kml")]
            if not kmls:
                raise ValueError(f"{path}: a KMZ without a .kml document")
            # Google Earth's main document is doc.kml; otherwise the first .kml (as GDAL does).
            member = "doc.kml" if "doc.kml" in kmls else kmls[0]
            return zf.read(member), member
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: not a readable KMZ ({e})") from e


def _folder_chains(text: bytes, path: Path) -> dict[str, list[tuple[str, ...]]]:
    """Folder name -> the chain of folder names (outermost first, ending with it) of each folder
    of that name, in document order."""
    # GDAL reads each folder as a flat layer and drops the nesting, which the class of a
    # sub-folder depends on; the folder tree is small, so it is read here from the XML.
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as e:
        raise ValueError(f"{path}: not a readable KML ({e})") from e
    chains: dict[str, list[tuple[str, ...]]] = {}

    def walk(element: ElementTree.Element, chain: tuple[str, ...]) -> None:
        for child in element:
            kind = child.tag.rsplit("}", 1)[-1]
            if kind == "Folder":
                name = (child.findtext("{*}name") or "").strip()
                chains.setdefault(name, []).append((*chain, name))
                walk(child, (*chain, name))
            elif kind == "Document":  # a container, but its name is the file's, not a class
                walk(child, chain)

    walk(root, ())
    return chains


def _folder_chain(layer: str, chains: dict[str, list[tuple[str, ...]]]) -> tuple[str, ...]:
    """The folder names enclosing a GDAL layer's placemarks, outermost first; ``()`` for a layer
    that is no folder (GDAL's layer of the placemarks outside folders)."""
    name, k = layer, 1
    if layer not in chains and (m := _GDAL_REPEAT.match(layer)):
        name, k = m.group(1), int(m.group(2))
    found = chains.get(name, [])
    return found[k - 1] if k <= len(found) else ()


def _class_sources(
    frame: gpd.GeoDataFrame, chains: dict[str, list[tuple[str, ...]]]
) -> list[tuple[str, str]]:
    """Per polygon, ``(where, name)``: the folder or placemark whose name gives its class."""
    layers = frame["kml_folder"].tolist()
    by_layer = {}
    for layer in set(layers):
        chain = _folder_chain(layer, chains)
        named = [f for f in chain if _class_value(f) is not None]
        if named:  # the innermost folder naming a class
            by_layer[layer] = (f"folder {named[-1]!r}", named[-1], True)
        elif chain and chain[-1]:  # the polygon's own folder, to be reported
            by_layer[layer] = (f"folder {chain[-1]!r}", chain[-1], False)
        else:  # an unnamed folder or the document: GDAL made the layer's name up
            by_layer[layer] = ("placemarks outside named folders", "", False)
    if any(named for _, _, named in by_layer.values()):
        return [by_layer[f][:2] for f in layers]
    none = [None] * len(frame)
    names = frame["Name"].tolist() if "Name" in frame else none
    # LIBKML calls the column 'description', GDAL's plain KML driver 'Description'
    descriptions = frame.get("description", frame.get("Description", pd.Series(none))).tolist()
    sources = []
    for name, description in zip(names, descriptions, strict=True):
        name = name if isinstance(name, str) else ""
        in_name = _class_value(name) is not None or _class_value(description) is None
        sources.append((f"placemark {name!r}", name if in_name else description))
    return sources


def _read_kml_labels(path: Path, label_field: str, layer: str | None) -> PolygonLayer:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such vector file")
    text, member = _kml_text(path)
    source: Path | str = path
    if member is not None and "LIBKML" not in pyogrio.list_drivers():
        source = f"/vsizip/{path}/{member}"  # GDAL's plain KML driver reads no .kmz itself
    names = _layer_names(source, path)
    if layer is not None:
        if layer not in names:
            raise ValueError(f"{path}: no folder {layer!r} (folders: {', '.join(names)})")
        names = [layer]
    frames = []
    for name in names:
        frame = _read_layer(source, path, name, force_2d=True)
        if not frame.empty:  # empty folders
            frames.append(frame.assign(kml_folder=name))
    if not frames:
        raise ValueError(f"{path}: no placemark in any folder")
    crs = frames[0].crs or "EPSG:4326"  # KML coordinates are lon/lat on WGS 84 by definition
    frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)
    where = "the KML" if layer is None else f"folder {layer!r}"
    labels = _kept_polygons(path, layer or "", frame, where)
    frame = labels.frame
    if label_field in frame.columns and frame[label_field].notna().any():
        frame["code"] = parse_lcz_values(frame[label_field].tolist(), source=str(path))
        return labels
    sources = _class_sources(frame, _folder_chains(text, path))
    values = [_class_value(name) for _, name in sources]
    bad = sorted({s for s, v in zip(sources, values, strict=True) if v is None})
    if bad:
        where = ", ".join(w for w, _ in bad)
        raise UnknownLczValueError([name for _, name in bad], f"{path} ({where})")
    frame["code"] = parse_lcz_values(values, source=str(path))
    return labels


def write_gpkg(frame: gpd.GeoDataFrame, path: str | Path, layer: str, **kwargs: Any) -> Path:
    """Write a GeoPackage atomically, as GPKG 1.3 so that QGIS 3.22 opens it without a warning."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_file(
            tmp,
            layer=layer,
            driver="GPKG",
            engine="pyogrio",
            dataset_options={"VERSION": "1.3"},
            **kwargs,
        )
    return path
