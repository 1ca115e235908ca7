"""QGIS styles (QML) for the map products.

QGIS loads ``<file base name>.qml`` beside a raster automatically, so each GeoTIFF gets one. For the
GeoPackage that does not work: ``lcz_dominant.qml`` already belongs to ``lcz_dominant.tif``, and a
GeoPackage holds two layers. GeoPackage layers therefore carry their style inside the file, in the
``layer_styles`` table that QGIS reads as a layer's default style (see
:func:`sunet.mapping.vectors.write_layer_styles`).

No library writes QML; the documents below are the minimal subset of what QGIS 3.22 itself saves
(renderer, palette or ramp, blending), built with ElementTree so labels are escaped properly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from sunet.lcz import CLASSES

__all__ = [
    "QGIS_VERSION",
    "VIRIDIS",
    "MAGMA",
    "categorized_vector_qml",
    "paletted_raster_qml",
    "pseudocolor_raster_qml",
    "suggestion_qml",
]

# The QGIS release whose format the styles (and the project, :mod:`.qgis_project`) follow.
QGIS_VERSION = "3.22.0"

# Colour ramps as (position 0-1, '#rrggbb') stops, sampled from matplotlib's perceptual maps.
VIRIDIS: tuple[tuple[float, str], ...] = (
    (0.0, "#440154"),
    (0.25, "#3b528b"),
    (0.5, "#21918c"),
    (0.75, "#5ec962"),
    (1.0, "#fde725"),
)
MAGMA: tuple[tuple[float, str], ...] = (
    (0.0, "#000004"),
    (0.25, "#51127c"),
    (0.5, "#b73779"),
    (0.75, "#fc8961"),
    (1.0, "#fcfdbf"),
)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    c = hex_colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _rgba(hex_colour: str, alpha: int = 255) -> str:
    r, g, b = _rgb(hex_colour)
    return f"{r},{g},{b},{alpha}"


def _document(categories: str) -> ET.Element:
    return ET.Element(
        "qgis",
        {
            "version": QGIS_VERSION,
            "styleCategories": categories,
            "hasScaleBasedVisibilityFlag": "0",
            "minScale": "1e+08",
            "maxScale": "0",
        },
    )


def _serialise(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"


def _raster_pipe(root: ET.Element, renderer: ET.Element) -> None:
    pipe = ET.SubElement(root, "pipe")
    pipe.append(renderer)
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(
        pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0",
        colorizeRed="255", colorizeGreen="128", colorizeBlue="128", colorizeStrength="100",
    )  # fmt: skip
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(pipe, "resamplingStage").text = "resamplingFilter"
    ET.SubElement(root, "blendMode").text = "0"


def _min_max_origin(parent: ET.Element) -> None:
    mmo = ET.SubElement(parent, "minMaxOrigin")
    for tag, text in (
        ("limits", "None"),
        ("extent", "WholeRaster"),
        ("statAccuracy", "Estimated"),
        ("cumulativeCutLower", "0.02"),
        ("cumulativeCutUpper", "0.98"),
        ("stdDevFactor", "2"),
    ):
        ET.SubElement(mmo, tag).text = text


def paletted_raster_qml() -> str:
    """Band 1 as LCZ codes 1-17 with the standard palette and class labels."""
    root = _document("AllStyleCategories")
    r = ET.Element(
        "rasterrenderer", type="paletted", band="1", opacity="1", alphaBand="-1", nodataColor=""
    )
    ET.SubElement(r, "rasterTransparency")
    _min_max_origin(r)
    palette = ET.SubElement(r, "colorPalette")
    for c in CLASSES:
        ET.SubElement(
            palette, "paletteEntry", value=str(c.code), color=c.colour, alpha="255", label=c.label
        )
    _raster_pipe(root, r)
    return _serialise(root)


def pseudocolor_raster_qml(
    band: int,
    ramp: Sequence[tuple[float, str]] = VIRIDIS,
    minimum: float = 0.0,
    maximum: float = 1.0,
    *,
    values: Sequence[float] | None = None,
    unit: str = "",
) -> str:
    """One band as a continuous ramp over ``[minimum, maximum]`` (fixed, not stretched to the
    data, so maps of different districts compare).

    Args:
        values: the legend's values, lowest to highest (they replace ``minimum``/``maximum``):
            the ramp's colours are spread evenly over them and QGIS interpolates between
            neighbours, so unevenly spaced values (roughness classes) each get their own colour.
        unit: written after each legend value (``'m'``, ``'W m-2'``; ``'1'`` = none).
    """
    root = _document("AllStyleCategories")
    if values is None:
        items = [(minimum + p * (maximum - minimum), c) for p, c in ramp]
        labels = [f"{v:.2f}" for v, _ in items]
    else:
        n = len(values)
        items = [(v, _ramp_colour(ramp, i / (n - 1))) for i, v in enumerate(values)]
        labels = [f"{v:g}" for v in values]
        minimum, maximum = values[0], values[-1]
    if unit and unit != "1":
        labels = [f"{label} {unit}" for label in labels]
    lo, hi = f"{minimum:g}", f"{maximum:g}"
    r = ET.Element(
        "rasterrenderer", type="singlebandpseudocolor", band=str(band), opacity="1",
        alphaBand="-1", classificationMin=lo, classificationMax=hi, nodataColor="",
    )  # fmt: skip
    ET.SubElement(r, "rasterTransparency")
    _min_max_origin(r)
    shader = ET.SubElement(r, "rastershader")
    crs = ET.SubElement(
        shader, "colorrampshader", colorRampType="INTERPOLATED", classificationMode="1",
        clip="0", minimumValue=lo, maximumValue=hi, labelPrecision="2",
    )  # fmt: skip
    cramp = ET.SubElement(crs, "colorramp", type="gradient", name="[source]")
    opts = ET.SubElement(cramp, "Option", type="Map")
    for name, value in (
        ("color1", _rgba(ramp[0][1])),
        ("color2", _rgba(ramp[-1][1])),
        ("discrete", "0"),
        ("rampType", "gradient"),
        ("stops", _stops(ramp)),
    ):
        ET.SubElement(opts, "Option", name=name, type="QString", value=value)
    for (v, c), label in zip(items, labels, strict=True):
        ET.SubElement(crs, "item", value=f"{v:g}", color=c, alpha="255", label=label)
    _raster_pipe(root, r)
    return _serialise(root)


def _ramp_colour(ramp: Sequence[tuple[float, str]], position: float) -> str:
    """The ramp's colour at ``position`` (0-1), interpolated linearly in RGB between stops."""
    for (p0, c0), (p1, c1) in zip(ramp, ramp[1:], strict=False):
        if position <= p1:
            t = 0.0 if p1 == p0 else min(max((position - p0) / (p1 - p0), 0.0), 1.0)
            a, b = _rgb(c0), _rgb(c1)
            return "#" + "".join(f"{round(x + t * (y - x)):02x}" for x, y in zip(a, b, strict=True))
    return ramp[-1][1]


