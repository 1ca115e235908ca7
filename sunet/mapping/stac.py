"""A map folder as a STAC catalog: ``catalog.json``, one item per area, every product an asset.

Layout (STAC 1.1, self-contained: every href is relative, so the folder can be moved, copied or
served as it is)::

    OUT/catalog.json           the map: links to its items, the model bundle and config.json
    OUT/<area>/<area>.json     one item per district and one for the city, beside its products

An item describes one area:

* ``geometry``/``bbox``: the area's polygon (the district; the union of all districts for the
  city) in EPSG:4326;
* ``datetime``: when the map was made (also ``created``). The pipeline reads no acquisition date
  from the scenes, so this is the only date it knows; it is not the date of the imagery.
* one asset per product (:data:`~sunet.mapping.products.PRODUCT_FILES`: roles, media type), plus
  the run's ``config.json``;
* projection extension (v2) on each raster asset: ``proj:code``, ``proj:shape``,
  ``proj:transform``, ``proj:bbox``, read from the file itself;
* raster extension (v1.1) on each raster asset: per band data type, nodata, scale, offset and
  cell size; STAC 1.1 ``bands`` name the bands (the abundance bands by class, ``lcz_1`` ...);
* classification extension (v2) on the class rasters (dominant, WUDAPT): the 17 LCZ with raster
  code, name, title, description and palette colour, and 0 as nodata.

A published map version gets its name and links to its records and change report
(:func:`mark_version`); the map root gets a catalog of its versions whose ``latest-version`` link
follows ``latest`` (:func:`write_versions_catalog`). The map catalog is built with pystac; the two
version-level edits are small JSON documents written directly. Every file is written atomically
(:func:`sunet.atomic.write_text_atomic`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pystac
import rasterio
from pyproj import CRS
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Sampling
from pystac.stac_io import DefaultStacIO
from shapely.geometry import mapping

from sunet.atomic import write_text_atomic
from sunet.geo.crs import crs_name, from_rasterio
from sunet.lcz import CLASSES
from sunet.mapping.districts import District
from sunet.mapping.products import PRODUCT_FILES

__all__ = [
    "CATALOG_JSON",
    "lcz_classes",
    "mark_version",
    "write_map_catalog",
    "write_versions_catalog",
]

CATALOG_JSON = "catalog.json"
_JSON = pystac.MediaType.JSON
# Products whose band 1 holds LCZ raster codes (keys of PRODUCT_FILES).
_CLASS_RASTERS = ("dominant", "wudapt")


class _AtomicStacIO(DefaultStacIO):
    """pystac's file writer, each file renamed into place only once complete."""

    def write_text_to_href(self, href: str, txt: str) -> None:
        write_text_atomic(href, txt + "\n")


def lcz_classes() -> list[Classification]:
    """The 17 LCZ as classification-extension classes (value = raster code), and 0 = nodata."""
    classes = [Classification.create(value=0, name="nodata", title="No data", nodata=True)]
    for c in CLASSES:
        classes.append(
            Classification.create(
                value=c.code,
                name=c.column,
                title=c.label,
                description=f"{c.label}: {c.kind} type of Stewart & Oke (2012)",
                color_hint=c.colour.lstrip("#").upper(),
            )
        )
    return classes


def _projection(crs: CRS) -> dict[str, Any]:
    code = crs_name(crs)
    if code.startswith("EPSG:"):
        return {"code": code}
    return {"code": None, "wkt2": crs.to_wkt()}


def _band_objects(key: str, descriptions: Sequence[str | None]) -> list[dict[str, str]]:
    """STAC 1.1 ``bands`` of a raster: the abundance bands by class, a class raster's one band by
    its product and the file's description."""
    if key == "abundance":
        return [
            {"name": c.column, "description": f"Abundance of {c.label}: share of the cell, 0-1"}
            for c in CLASSES
        ]
    names = (
        [key] if len(descriptions) == 1 else [f"{key}_{i + 1}" for i in range(len(descriptions))]
    )
    return [
        {"name": n, **({"description": d} if d else {})}
        for n, d in zip(names, descriptions, strict=True)
    ]


def _describe_raster(asset: pystac.Asset, key: str, path: Path) -> None:
    """Projection and raster-extension fields, and bands, of the asset ``key`` from its GeoTIFF
    at ``path``."""
    with rasterio.open(path) as ds:
        crs = from_rasterio(ds.crs)
        ProjectionExtension.ext(asset).apply(
            **_projection(crs),
            shape=[ds.height, ds.width],
            transform=list(ds.transform)[:6],
            bbox=list(ds.bounds),
        )
        # The raster extension's spatial_resolution is in metres; leave it out in degrees.
        resolution = abs(ds.res[0]) if crs.is_projected else None
        bands = [
            RasterBand.create(
                data_type=DataType(ds.dtypes[i]),
                nodata=ds.nodatavals[i],
                scale=ds.scales[i],
                offset=ds.offsets[i],
                spatial_resolution=resolution,
                sampling=Sampling.AREA,
            )
            for i in range(ds.count)
        ]
        if key in _CLASS_RASTERS:
            ClassificationExtension.ext(bands[0]).apply(classes=lcz_classes())
        RasterExtension.ext(asset).apply(bands)
        asset.extra_fields["bands"] = _band_objects(key, ds.descriptions)


