"""``generate_city``: plan, render and write a whole synthetic city, atomically.

Output folder (replaced as a whole, never left half-written)::

    DIR/scenes/scene_RRR_CCC.tif   3-band RGB, EPSG:3857, tiled 256 (default look: uint8,
                                   DEFLATE, nodata 0; other looks: see sunet.synth.scenes)
    DIR/labels.gpkg                layer "labels", field "lcz" ('1'..'10', 'A'..'G'), EPSG:4326
    DIR/districts.gpkg             layer "districts", field "name", EPSG:4326
    DIR/truth/surface.tif          true building / impervious / pervious fractions and heights
                                   per cell, EPSG:32650 (see sunet.synth.truth; unless --no-truth)
    DIR/preview.png                mosaic beside labels, LCZ palette, legend
    DIR/city.json                  resolved config + manifest (scenes, class areas, census)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from rasterio.warp import transform_bounds

from sunet.atomic import atomic_dir
from sunet.lcz import CLASSES, parse_lcz_values
from sunet.synth.annotations import district_polygons, label_polygons
from sunet.synth.canvas import Surfaces
from sunet.synth.census import patch_census
from sunet.synth.config import IMAGE_CRS, LABEL_CRS, LAYOUT_CRS, Mosaic, SceneTile, SynthConfig
from sunet.synth.layout import build_layout
from sunet.synth.looks import RANDOM, Look, apply_look, get_look, random_look
from sunet.synth.preview import Thumbnail, write_preview
from sunet.synth.render import render_scene
from sunet.synth.scenes import scene_look, scene_nodata, sense, write_scene
from sunet.synth.truth import SURFACE_TIF, TruthAccumulator, taken_pixels

__all__ = ["CityManifest", "SceneRecord", "generate_city"]

MANIFEST = "city.json"


class SceneRecord(BaseModel):
    """One written scene."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="File stem, scene_RRR_CCC.")
    path: str = Field(description="Path relative to the city folder.")
    row: int = Field(description="Row of the scene grid (0 = north).")
    col: int = Field(description="Column of the scene grid (0 = west).")
    bounds: tuple[float, float, float, float] = Field(
        description="(left, bottom, right, top) in EPSG:3857 metres."
    )
    lonlat_bounds: tuple[float, float, float, float] = Field(
        description="(west, south, east, north) in degrees."
    )
    nodata_share: float = Field(description="Share of nodata pixels (ragged outer borders).")
    sun_azimuth_deg: float = Field(description="Direction to the sun, clockwise from north.")
    sun_elevation_deg: float = Field(description="Sun elevation; shadows are h / tan(elevation).")
    view_off_nadir_deg: float = Field(description="Off-nadir angle of the view (facades).")
    look: str = Field(default="default", description="The look the scene was rendered in.")
    gsd_m: float = Field(default=1.0, description="Ground pixel of the written scene, m.")


class CityManifest(BaseModel):
    """What ``generate_city`` wrote (saved as ``city.json``)."""

    model_config = ConfigDict(extra="forbid")

    config: SynthConfig = Field(description="The resolved configuration.")
    looks: dict[str, Look] = Field(
        default_factory=dict, description="Every look used, in full, by name."
    )
    image_crs: str = Field(description="CRS of the scenes.")
    label_crs: str = Field(description="CRS of labels.gpkg and districts.gpkg.")
    plan_crs: str = Field(description="Metric CRS the city was planned in (its UTM zone).")
    pixel_size: float = Field(description="Scene pixel size in image CRS units.")
    mosaic_bounds: tuple[float, float, float, float] = Field(description="Mosaic bounds, 3857.")
    mosaic_lonlat_bounds: tuple[float, float, float, float] = Field(description="Same, degrees.")
    scenes: list[SceneRecord] = Field(description="The scenes, row by row.")
    labels: str = Field(description="Label GeoPackage (layer 'labels', field 'lcz').")
    districts: str = Field(description="District GeoPackage (layer 'districts', field 'name').")
    district_names: list[str] = Field(description="District names.")
    label_polygons: int = Field(description="Number of label polygons.")
    class_area_m2: dict[str, float] = Field(description="Labelled area per class letter, m2.")
    unlabelled_share: float = Field(description="Share of the imaged area left unlabelled.")
    census: dict[str, object] = Field(
        description="Pure/mixed 256 m patches of the labels (see sunet.synth.census)."
    )
    truth: str | None = Field(
        default=None,
        description="True surface fractions and heights per cell (see sunet.synth.truth), "
        "None when generated without.",
    )


def scene_looks(config: SynthConfig, mosaic: Mosaic) -> list[Look]:
    """The look of every scene, in tile order: with several looks, the scenes are shared out
    evenly in a seeded random order; ``random`` draws a new look for each scene it gets."""
    specs = config.looks
    if len(specs) == 1:
        chosen = [specs[0]] * len(mosaic.tiles)
    else:
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x100C]))
        chosen = [specs[int(k) % len(specs)] for k in rng.permutation(len(mosaic.tiles))]
    fixed = {spec: get_look(spec) for spec in set(chosen) if spec != RANDOM}
    looks = []
    for tile, spec in zip(mosaic.tiles, chosen, strict=True):
        if spec == RANDOM:
            rng = np.random.default_rng(
                np.random.SeedSequence([config.seed, 0x4A4D, tile.row, tile.col])
            )
            looks.append(random_look(rng, name=f"random-{tile.row:03d}-{tile.col:03d}"))
        else:
            looks.append(fixed[spec])
    return looks


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise ValueError(
            f"{out}: folder is not empty and holds no synthetic city ({MANIFEST}); "
            "choose a new or empty --out"
        )