def _stops(ramp: Sequence[tuple[float, str]]) -> str:
    # QGIS gradient stops: "pos;r,g,b,a:pos;r,g,b,a" for the inner stops.
    return ":".join(f"{p:g};{_rgba(c)}" for p, c in ramp[1:-1])


def _fill_symbol(
    parent: ET.Element,
    name: str,
    colour: str,
    outline: bool,
    fill: bool = True,
    outline_colour: str = "35,35,35,255",
    outline_width: float = 0.1,
) -> None:
    sym = ET.SubElement(
        parent, "symbol", type="fill", name=name, alpha="1", clip_to_extent="1", force_rhr="0"
    )
    layer = ET.SubElement(sym, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"})  # fmt: skip
    props = {
        "color": _rgba(colour),
        "joinstyle": "bevel",
        "offset": "0,0",
        "offset_unit": "MM",
        "outline_color": outline_colour,
        "outline_style": "solid" if outline else "no",
        "outline_width": f"{outline_width:g}",
        "outline_width_unit": "MM",
        "style": "solid" if fill else "no",
    }
    # QGIS 3.22 reads the <Option> map; the <prop> list is what older readers understand.
    opts = ET.SubElement(layer, "Option", type="Map")
    for k, v in props.items():
        ET.SubElement(opts, "Option", name=k, type="QString", value=v)
    for k, v in props.items():
        ET.SubElement(layer, "prop", k=k, v=v)


def categorized_vector_qml(attribute: str, outline: bool = False) -> str:
    """Polygons coloured by an integer LCZ code attribute (1-17), palette and class labels."""
    root = _document("Symbology")
    ren = ET.SubElement(
        root, "renderer-v2", type="categorizedSymbol", attr=attribute, symbollevels="0",
        enableorderby="0", forceraster="0", referencescale="-1",
    )  # fmt: skip
    cats = ET.SubElement(ren, "categories")
    symbols = ET.SubElement(ren, "symbols")
    for i, c in enumerate(CLASSES):
        ET.SubElement(
            cats, "category", render="true", symbol=str(i), value=str(c.code), label=c.label,
            type="long",
        )  # fmt: skip
        _fill_symbol(symbols, str(i), c.colour, outline)
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerGeometryType").text = "2"
    return _serialise(root)


def suggestion_qml(label_field: str = "rank") -> str:
    """Places to label: unfilled magenta squares, each labelled with ``label_field``."""
    root = _document("Symbology|Labeling")
    root.set("labelsEnabled", "1")
    ren = ET.SubElement(
        root, "renderer-v2", type="singleSymbol", symbollevels="0", enableorderby="0",
        forceraster="0", referencescale="-1",
    )  # fmt: skip
    symbols = ET.SubElement(ren, "symbols")
    _fill_symbol(symbols, "0", "#ff00ff", outline=True, fill=False,
                 outline_colour="255,0,255,255", outline_width=0.7)  # fmt: skip
    labeling = ET.SubElement(root, "labeling", type="simple")
    settings = ET.SubElement(labeling, "settings", calloutType="simple")
    style = ET.SubElement(
        settings, "text-style", fieldName=label_field, isExpression="0", fontSize="10",
        fontSizeUnit="Point", fontWeight="75", textColor="255,0,255,255", textOpacity="1",
        namedStyle="Bold", fontFamily="Sans Serif",
    )  # fmt: skip
    ET.SubElement(style, "text-buffer", bufferDraw="1", bufferSize="1", bufferSizeUnits="MM",
                  bufferColor="255,255,255,255", bufferOpacity="1")  # fmt: skip
    ET.SubElement(settings, "placement", placement="1", offsetType="0", dist="0")
    ET.SubElement(settings, "rendering", obstacle="1", drawLabels="1", scaleVisibility="0")
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerGeometryType").text = "2"
    return _serialise(root)