def _area_item(folder: Path, area: District, crs: CRS, created: datetime) -> pystac.Item:
    lonlat = gpd.GeoSeries([area.geometry], crs=crs).to_crs(4326).iloc[0]
    item = pystac.Item(
        id=area.slug,
        geometry=mapping(lonlat),
        bbox=list(lonlat.bounds),
        datetime=created,
        properties={"title": area.name},
    )
    item.common_metadata.created = created
    ProjectionExtension.add_to(item)
    RasterExtension.add_to(item)
    ClassificationExtension.add_to(item)
    ProjectionExtension.ext(item).apply(**_projection(crs))
    for product in PRODUCT_FILES:
        path = folder / product.name
        if not path.is_file():
            continue
        asset = pystac.Asset(
            href=f"./{product.name}",
            title=product.title,
            media_type=product.media_type,
            roles=list(product.roles),
        )
        item.add_asset(product.key, asset)
        if path.suffix == ".tif":
            _describe_raster(asset, product.key, path)
        elif path.suffix == ".gpkg":
            ProjectionExtension.ext(asset).apply(**_projection(crs))
    item.add_asset(
        "config",
        pystac.Asset(
            href="../config.json",
            title="Resolved configuration of the run (config.json)",
            media_type=_JSON,
            roles=["metadata"],
        ),
    )
    return item


def write_map_catalog(
    out: Path,
    areas: Sequence[District],
    crs: CRS,
    *,
    created: datetime,
    model: Path | None = None,
    title: str = "LCZ map",
) -> Path:
    """Write ``out/catalog.json`` and one item per area (``out/<slug>/<slug>.json``).

    Args:
        out: the map folder, holding one product folder per area (``<slug>/``).
        areas: the areas (the city first, then the districts), geometries in ``crs``.
        crs: the map CRS (metres).
        created: when the map was made (timezone-aware): the items' ``datetime``.
        model: the model bundle the map was made with, as recorded in ``config.json``
            (linked by its absolute path: it lies outside the folder).

    Returns:
        The path of ``catalog.json``.
    """
    names = ", ".join(a.name for a in areas[1:])
    catalog = pystac.Catalog(
        id="lcz-map",
        title=title,
        description=f"Local Climate Zone map made {created.isoformat(timespec='seconds')}: "
        f"one item per area ({names} and the city they form), every product an asset.",
    )
    for area in areas:
        catalog.add_item(_area_item(out / area.slug, area, crs, created))
    if model is not None:
        catalog.add_link(
            pystac.Link(
                rel=pystac.RelType.DERIVED_FROM,
                target=str(model),
                media_type="application/octet-stream",
                title=f"Model bundle {Path(model).name}",
            )
        )
    catalog.add_link(
        pystac.Link(
            rel="describedby",
            target="./config.json",
            media_type=_JSON,
            title="Resolved configuration of the run",
        )  # fmt: skip
    )
    catalog.normalize_hrefs(str(out))
    catalog.save(pystac.CatalogType.SELF_CONTAINED, stac_io=_AtomicStacIO())
    return out / CATALOG_JSON


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, doc: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def _relink(doc: dict[str, Any], links: list[dict[str, Any]]) -> None:
    """Put ``links`` in ``doc``, replacing those with the same href (marking twice changes
    nothing)."""
    hrefs = {link["href"] for link in links}
    doc["links"] = [x for x in doc.get("links", []) if x.get("href") not in hrefs] + links


def mark_version(folder: Path, name: str, previous: str | None, records: Sequence[str]) -> None:
    """Name the catalog of a map version being published and link its version records.

    Args:
        folder: the version's folder, holding ``catalog.json`` (nothing is done without one).
        name: the version's name (``v0002``).
        previous: the version its ``changes/`` report compares it with; None when it has none.
        records: files of ``folder`` to link from the catalog (``version.json``, ...), if there.
    """
    path = folder / CATALOG_JSON
    if not path.is_file():
        return
    catalog = _read(path)
    catalog["id"] = f"lcz-map-{name}"
    catalog["title"] = f"LCZ map {name}"
    links = [
        {"rel": "describedby", "href": f"./{r}", "type": _JSON, "title": f"Version record {r}"}
        for r in records
        if (folder / r).is_file()
    ]
    changes: list[dict[str, Any]] = []
    if previous is not None:
        title = f"Changes from {previous} to {name}"
        changes = [
            {"rel": "related", "href": "changes/changes.md", "type": "text/markdown",
             "title": title},
            {"rel": "related", "href": "changes/changes.json", "type": _JSON,
             "title": f"{title} (transition matrices)"},
        ]  # fmt: skip
    _relink(catalog, links + [{**x, "href": f"./{x['href']}"} for x in changes])
    for link in catalog["links"]:
        if link["rel"] == "item" and changes:
            item_path = folder / link["href"]
            item = _read(item_path)
            _relink(item, [{**x, "href": f"../{x['href']}"} for x in changes])
            _write(item_path, item)
    _write(path, catalog)


def write_versions_catalog(root: Path, versions: Sequence[str], latest: str | None) -> Path:
    """Write ``root/catalog.json``: the map versions that have a catalog, as children, and a
    ``latest-version`` link to the one ``latest`` names.

    Call it whenever ``latest`` moves or versions are removed, under the lock of
    ``root/versions`` (:mod:`sunet.operations.versions` does).
    """
    doc: dict[str, Any] = {
        "type": "Catalog",
        "id": "lcz-map-versions",
        "stac_version": pystac.get_stac_version(),
        "title": "LCZ map versions",
        "description": "Every published version of this map, oldest first"
        + (f"; the latest is {latest}." if latest else "."),
        "links": [{"rel": "root", "href": f"./{CATALOG_JSON}", "type": _JSON}],
    }
    for name in versions:
        href = f"./versions/{name}/{CATALOG_JSON}"
        if not (root / href).is_file():
            continue
        doc["links"].append({"rel": "child", "href": href, "type": _JSON, "title": name})
        if name == latest:
            doc["links"].append(
                {"rel": "latest-version", "href": href, "type": _JSON, "title": name}
            )
    _write(root / CATALOG_JSON, doc)
    return root / CATALOG_JSON
