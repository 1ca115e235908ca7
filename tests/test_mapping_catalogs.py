"""The map folder's indexes: ``catalog.json`` (STAC) and ``lcz_map.qgz`` (QGIS project).

Validation runs offline (see ``tests/stac_validation.py``): stac-validator checks every document
against the core STAC schemas shipped in pystac and the extension schemas vendored in
``tests/stac_schemas/``. Opening the project in QGIS itself is the slow test in
``test_mapping_qgis.py``.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pystac
import pystac_client
import pytest
import rasterio
import shapely
from mapping_fixtures import LEFT, TOP, UTM, ColourPredictor, lcz_rgb, split_scene, write_districts
from pyproj import Transformer
from stac_validation import SCHEMAS, validate_offline

from sunet.lcz import CLASSES
from sunet.mapping import MapConfig, map_districts
from sunet.mapping.pipeline import plan_map
from sunet.mapping.products import PRODUCT_FILES
from sunet.mapping.qgis_project import QGIS_PROJECT, write_qgis_project

AREAS = {"city": "City", "old-town": "Old Town", "riverside": "Riverside"}
DISTRICTS = {
    "Old Town": (LEFT + 32, TOP - 480, LEFT + 240, TOP - 32),
    "Riverside": (LEFT + 240, TOP - 480, LEFT + 496, TOP - 200),
}
COG = "image/tiff; application=geotiff; profile=cloud-optimized"


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalogs")
    scene = split_scene(root / "scene.tif", left_code=2, right_code=17)
    districts = write_districts(root / "districts.gpkg", DISTRICTS)
    model = root / "model.safetensors"
    model.write_bytes(b"stands for a bundle: the predictor object is passed directly")
    config = MapConfig(
        model=model, scenes=[scene], districts=districts, out=root / "out", progress=False
    )
    map_districts(config, ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)}))
    return root / "out"


def _catalog(folder: Path) -> pystac.Catalog:
    return pystac.Catalog.from_file(str(folder / "catalog.json"))


def test_catalog_has_an_item_per_area_with_every_product(mapped: Path) -> None:
    catalog = _catalog(mapped)
    items = {item.id: item for item in catalog.get_items()}
    assert {i: item.properties["title"] for i, item in items.items()} == AREAS
    for slug, item in items.items():
        assert Path(item.get_self_href()) == mapped / slug / f"{slug}.json"  # type: ignore[arg-type]
        by_key = {p.key: p for p in PRODUCT_FILES}
        assert set(item.assets) == set(by_key) | {"config"}
        for key, asset in item.assets.items():
            # Relative hrefs that resolve to the product files themselves.
            assert asset.href.startswith(("./", "../")), asset.href
            assert Path(asset.get_absolute_href()).is_file(), asset.href  # type: ignore[arg-type]
            if key != "config":
                product = by_key[key]
                assert (asset.media_type, asset.roles) == (product.media_type, list(product.roles))
        assert item.assets["dominant"].media_type == COG
        assert item.assets["polygons"].media_type == "application/geopackage+sqlite3"
        assert item.assets["dominant_style"].roles == ["style"]
        assert item.assets["quicklook"].roles == ["overview"]
        assert item.assets["config"].roles == ["metadata"]
    # The model bundle the map was made with, as config.json records it.
    (model,) = catalog.get_links(pystac.RelType.DERIVED_FROM)
    assert model.href == str((mapped.parent / "model.safetensors").resolve())


def test_catalog_validates_offline_extension_schemas_included(mapped: Path) -> None:
    messages = validate_offline(mapped / "catalog.json")
    assert len(messages) == 1 + len(AREAS)  # the catalog and every item
    assert all(m["valid_stac"] for m in messages), [m for m in messages if not m["valid_stac"]]
    extensions = {Path(s).name for m in messages for s in m["schema"] if str(SCHEMAS) in s}
    assert extensions == {
        "projection-v2.0.0.json",
        "raster-v1.1.0.json",
        "classification-v2.0.0.json",
    }


def test_validation_rejects_what_an_extension_schema_forbids(mapped: Path, tmp_path: Path) -> None:
    # The classification extension wants colours as six hex digits, without '#'.
    broken = tmp_path / "map"
    shutil.copytree(mapped, broken)
    item = broken / "riverside" / "riverside.json"
    item.write_text(item.read_text().replace('"color_hint": "D10000"', '"color_hint": "#d10000"'))
    messages = validate_offline(broken / "catalog.json")
    (failed,) = [m for m in messages if not m["valid_stac"]]
    assert failed["path"].endswith("riverside.json")
    assert failed["schema"] == [str(SCHEMAS / "classification-v2.0.0.json")]


def test_items_describe_the_rasters_as_they_are(mapped: Path) -> None:
    item = pystac.Item.from_file(str(mapped / "riverside" / "riverside.json"))
    assert item.properties["proj:code"] == UTM
    assert item.datetime is not None and item.datetime == item.common_metadata.created
    for key in ("abundance", "dominant", "uncertainty", "wudapt"):
        asset = item.assets[key]
        with rasterio.open(asset.get_absolute_href()) as ds:
            assert asset.extra_fields["proj:code"] == f"EPSG:{ds.crs.to_epsg()}"
            assert asset.extra_fields["proj:shape"] == [ds.height, ds.width]
            assert asset.extra_fields["proj:transform"] == list(ds.transform)[:6]
            assert asset.extra_fields["proj:bbox"] == list(ds.bounds)
            bands = asset.extra_fields["raster:bands"]
            assert [b["data_type"] for b in bands] == list(ds.dtypes)
            assert [b["nodata"] for b in bands] == list(ds.nodatavals)
            assert [b["scale"] for b in bands] == list(ds.scales)
    assert item.assets["wudapt"].extra_fields["proj:code"] == "EPSG:4326"
    # Abundance bands are named by class; the class rasters carry the 17 LCZ and nodata.
    abundance = item.assets["abundance"].extra_fields["bands"]
    assert [b["name"] for b in abundance] == [c.column for c in CLASSES]
    assert abundance[16]["description"].startswith("Abundance of LCZ G Water")
    for key in ("dominant", "wudapt"):
        classes = item.assets[key].extra_fields["raster:bands"][0]["classification:classes"]
        assert classes[0] == {"value": 0, "name": "nodata", "title": "No data", "nodata": True}
        assert [(c["value"], c["title"], c["color_hint"]) for c in classes[1:]] == [
            (c.code, c.label, c.colour.lstrip("#").upper()) for c in CLASSES
        ]
        assert all(c["description"] for c in classes[1:])


def test_item_geometry_is_the_district_in_lonlat(mapped: Path) -> None:
    item = pystac.Item.from_file(str(mapped / "riverside" / "riverside.json"))
    to_lonlat = Transformer.from_crs(UTM, 4326, always_xy=True)
    left, bottom, right, top = DISTRICTS["Riverside"]
    corners = [to_lonlat.transform(x, y) for x, y in ((left, bottom), (right, top))]
    footprint = shapely.geometry.shape(item.geometry)
    assert footprint.bounds == pytest.approx(tuple(item.bbox), abs=1e-12)  # type: ignore[arg-type]
    for lon, lat in corners:
        assert footprint.distance(shapely.Point(lon, lat)) < 1e-9
    city = pystac.Item.from_file(str(mapped / "city" / "city.json"))
    assert shapely.geometry.shape(city.geometry).contains(footprint.buffer(-1e-6))


# A static catalog advertises no API conformance: pystac-client says so and walks it with pystac.
@pytest.mark.filterwarnings("ignore::pystac_client.warnings.NoConformsTo")
@pytest.mark.filterwarnings("ignore::pystac_client.warnings.FallbackToPystac")
def test_moved_folder_reads_with_pystac_client(mapped: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "map"
    shutil.copytree(mapped, moved)
    client = pystac_client.Client.open(str(moved / "catalog.json"))
    items = {item.id: item for item in client.get_all_items()}
    assert set(items) == set(AREAS)
    href = items["old-town"].assets["dominant"].get_absolute_href()
    assert href == str(moved / "old-town" / "lcz_dominant.tif")
    with rasterio.open(href) as ds:
        assert ds.read(1).max() > 0


def _project(path: Path) -> ET.Element:
    with zipfile.ZipFile(path) as archive:
        (name,) = archive.namelist()
        assert name == "lcz_map.qgs"
        text = archive.read(name).decode("utf-8")
    return ET.fromstring(text.split("\n", 1)[1])


def test_qgis_project_groups_styled_layers_by_relative_path(mapped: Path) -> None:
    project = _project(mapped / QGIS_PROJECT)
    groups = project.findall("layer-tree-group/layer-tree-group")
    assert [g.get("name") for g in groups] == list(AREAS.values())
    assert [g.get("checked") for g in groups] == ["Qt::Checked"] + ["Qt::Unchecked"] * 2
    assert project.findtext("properties/Paths/Absolute") == "false"
    layers = project.findall("projectlayers/maplayer")
    assert len(layers) == 6 * len(AREAS)  # 4 rasters and 2 GeoPackage layers per area
    ids = [layer.findtext("id") for layer in layers]
    assert len(set(ids)) == len(ids)
    tree_ids = [x.get("id") for g in groups for x in g.findall("layer-tree-layer")]
    assert sorted(tree_ids) == sorted(ids)  # type: ignore[type-var]
    for layer in layers:
        source = layer.findtext("datasource") or ""
        assert source.startswith("./"), source
        assert (mapped / source.split("|")[0]).is_file()
        renderer = layer.find("pipe/rasterrenderer")
        if renderer is None:
            renderer = layer.find("renderer-v2")
        assert renderer is not None, source
        assert layer.find("srs/spatialrefsys/wkt") is not None
    # The abundances switch between one named style per class, the area's top class first;
    # QGIS keeps the current style in the layer itself and each other one in its entry.
    (abundance,) = [
        x for x in layers if x.findtext("datasource") == "./riverside/lcz_abundance.tif"
    ]
    manager = abundance.find("map-layer-style-manager")
    assert manager is not None and manager.get("current") == "LCZ G Water"
    styles = manager.findall("map-layer-style")
    assert [s.get("name") for s in styles] == [c.label for c in CLASSES]
    bands = [s.find("qgis/pipe/rasterrenderer") for s in styles]
    assert [b.get("band") if b is not None else None for b in bands] == [
        str(c.code) for c in CLASSES[:-1]
    ] + [None]
    assert abundance.find("pipe/rasterrenderer").get("band") == "17"  # type: ignore[union-attr]


def test_qgis_project_is_the_same_when_written_again(mapped: Path) -> None:
    before = (mapped / QGIS_PROJECT).read_bytes()
    record = json.loads((mapped / "config.json").read_text(encoding="utf-8"))
    plan = plan_map(MapConfig(**record["config"]), ColourPredictor({2: lcz_rgb(2)}))
    write_qgis_project(mapped, plan.areas(), plan.city.crs)
    assert (mapped / QGIS_PROJECT).read_bytes() == before
