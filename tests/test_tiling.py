"""Tiling end to end: geometry, abundances, de-duplication, splits, reruns and the store layout."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
import zarr
from pyproj import CRS, Transformer
from shapely.geometry import Polygon, box
from shapely.ops import unary_union

from sunet.geo.grid import PatchGrid, window_transform
from sunet.geo.raster import Radiometry
from sunet.lcz import abundance_columns, by_code
from sunet.patch_store import PatchStore
from sunet.tiling import TileConfig, plan_tiling, tile, tile_scene

UTM50N = CRS.from_epsg(32650)
WUHAN = (114.30, 30.59)


def _utm(lon: float, lat: float) -> tuple[float, float]:
    return Transformer.from_crs(4326, UTM50N, always_xy=True).transform(lon, lat)


def _read_store(out: Path) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    index = gpd.read_parquet(out / "index.parquet")
    images = xr.open_zarr(out / "patches.zarr", consolidated=False)["image"].values
    return index, images


def _cover_labels(
    write_labels: Callable[..., Path], path: Path, around: tuple[float, float], half: float
) -> Path:
    """Four quadrant polygons (LCZ 2, 6, A, G) around a UTM point, written in EPSG:4326."""
    x, y = around
    quads = [box(x - half, y, x, y + half), box(x, y, x + half, y + half),
             box(x - half, y - half, x, y), box(x, y - half, x + half, y)]  # fmt: skip
    frame = gpd.GeoSeries(quads, crs=UTM50N).to_crs(4326)
    return write_labels(path, list(frame), ["2", "6", "A", "G"], crs=4326)


@pytest.fixture
def city(
    tmp_path: Path, scene_at: Callable[..., Path], write_labels: Callable[..., Path]
) -> dict[str, Path]:
    """Two overlapping scenes (EPSG:3857 west, EPSG:4326 east) and four label quadrants."""
    a = scene_at(
        tmp_path / "scenes" / "west.tif", crs=3857, centre_lonlat=WUHAN, size_px=300, seed=1
    )
    b = scene_at(tmp_path / "scenes" / "east.tif", crs=4326, centre_lonlat=(WUHAN[0] + 0.0015, WUHAN[1]),
                 size_px=300, seed=2)  # fmt: skip
    labels = _cover_labels(
        write_labels, tmp_path / "labels.gpkg", _utm(WUHAN[0] + 0.00075, WUHAN[1]), 200.0
    )
    return {"west": a, "east": b, "labels": labels, "root": tmp_path}


def _config(city: dict[str, Path], out: Path, **kw: object) -> TileConfig:
    options: dict[str, object] = {"patch": 32, "block": 2, "min_labelled": 0.5}
    options.update(kw)
    return TileConfig(scenes=[city["root"] / "scenes"], labels=city["labels"], out=out, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("crs", [3857, 4326])
def test_marker_lands_in_the_expected_patch_and_pixel(
    tmp_path: Path, scene_at: Callable[..., Path], write_labels: Callable[..., Path], crs: int
) -> None:
    path = scene_at(tmp_path / "s" / "scene.tif", crs=crs, centre_lonlat=WUHAN, size_px=200, seed=4)
    marker = (WUHAN[0] + 0.0002, WUHAN[1] - 0.0001)
    with rasterio.open(path, "r+") as ds:
        x, y = Transformer.from_crs(4326, ds.crs, always_xy=True).transform(*marker)
        r, c = ds.index(x, y)
        data = ds.read()
        data[:, r - 1 : r + 2, c - 1 : c + 2] = 255
        ds.write(data)
    labels = _cover_labels(write_labels, tmp_path / "l.gpkg", _utm(*WUHAN), 150.0)
    out = tmp_path / "out"
    tile(TileConfig(scenes=[path], labels=labels, out=out, patch=32, crs="auto"))
    index, images = _read_store(out)
    grid = PatchGrid(UTM50N, 1.0, 32)
    ux, uy = _utm(*marker)
    row, col = grid.cell_of(ux, uy)
    hit = index[index["patch_id"] == f"r{row}_c{col}"]
    assert len(hit) == 1
    left, _, _, top = grid.cell_bounds(row, col)
    expected = (int(top - uy), int(ux - left))
    image = images[int(hit["store_index"].iloc[0])].astype(int).sum(axis=0)
    peak = np.unravel_index(np.argmax(image), image.shape)
    assert abs(peak[0] - expected[0]) <= 1 and abs(peak[1] - expected[1]) <= 1
    assert index.crs == UTM50N


def test_abundances_equal_polygon_area_shares(
    tmp_path: Path, write_scene: Callable[..., Path], write_labels: Callable[..., Path],
    make_texture: Callable[..., np.ndarray],
) -> None:  # fmt: skip
    # A UTM scene of 0.2 m pixels covering 3x3 cells of 25.6 m, aligned to nothing in particular.
    grid = PatchGrid(UTM50N, gsd=0.2, patch=128)
    x0, y0 = 230_003.3, 3_380_011.7
    transform = window_transform(x0, y0, 0.2)
    scene = write_scene(tmp_path / "s.tif", crs=UTM50N, transform=transform, data=make_texture(420))
    big = box(x0, y0 - 84, x0 + 84, y0)  # LCZ D background over everything
    small = Polygon(
        [(x0 + 20, y0 - 10), (x0 + 61, y0 - 22), (x0 + 47, y0 - 70), (x0 + 12, y0 - 51)]
    )
    tri = Polygon([(x0 + 30, y0 - 30), (x0 + 80, y0 - 40), (x0 + 50, y0 - 80)])  # overlaps small
    labels = write_labels(tmp_path / "l.gpkg", [big, small, tri], ["D", "LCZ 1", "E"])
    out = tmp_path / "out"
    tile(TileConfig(scenes=[scene], labels=labels, out=out, gsd=0.2, patch=128, min_labelled=0.5))
    index, _ = _read_store(out)
    assert len(index) >= 4
    # Where labels overlap the smaller polygon wins: each class owns its polygon minus all
    # smaller ones.
    polygons = {"lcz_D": big, "lcz_1": small, "lcz_E": tri}
    regions = {
        k: g.difference(unary_union([h for h in polygons.values() if h.area < g.area]))
        for k, g in polygons.items()
    }
    for _, patch in index.iterrows():
        cell = box(*grid.cell_bounds(int(patch["row"]), int(patch["col"])))
        areas = {k: g.intersection(cell).area for k, g in regions.items()}
        total = sum(areas.values())
        for column in abundance_columns():
            expected = areas.get(column, 0.0) / total
            assert abs(float(patch[column]) - expected) < 1e-3, (patch["patch_id"], column)
        assert abs(float(patch["labelled"]) - total / cell.area) < 1e-3


def test_store_layout_follows_the_design(city: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = tile(_config(city, out))
    index, images = _read_store(out)
    assert list(index.columns[:12]) == ["patch_id", "row", "col", "store_index", "scene", "split",
                                        "kind", "dominant", "purity", "labelled", "nodata", "block"]  # fmt: skip
    assert [c for c in index.columns if c.startswith("lcz_")] == abundance_columns()
    assert index["store_index"].tolist() == list(range(len(index)))
    assert images.shape == (len(index), 3, 32, 32) and images.dtype == np.uint8
    shares = index[abundance_columns()].to_numpy()
    assert shares.dtype == np.float32 and np.allclose(shares.sum(axis=1), 1.0, atol=1e-5)
    assert set(index["kind"]) <= {"pure", "mixed"} and (index["kind"] == "pure").any()
    assert ((index["purity"] >= 0.95) == (index["kind"] == "pure")).all()
    assert set(index["dominant"]) == {by_code(c).code for c in (2, 6, 11, 17)}
    group = zarr.open_group(str(out / "patches.zarr"), mode="r")
    assert group["image"].chunks == (1, 3, 32, 32)
    assert dict(group.attrs)["crs"] == "EPSG:32650" and dict(group.attrs)["patch_size"] == 32
    assert (out / "report.json").is_file() and (out / "config.json").is_file()
    saved = TileConfig.model_validate_json((out / "config.json").read_text())
    assert saved.crs == "EPSG:32650" and len(saved.scenes) == 2  # resolved, not 'auto' / a folder
    assert report.patches == len(index)
    assert sum(report.by_split.values()) == len(index)
    assert report.dropped["unlabelled"] > 0  # cells of the scenes outside the labels


def test_overlapping_scenes_give_each_cell_once_from_the_best_scene(
    city: dict[str, Path], tmp_path: Path
) -> None:
    report = tile(_config(city, tmp_path / "out", max_nodata=0.5))
    index, _ = _read_store(tmp_path / "out")
    assert index["patch_id"].is_unique
    assert not index.geometry.duplicated().any()
    assert report.duplicates_resolved > 0 and set(index["scene"]) == {"west", "east"}
    # Each patch comes from the scene with the most valid pixels in its cell.
    plan = plan_tiling(_config(city, tmp_path / "out", max_nodata=0.5))
    valid: dict[tuple[str, tuple[int, int]], int] = {}
    for job in plan.jobs:
        meta = tile_scene(job).meta()
        for (r, c), v in zip(meta["cells"].tolist(), meta["valid"], strict=True):
            valid[(job.scene.name, (r, c))] = int(v)
    for _, patch in index.iterrows():
        cell = (int(patch["row"]), int(patch["col"]))
        mine = valid[(patch["scene"], cell)]
        other = valid.get(("east" if patch["scene"] == "west" else "west", cell), -1)
        assert mine > other or (mine == other and patch["scene"] == "east")  # tie: by name


def test_blocks_never_straddle_splits(city: dict[str, Path], tmp_path: Path) -> None:
    tile(_config(city, tmp_path / "out", block=2))
    index, _ = _read_store(tmp_path / "out")
    assert set(index["split"]) == {"train", "val", "test"}
    assert (index.groupby("block")["split"].nunique() == 1).all()
    expected_block = index.groupby([index["row"] // 2, index["col"] // 2])["block"].nunique()
    assert (expected_block == 1).all()
    # Neighbouring cells in different splits are always in different blocks.
    by_cell = {
        (r, c): (s, b)
        for r, c, s, b in zip(
            index["row"], index["col"], index["split"], index["block"], strict=True
        )
    }
    for (r, c), (split, block) in by_cell.items():
        for nb in ((r + 1, c), (r, c + 1)):
            if nb in by_cell and by_cell[nb][0] != split:
                assert by_cell[nb][1] != block


def test_same_inputs_give_identical_stores_and_reruns_skip_done_scenes(
    city: dict[str, Path], tmp_path: Path
) -> None:
    first = tile(_config(city, tmp_path / "a"))
    second = tile(_config(city, tmp_path / "b"))
    assert first.scenes_reused == 0 and second.scenes_reused == 0
    index_a, images_a = _read_store(tmp_path / "a")
    index_b, images_b = _read_store(tmp_path / "b")
    pd.testing.assert_frame_equal(pd.DataFrame(index_a), pd.DataFrame(index_b))
    np.testing.assert_array_equal(images_a, images_b)
    cache = sorted(p.name for p in (tmp_path / "a" / ".cache").iterdir())
    rerun = tile(_config(city, tmp_path / "a"))
    assert rerun.scenes_reused == 2
    assert sorted(p.name for p in (tmp_path / "a" / ".cache").iterdir()) == cache
    index_c, images_c = _read_store(tmp_path / "a")
    pd.testing.assert_frame_equal(pd.DataFrame(index_a), pd.DataFrame(index_c))
    np.testing.assert_array_equal(images_a, images_c)
    # Touching one scene's bytes recomputes that scene only.
    with rasterio.open(city["east"], "r+") as ds:
        ds.update_tags(note="changed")
    assert tile(_config(city, tmp_path / "a")).scenes_reused == 1
    # Parallel threads give the same store as one thread.
    tile(_config(city, tmp_path / "p", workers=2))
    index_p, images_p = _read_store(tmp_path / "p")
    pd.testing.assert_frame_equal(pd.DataFrame(index_a), pd.DataFrame(index_p))
    np.testing.assert_array_equal(images_a, images_p)


def test_a_failed_run_leaves_no_store_that_looks_complete(
    city: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    tile(_config(city, out))
    assert (out / "index.parquet").is_file()

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_zarr", broken)
    with pytest.raises(OSError, match="disk full"):
        tile(_config(city, out, seed=1))
    assert not (out / "index.parquet").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]


def test_sampling_caps_each_kind_after_splitting(city: dict[str, Path], tmp_path: Path) -> None:
    full = tile(_config(city, tmp_path / "full"))
    pure = sum(full.by_kind["pure"].values())
    mixed = sum(full.by_kind["mixed"].values())
    assert pure > 4 and mixed > 4
    report = tile(_config(city, tmp_path / "s", sample_pure=4, sample_mixed=mixed))
    index, images = _read_store(tmp_path / "s")
    assert (index["kind"] == "pure").sum() == 4 and (index["kind"] == "mixed").sum() == mixed
    assert report.dropped["sampled_out"] == pure - 4
    assert len(images) == len(index)


def test_scene_jobs_survive_pickling(city: dict[str, Path], tmp_path: Path) -> None:
    plan = plan_tiling(_config(city, tmp_path / "out"))
    job = plan.jobs[0]
    copy = pickle.loads(pickle.dumps(job))
    assert copy.key == job.key and len(copy.labels) == len(job.labels)
    result = tile_scene(copy)
    assert not result.reused and tile_scene(job).reused
    assert len(result.meta()["cells"]) == len(job.cells) > 0


def test_any_dtype_and_band_order_is_tiled_to_uint8(
    tmp_path: Path, write_scene: Callable[..., Path], write_labels: Callable[..., Path]
) -> None:
    # A 4-band uint16 scene: band b holds the constant 1000 * b, with a ramp so it can stretch.
    ramp = np.tile(np.linspace(0, 400, 128, dtype=np.float64), (128, 1))
    data = np.stack([1000 * b + ramp for b in (1, 2, 3, 4)]).astype(np.uint16)
    x0, y0 = 230_016.0, 3_380_096.0  # on the 64 m grid: exactly 2 x 2 cells
    scene = write_scene(
        tmp_path / "u16.tif", crs=UTM50N, transform=window_transform(x0, y0, 1.0), data=data
    )
    labels = write_labels(tmp_path / "l.gpkg", [box(x0, y0 - 128, x0 + 128, y0)], ["C"])
    out = tmp_path / "out"
    tile(TileConfig(scenes=[scene], labels=labels, out=out, patch=64, bands=[4, 1, 2],
                    scale_range=(0.0, 5000.0)))  # fmt: skip
    index, images = _read_store(out)
    assert len(index) == 4 and images.dtype == np.uint8
    # Fixed range 0-5000 -> 0-255: band 4 (~4000-4400) > band 2 (~2000-2400) > band 1.
    means = images.reshape(4, 3, -1).mean(axis=(0, 2))
    assert np.allclose(means, [(4200) * 255 / 5000, 1200 * 255 / 5000, 2200 * 255 / 5000], atol=2)
    assert zarr.open_group(str(out / "patches.zarr"), mode="r").attrs["source_bands"] == [4, 1, 2]


def test_every_scene_stretched_is_recorded_for_mapping(
    city: dict[str, Path], tmp_path: Path
) -> None:
    tile(_config(city, tmp_path / "native", stretch="non-uint8"))
    tile(_config(city, tmp_path / "stretched"))  # the default
    native, stretched = PatchStore(tmp_path / "native"), PatchStore(tmp_path / "stretched")
    assert native.radiometry == Radiometry()
    assert stretched.radiometry == Radiometry(stretch="all")
    a, b = native.read(np.arange(len(native.index))), stretched.read(np.arange(len(native.index)))
    assert not np.array_equal(a, b)
    # A stretched patch spans the scene's 2-98 percentile range: wider than the raw one.
    assert np.percentile(b, 99) - np.percentile(b, 1) > np.percentile(a, 99) - np.percentile(a, 1)


def test_a_scene_no_label_reaches_is_tiled_as_empty(
    city: dict[str, Path], tmp_path: Path, scene_at: Callable[..., Path]
) -> None:
    """Sparse labels (a few polygons of a new city) leave most scenes without any."""
    scene_at(city["root"] / "scenes" / "far.tif", crs=3857, centre_lonlat=(WUHAN[0] + 0.03, WUHAN[1]),
             size_px=300, seed=3)  # fmt: skip
    report = tile(_config(city, tmp_path / "out"))
    assert report.scenes == 3 and report.patches_per_scene["far"] == 0
    assert report.patches > 0


def test_the_alpha_band_as_image_data_is_refused_while_planning(
    tmp_path: Path, write_scene: Callable[..., Path], make_texture: Callable[..., np.ndarray]
) -> None:
    from affine import Affine

    from sunet.tiling.pipeline import plan_tiling

    rgba = np.concatenate([make_texture(64), np.full((1, 64, 64), 255, np.uint8)])
    scene = write_scene(tmp_path / "rgba.tif", crs=UTM50N, data=rgba, photometric="RGB",
                        alpha="YES", transform=Affine(1.0, 0, 240_000, 0, -1.0, 3_390_000))  # fmt: skip
    labels = tmp_path / "labels.gpkg"
    gpd.GeoDataFrame({"lcz": ["2"]}, geometry=[box(240_000, 3_389_936, 240_064, 3_390_000)],
                     crs=UTM50N).to_file(labels, driver="GPKG")  # fmt: skip
    config = TileConfig(
        scenes=[scene], labels=labels, out=tmp_path / "p", patch=32, bands=[1, 2, 4]
    )
    with pytest.raises(ValueError, match="rgba.tif: band 4 is the alpha band"):
        plan_tiling(config)  # before any scene is tiled


def test_cached_images_are_read_into_their_rows_and_a_short_file_is_named(tmp_path: Path) -> None:
    from sunet.tiling.scene import SceneCache

    images = np.arange(3 * 2 * 4 * 4, dtype=np.uint8).reshape(3, 2, 4, 4)
    (tmp_path / "images.bin").write_bytes(images.tobytes())
    cache = SceneCache(tmp_path, "scene", reused=True)
    out = np.zeros((4, 2, 4, 4), dtype=np.uint8)
    cache.read_images([2, 0], out, [3, 1])
    assert np.array_equal(out[3], images[2]) and np.array_equal(out[1], images[0])
    assert not out[0].any() and not out[2].any()
    with pytest.raises(ValueError, match=r"images.bin: slot 3 is past the end of the file"):
        cache.read_images([3], out, [0])