def _write_gpkg(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    # GeoPackage 1.3 so that QGIS 3.22 opens it without a version warning.
    frame.to_file(
        path, layer=layer, driver="GPKG", engine="pyogrio", dataset_options={"VERSION": "1.3"}
    )


def generate_city(
    config: SynthConfig, out_dir: str | Path, progress: Callable[[str], None] | None = None
) -> CityManifest:
    """Generate the synthetic city described by ``config`` into ``out_dir``.

    The folder is written under a temporary name and renamed into place when complete; an
    existing city there is replaced, any other non-empty folder is refused.

    Raises:
        ValueError: if ``out_dir`` is a file or a non-empty folder that holds no city.
    """
    out = Path(out_dir)
    _check_out_dir(out)
    say = progress or (lambda _msg: None)
    cfg = config.resolved()
    plan = build_layout(cfg)
    mosaic = plan.mosaic
    say(f"planned {len(plan.zones)} zones, {len(plan.roads)} roads")

    factor = max(1, math.ceil(max(mosaic.width, mosaic.height) / cfg.preview_px))
    thumb = Thumbnail(mosaic.height, mosaic.width, factor, mosaic.transform)
    records: list[SceneRecord] = []
    looks = scene_looks(cfg, mosaic)
    looked = {look.name: apply_look(plan, look) for look in looks}
    assert cfg.truth_cell_m is not None
    truth = TruthAccumulator(plan, cfg.truth_cell_m) if cfg.truth else None

    def nodata_of(tile: SceneTile) -> np.ndarray:
        return scene_nodata(mosaic, tile, cfg.seed, cfg.nodata_edges)

    with atomic_dir(out) as tmp:
        (tmp / "scenes").mkdir()
        for i, (tile, look) in enumerate(zip(mosaic.tiles, looks, strict=True)):
            acquisition = scene_look(cfg.seed, tile, look)
            surfaces = None if truth is None else Surfaces.empty(tile.size, tile.size)
            image = render_scene(looked[look.name], acquisition, tile, surfaces)
            nodata = nodata_of(tile)
            image[:, nodata] = 0
            if truth is not None and surfaces is not None:
                truth.add_scene(tile, surfaces, taken_pixels(mosaic, tile, nodata, nodata_of))
            sensed = sense(image, ~nodata, mosaic, tile, look, cfg.seed)
            write_scene(tmp / "scenes" / f"{tile.name}.tif", sensed, acquisition, look)
            thumb.add(image, tile.row0, tile.col0)
            bounds = mosaic.tile_bounds(tile)
            records.append(
                SceneRecord(
                    name=tile.name,
                    path=f"scenes/{tile.name}.tif",
                    row=tile.row,
                    col=tile.col,
                    bounds=bounds,
                    lonlat_bounds=transform_bounds(IMAGE_CRS, LABEL_CRS, *bounds),
                    nodata_share=round(float(nodata.mean()), 5),
                    sun_azimuth_deg=round(acquisition.sun_azimuth, 2),
                    sun_elevation_deg=round(acquisition.sun_elevation, 2),
                    view_off_nadir_deg=round(acquisition.view_off_nadir, 2),
                    look=look.name,
                    gsd_m=sensed.gsd_m,
                )
            )
            say(f"scene {i + 1}/{len(mosaic.tiles)} {tile.name}")

        if truth is not None:
            truth.count_lattice()
            truth.write(tmp / SURFACE_TIF)
            say(f"wrote {SURFACE_TIF}")
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x1AB3]))
        labels = label_polygons(plan, rng)
        districts = district_polygons(plan)
        _write_gpkg(labels.to_crs(LABEL_CRS), tmp / "labels.gpkg", "labels")
        _write_gpkg(districts.to_crs(LABEL_CRS), tmp / "districts.gpkg", "districts")

        codes = parse_lcz_values(labels["lcz"], source="labels")
        census = patch_census(labels.geometry.values, codes, plan.footprint)
        areas = labels.geometry.area
        class_area = {
            c.letter: round(float(areas[labels["lcz"] == c.letter].sum()), 1) for c in CLASSES
        }
        footprint_area = float(plan.footprint.area)
        write_preview(
            tmp / "preview.png",
            thumb,
            labels.to_crs(IMAGE_CRS),
            districts.to_crs(IMAGE_CRS),
            f"Synthetic city, seed {cfg.seed}: {len(mosaic.tiles)} scenes of {cfg.size_px} px"
            + ("" if cfg.looks == ["default"] else f", look {' + '.join(cfg.looks)}"),
        )
        manifest = CityManifest(
            config=cfg,
            looks={look.name: look for look in looks},
            image_crs=IMAGE_CRS,
            label_crs=LABEL_CRS,
            plan_crs=LAYOUT_CRS,
            pixel_size=mosaic.pixel,
            mosaic_bounds=mosaic.bounds,
            mosaic_lonlat_bounds=mosaic.lonlat_bounds,
            scenes=records,
            labels="labels.gpkg",
            districts="districts.gpkg",
            district_names=[str(n) for n in districts["name"]],
            label_polygons=len(labels),
            class_area_m2=class_area,
            unlabelled_share=round(max(0.0, 1.0 - float(areas.sum()) / footprint_area), 5),
            census=census,
            truth=SURFACE_TIF if truth is not None else None,
        )
        (tmp / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    say(f"wrote {out}")
    return manifest
