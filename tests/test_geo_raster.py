"""Scene reading: validation, reprojected window reads, nodata handling and uint8 scaling."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pytest
import rasterio
from affine import Affine
from earth_exports import write_jpeg_export, write_png_export, write_vrt_mosaic
from pyproj import CRS, Transformer
from rasterio.enums import ColorInterp
from rasterio.warp import transform_bounds
from shapely.geometry import Point

from sunet.geo.crs import to_rasterio
from sunet.geo.grid import PatchGrid, window_transform
from sunet.geo.raster import (
    Radiometry,
    inspect_scene,
    open_scene,
    read_reprojected,
    scene_footprint,
)

UTM50N = CRS.from_epsg(32650)
WUHAN_LONLAT = (114.30, 30.59)
MARKER_LONLAT = (114.3003, 30.5898)


def _utm(lon: float, lat: float) -> tuple[float, float]:
    return Transformer.from_crs(4326, UTM50N, always_xy=True).transform(lon, lat)


@pytest.mark.parametrize("crs", [3857, 4326])
def test_marker_lands_on_the_expected_utm_pixel(
    tmp_path: Path, scene_at: Callable[..., Path], crs: int
) -> None:
    path = scene_at(tmp_path / "s.tif", crs=crs, size_px=200, ground_m=1.0, seed=3)
    # Paint a 3x3 marker around the pixel containing MARKER_LONLAT, in the scene's own CRS.
    with rasterio.open(path, "r+") as ds:
        x, y = Transformer.from_crs(4326, ds.crs, always_xy=True).transform(*MARKER_LONLAT)
        r, c = ds.index(x, y)
        data = ds.read()
        data[:, r - 1 : r + 2, c - 1 : c + 2] = 255
        ds.write(data)
    info = inspect_scene(path)
    ux, uy = _utm(*MARKER_LONLAT)
    left, top = np.floor(ux) - 20.0, np.ceil(uy) + 20.0
    image, valid = read_reprojected(info, UTM50N, window_transform(left, top, 1.0), 40, 40)
    assert valid.all()
    peak = np.unravel_index(np.argmax(image.astype(int).sum(axis=0)), (40, 40))
    expected = (int(top - uy), int(ux - left))
    assert abs(peak[0] - expected[0]) <= 1 and abs(peak[1] - expected[1]) <= 1


def test_nodata_never_reads_as_data(
    tmp_path: Path, scene_at: Callable[..., Path], make_texture: Callable[..., np.ndarray]
) -> None:
    data = make_texture(128)
    data[:, :, :64] = 0  # west half is nodata
    data[:, 100:, 100:] = 0
    data[0, 100:, 100:] = 1  # a dark but valid corner: not all bands equal nodata
    info = inspect_scene(scene_at(tmp_path / "s.tif", crs=32650, size_px=128, data=data, nodata=0))
    b = info.bounds
    image, valid = read_reprojected(info, UTM50N, window_transform(b[0] - 10, b[3], 1.0), 138, 128)
    assert not valid[:, :74].any()  # 10 px outside the scene + 64 px nodata
    assert valid[:, 76:].all()
    assert (image[:, ~valid] == 0).all()


def test_alpha_band_and_internal_mask_decide_validity(
    tmp_path: Path, write_scene: Callable[..., Path], make_texture: Callable[..., np.ndarray]
) -> None:
    t = window_transform(500_000.0, 3_400_000.0, 1.0)
    rgba = np.concatenate([make_texture(64), np.full((1, 64, 64), 255, np.uint8)])
    rgba[3, :32] = 0
    path = write_scene(
        tmp_path / "a.tif", crs=UTM50N, transform=t, data=rgba, photometric="RGB", alpha="YES"
    )
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    image, valid = read_reprojected(inspect_scene(path), UTM50N, t, 64, 64)
    assert not valid[:32].any() and valid[32:].all()

    masked = tmp_path / "m.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write_scene(masked, crs=UTM50N, transform=t, data=make_texture(64, dtype="uint16") * 40)
        with rasterio.open(masked, "r+") as ds:
            mask = np.full((64, 64), 255, np.uint8)
            mask[:, :16] = 0
            ds.write_mask(mask)
    image, valid = read_reprojected(inspect_scene(masked), UTM50N, t, 64, 64)
    assert not valid[:, :16].any() and valid[:, 16:].all()


def test_non_uint8_data_gets_a_percentile_stretch(
    tmp_path: Path, write_scene: Callable[..., Path]
) -> None:
    t = window_transform(500_000.0, 3_400_000.0, 1.0)
    ramp = np.tile(np.arange(100, dtype=np.float32) * 100.0, (3, 100, 1))  # 0 .. 9900 along x
    info = inspect_scene(write_scene(tmp_path / "f.tif", crs=UTM50N, transform=t, data=ramp))
    image, _ = read_reprojected(info, UTM50N, t, 100, 100)
    assert image.dtype == np.uint8
    # 2nd-98th percentile of 0..9900 is 198..9702: columns 0-1 clip to 0, 98-99 to 255.
    assert image[0, 0, 0] == 0 and image[0, 0, 99] == 255
    assert abs(int(image[0, 0, 50]) - round((5000 - 198) / (9702 - 198) * 255)) <= 1
    fixed, _ = read_reprojected(
        info, UTM50N, t, 100, 100, radiometry=Radiometry(scale_range=(0, 19800))
    )
    assert fixed[0, 0, 99] == round(9900 / 19800 * 255)


def test_radiometry_stretches_8_bit_scenes_only_when_asked(
    tmp_path: Path, write_scene: Callable[..., Path]
) -> None:
    t = window_transform(500_000.0, 3_400_000.0, 1.0)
    ramp = np.tile(np.arange(100, 200, dtype=np.uint8), (3, 100, 1))  # 100 .. 199 along x
    info = inspect_scene(write_scene(tmp_path / "u8.tif", crs=UTM50N, transform=t, data=ramp))
    plain, _ = read_reprojected(info, UTM50N, t, 100, 100)
    np.testing.assert_array_equal(plain, ramp)
    # A fixed range is for non-uint8 scenes; 8-bit values are display values already.
    ranged, _ = read_reprojected(
        info, UTM50N, t, 100, 100, radiometry=Radiometry(scale_range=(0, 1e4))
    )
    np.testing.assert_array_equal(ranged, ramp)
    stretched, _ = read_reprojected(info, UTM50N, t, 100, 100, radiometry=Radiometry(stretch="all"))
    assert stretched[0, 0, 0] == 0 and stretched[0, 0, 99] == 255


def test_windows_of_one_warp_match_single_reads(
    tmp_path: Path, scene_at: Callable[..., Path]
) -> None:
    info = inspect_scene(scene_at(tmp_path / "s.tif", crs=3857, size_px=300, seed=1))
    grid = PatchGrid(UTM50N, gsd=1.0, patch=64)
    rows, cols = grid.index_ranges(scene_footprint(info, UTM50N).bounds)
    transform, width, height = grid.block_transform(rows, cols)
    whole, _ = read_reprojected(info, UTM50N, transform, width, height)
    r, c = rows[2], cols[2]
    with open_scene(info) as scene:
        image, valid = scene.read(UTM50N, grid.cell_transform(r, c), 64, 64)
        again, _ = scene.read(UTM50N, grid.cell_transform(r, c), 64, 64)
    assert valid.all()
    np.testing.assert_array_equal(image, again)
    # GDAL warps a large window in chunks of its own choosing: values agree to 1 DN.
    diff = np.abs(image.astype(int) - whole[:, 128:192, 128:192])
    assert diff.max() <= 1 and diff.mean() < 0.05


def test_footprint_in_another_crs_contains_the_scene(
    tmp_path: Path, scene_at: Callable[..., Path]
) -> None:
    info = inspect_scene(scene_at(tmp_path / "s.tif", crs=4326, size_px=100))
    fp = scene_footprint(info, UTM50N)
    ux, uy = _utm(*WUHAN_LONLAT)
    assert fp.contains(Point(ux, uy))
    assert abs(fp.area - 100 * 100) / 1e4 < 0.02  # pixels of ~1 m


def test_bad_scenes_raise_one_line_errors_naming_the_file(
    tmp_path: Path,
    write_scene: Callable[..., Path],
    scene_at: Callable[..., Path],
    make_texture: Callable[..., np.ndarray],
) -> None:
    cases: dict[str, str] = {}
    with pytest.raises(FileNotFoundError, match="missing.tif"):
        inspect_scene(tmp_path / "missing.tif")
    (tmp_path / "text.tif").write_text("not an image")
    cases["text.tif"] = "not a readable raster"
    write_scene(
        tmp_path / "nocrs.tif",
        crs=None,
        transform=window_transform(1000, 2000, 1),
        data=make_texture(32),
    )
    cases["nocrs.tif"] = "no CRS"
    good = scene_at(tmp_path / "good.tif", crs=32650, size_px=256, compress="none")
    (tmp_path / "cut.tif").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["cut.tif"] = "truncated"
    empty = np.zeros((3, 64, 64), np.uint8)
    scene_at(tmp_path / "empty.tif", crs=32650, size_px=64, data=empty, nodata=0)
    cases["empty.tif"] = "no valid pixel"
    for name, problem in cases.items():
        with pytest.raises(ValueError, match=problem) as err:
            inspect_scene(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="less than one patch") as err:
        inspect_scene(good, min_extent_m=300.0)
    assert "good.tif" in str(err.value)
    assert inspect_scene(good, min_extent_m=250.0).width == 256
    with pytest.raises(ValueError, match="cannot read bands"):
        read_reprojected(inspect_scene(good), UTM50N, window_transform(0, 0, 1), 8, 8, bands=(1, 4))
    assert CRS.from_user_input(inspect_scene(good).crs) == UTM50N


def test_windows_on_the_scene_grid_read_the_same_as_the_warp(
    tmp_path: Path,
    write_scene: Callable[..., Path],
    make_texture: Callable[..., np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = window_transform(500_000.0, 3_400_000.0, 1.0)
    data = make_texture(96)
    data[:, :, :20] = 0  # nodata strip
    data[:2, 60:70, 60:70] = 0  # some bands at nodata only: still valid
    nodata = write_scene(tmp_path / "n.tif", crs=UTM50N, transform=t, data=data, nodata=0)
    masked = tmp_path / "m.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write_scene(masked, crs=UTM50N, transform=t, data=make_texture(96, dtype="uint16") * 40)
        with rasterio.open(masked, "r+") as ds:
            mask = np.full((96, 96), 255, np.uint8)
            mask[70:] = 0
            ds.write_mask(mask)
    # Whole-pixel offsets, partly off the scene on each side.
    windows = [(t @ Affine.translation(dx, dy), 64, 48) for dx, dy in [(-10, -5), (50, 60), (7, 3)]]
    for path in (nodata, masked):
        info = inspect_scene(path)
        with open_scene(info) as scene:
            direct = [scene.read(UTM50N, *w) for w in windows]
        with monkeypatch.context() as m:
            m.setattr("sunet.geo.raster._grid_offset", lambda *_: None)  # force the warp
            with open_scene(info) as scene:
                warped = [scene.read(UTM50N, *w) for w in windows]
        for (image, valid), (image_w, valid_w) in zip(direct, warped, strict=True):
            np.testing.assert_array_equal(valid, valid_w)
            np.testing.assert_array_equal(image, image_w)
        assert not direct[0][1][:5].any() and not direct[0][1][:, :10].any()  # off the scene


@pytest.mark.parametrize("nodata", [None, 0])
def test_the_alpha_band_of_an_rgba_scene_is_its_validity_mask(
    tmp_path: Path,
    write_scene: Callable[..., Path],
    make_texture: Callable[..., np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    nodata: int | None,
) -> None:
    # As exporters write them: EPSG:3857, an alpha band, and often nodata 0 declared as well.
    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(*WUHAN_LONLAT)
    t = Affine(1.16, 0, x, 0, -1.16, y)
    rgba = np.concatenate([make_texture(64), np.full((1, 64, 64), 255, np.uint8)])
    rgba[3, :, :24] = 0  # transparent west part
    rgba[:3, 40:, 40:] = 0  # black but opaque: data, though it equals the nodata value
    path = write_scene(tmp_path / "rgba.tif", crs="EPSG:3857", transform=t, data=rgba,
                       nodata=nodata, photometric="RGB", alpha="YES")  # fmt: skip
    info = inspect_scene(path)
    assert info.valid_window[0] >= 22  # the box around the opaque part
    # A UTM window around the whole raster, transparent part included.
    left, bottom, right, top = transform_bounds("EPSG:3857", UTM50N, *info.bounds)
    transform = window_transform(np.floor(left) - 4, np.ceil(top) + 4, 1.0)
    width, height = int(right - left) + 9, int(top - bottom) + 9
    for bands in [(1, 2, 3), (3, 2, 1)]:  # as --bands 3 2 1 reads them
        image, valid = read_reprojected(info, UTM50N, transform, width, height, bands=bands)
        assert valid.mean() > 0.3
        assert (image[:, ~valid] == 0).all()
        # Where alpha is 0 nothing is valid; where it is 255, black pixels are.
        to_utm = Transformer.from_crs(3857, UTM50N, always_xy=True)
        ux, uy = to_utm.transform(*(t @ (10, 32)))
        r, c = int((transform.f - uy) // 1), int((ux - transform.c) // 1)
        assert not valid[r, c]
        ux, uy = to_utm.transform(*(t @ (52, 52)))
        r, c = int((transform.f - uy) // 1), int((ux - transform.c) // 1)
        assert valid[r, c] and (image[:, r, c] == 0).all()
    # On the scene's own grid (direct read) the alpha band decides the same way.
    with open_scene(info) as scene:
        direct = scene.read(CRS.from_epsg(3857), t, 64, 64)
    monkeypatch.setattr("sunet.geo.raster._grid_offset", lambda *_: None)  # force the warp
    with open_scene(info) as scene:
        warped = scene.read(CRS.from_epsg(3857), t, 64, 64)
    np.testing.assert_array_equal(direct[1], warped[1])
    np.testing.assert_array_equal(direct[1], rgba[3] > 0)
    assert info.alpha == 4
    with pytest.raises(ValueError, match="band 4 is the alpha band") as err:
        read_reprojected(info, UTM50N, transform, 8, 8, bands=(1, 2, 4))
    assert "rgba.tif" in str(err.value) and "\n" not in str(err.value)


# A small area near Wuhan (degrees): about 96 x 89 m.
EXPORT_AREA = (114.2990, 30.5890, 114.3000, 30.5898)


def _utm_window(info_bounds: tuple[float, ...], src_crs: object) -> tuple[Affine, int, int]:
    """A 1 m UTM window around a scene's whole raster, 4 m of margin."""
    left, bottom, right, top = transform_bounds(src_crs, UTM50N, *info_bounds)
    t = window_transform(float(np.floor(left)) - 4, float(np.ceil(top)) + 4, 1.0)
    return t, int(right - left) + 9, int(top - bottom) + 9


def test_a_png_export_reads_as_the_same_pixels_in_a_geotiff(
    tmp_path: Path, write_scene: Callable[..., Path]
) -> None:
    png = write_png_export(tmp_path / "export.png", EXPORT_AREA, seed=2)
    with rasterio.open(png) as src:
        pixels, transform = src.read(), src.transform
    tif = write_scene(tmp_path / "same.tif", crs="EPSG:3857", transform=transform, data=pixels)
    a, b = inspect_scene(png), inspect_scene(tif)
    assert a.crs == CRS.from_epsg(3857) and not a.crs_assigned
    assert a.transform == b.transform and a.valid_window == b.valid_window
    assert a.companions == (tmp_path / "export.pgw", tmp_path / "export.prj")
    window = _utm_window(b.bounds, "EPSG:3857")
    np.testing.assert_array_equal(read_reprojected(a, UTM50N, *window)[0],
                                  read_reprojected(b, UTM50N, *window)[0])  # fmt: skip
    # A JPEG of the same area: the same place, pixels up to JPEG's loss.
    jpg = write_jpeg_export(tmp_path / "export.jpg", EXPORT_AREA, image=pixels)
    c = inspect_scene(jpg)
    assert c.transform.almost_equals(a.transform) and c.crs == a.crs
    image_c, valid_c = read_reprojected(c, UTM50N, *window)
    image_b, valid_b = read_reprojected(b, UTM50N, *window)
    np.testing.assert_array_equal(valid_c, valid_b)
    assert np.abs(image_c.astype(int) - image_b).mean() < 4


def test_the_crs_of_an_export_comes_from_beside_it_or_else_scene_crs(tmp_path: Path) -> None:
    png = write_png_export(tmp_path / "export.png", EXPORT_AREA, prj=False)
    with pytest.raises(ValueError, match="no CRS .*--scene-crs") as err:
        inspect_scene(png)
    assert "export.png" in str(err.value) and "\n" not in str(err.value)
    given = inspect_scene(png, scene_crs="EPSG:3857")
    assert given.crs == CRS.from_epsg(3857) and given.crs_assigned
    image, valid = read_reprojected(given, UTM50N, *_utm_window(given.bounds, "EPSG:3857"))
    assert valid.mean() > 0.8
    # GDAL's .aux.xml carries a CRS too.
    (tmp_path / "export.png.aux.xml").write_text(
        f"<PAMDataset><SRS>{escape(CRS.from_epsg(3857).to_wkt('WKT1_GDAL'))}</SRS></PAMDataset>"
    )
    own = inspect_scene(png)
    assert own.crs == CRS.from_epsg(3857) and not own.crs_assigned
    # A scene's own CRS is never overridden by scene_crs.
    assert inspect_scene(png, scene_crs="EPSG:4326").crs == CRS.from_epsg(3857)
    other = write_png_export(tmp_path / "other.png", EXPORT_AREA, prj=False)
    with pytest.raises(ValueError, match="--scene-crs 'EPSG:0': not a known CRS"):
        inspect_scene(other, scene_crs="EPSG:0")


def test_a_rotated_world_file_puts_each_pixel_in_its_place(tmp_path: Path) -> None:
    # The pipeline reads any affine transform through GDAL's warp, rotation included.
    size = 96
    image = np.full((3, size, size), 60, np.uint8)
    r, c = 30, 61
    image[:, r - 1 : r + 2, c - 1 : c + 2] = 250
    png = write_png_export(tmp_path / "turned.png", EXPORT_AREA, image=image, rotation_deg=20)
    info = inspect_scene(png)
    assert info.transform.b != 0 and info.transform.d != 0
    x, y = info.transform @ (c + 0.5, r + 0.5)
    ux, uy = Transformer.from_crs(3857, UTM50N, always_xy=True).transform(x, y)
    left, top = np.floor(ux) - 20.0, np.ceil(uy) + 20.0
    read, valid = read_reprojected(info, UTM50N, window_transform(left, top, 1.0), 40, 40)
    assert valid.all()
    peak = np.unravel_index(np.argmax(read.astype(int).sum(axis=0)), (40, 40))
    assert abs(peak[0] - int(top - uy)) <= 1 and abs(peak[1] - int(ux - left)) <= 1
    # The footprint is the turned raster, not its bounding box.
    fp = scene_footprint(info, CRS.from_epsg(3857))
    assert fp.area == pytest.approx(abs(info.transform.determinant) * size * size, rel=1e-3)


def test_a_vrt_mosaic_reads_as_its_tiles_with_gaps_as_nodata(
    tmp_path: Path, write_scene: Callable[..., Path], make_texture: Callable[..., np.ndarray]
) -> None:
    data = make_texture(64)
    west = write_scene(tmp_path / "tiles" / "w.tif", crs=UTM50N, nodata=0, data=data[:, :, :24],
                       transform=window_transform(500_000.0, 3_400_000.0, 1.0))  # fmt: skip
    east = write_scene(tmp_path / "tiles" / "e.tif", crs=UTM50N, nodata=0, data=data[:, :, 32:],
                       transform=window_transform(500_032.0, 3_400_000.0, 1.0))  # fmt: skip
    vrt = write_vrt_mosaic(tmp_path / "mosaic.vrt", [west, east])
    info = inspect_scene(vrt)
    assert (info.width, info.height) == (64, 64)
    assert set(info.companions) == {west, east}
    image, valid = read_reprojected(info, UTM50N, window_transform(500_000.0, 3_400_000.0, 1.0),
                                    64, 64)  # fmt: skip
    assert valid[:, :24].all() and not valid[:, 24:32].any() and valid[:, 32:].all()
    np.testing.assert_array_equal(image[:, valid], data[:, valid])


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_bad_georeferencing_is_one_line_naming_the_file(tmp_path: Path) -> None:
    good = write_jpeg_export(tmp_path / "good.jpg", EXPORT_AREA)
    worlds = {"nowld.jpg": None, "zero.jpg": "0.5\n0\n0\n0\n1\n2\n",
              "short.jpg": "0.5\n0\n0\n-0.5\n", "parallel.jpg": "0.5\n0.5\n0.5\n0.5\n1\n2\n"}  # fmt: skip
    for name, world in worlds.items():
        (tmp_path / name).write_bytes(good.read_bytes())
        if world is not None:
            (tmp_path / name).with_suffix(".jgw").write_text(world)
    cases = {"nowld.jpg": "no georeferencing: no world file", "zero.jpg": "zero pixel size",
             "short.jpg": "short.jgw is not six numbers", "parallel.jpg": "zero pixel size"}  # fmt: skip
    (tmp_path / "badprj.jpg").write_bytes(good.read_bytes())
    (tmp_path / "badprj.jgw").write_bytes((tmp_path / "good.jgw").read_bytes())
    (tmp_path / "badprj.prj").write_text("Google Earth")
    cases["badprj.jpg"] = "badprj.prj: not a known CRS"
    for name, problem in cases.items():
        with pytest.raises(ValueError, match=problem) as err:
            inspect_scene(tmp_path / name)
        assert name.split(".")[0] in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
def test_integer_scaling_by_table_equals_the_arithmetic(dtype: str) -> None:
    from sunet.geo.raster import ByteScaling

    scaling = ByteScaling((3.5, 10.0, -20.0), (200.2, 10.0, 60000.0))  # band 2: low == high
    info = np.iinfo(np.dtype(dtype))
    rng = np.random.default_rng(0)
    data = rng.integers(info.min, info.max, size=(3, 64, 64), endpoint=True).astype(dtype)
    data[:, 0, 0], data[:, 0, 1] = info.min, info.max  # both ends of the table
    out = scaling.apply(data)
    assert out.dtype == np.uint8 and out.shape == data.shape
    assert np.array_equal(out, scaling._scaled(data))


def test_a_cell_is_warped_through_an_affine_grid_of_the_scene_crs_as_close_as_projected(
    tmp_path: Path, scene_at: Callable[..., Path]
) -> None:
    """A 256 m cell of a Web Mercator scene is read through an affine grid in EPSG:3857 (no
    projection in the warp); it agrees with GDAL's projected warp to 1 DN, and a window too
    large for one affine grid (here 2 km) keeps the projection."""
    info = inspect_scene(scene_at(tmp_path / "s.tif", crs=3857, size_px=700, seed=2))
    utm = CRS.from_epsg(32650)
    x, y = _utm(114.30, 30.59)
    cell = Affine(1.0, 0, x - 128, 0, -1.0, y + 128)  # 256 m around the centre, inside
    with open_scene(info) as reader:
        local = reader._in_scene_crs(utm, cell, 256, 256)
        assert local is not None and local.b != 0  # a slightly rotated grid in the scene CRS
        image, valid = reader.read(utm, cell, 256, 256)
        projected, projected_valid = reader._warped(to_rasterio(utm), cell, 256, 256)
        assert reader._in_scene_crs(utm, cell, 2048, 2048) is None
    assert valid.all() and projected_valid.all()
    diff = np.abs(image.astype(int) - projected)
    assert diff.max() <= 1 and diff.mean() < 0.1


def test_a_map_strip_reads_each_pixel_as_the_tiler_reads_its_cell(
    tmp_path: Path, scene_at: Callable[..., Path]
) -> None:
    """Web Mercator -> UTM: a strip (the width of a batch of windows, at a half-cell row offset)
    and the 256 m cells it crosses are warped through the same affine block grids, so mapping
    sees the pixels training saw; one projected warp of the whole strip would not (GDAL widens
    its bilinear kernel for the strip's rotated bounding box)."""
    info = inspect_scene(scene_at(tmp_path / "s.tif", crs=3857, size_px=1400, seed=4))
    utm = CRS.from_epsg(32650)
    grid = PatchGrid(utm, 1.0, 256)
    x, y = _utm(114.30, 30.59)
    row, col = grid.cell_of(x - 300, y + 300)
    cells = [(row, col + k) for k in range(3)] + [(row + 1, col + k) for k in range(3)]
    strip = grid.cell_transform(row, col) @ Affine.translation(0, 128)  # rows 128-384
    with open_scene(info) as reader:
        image, valid = reader.read(utm, strip, 768, 256)
        projected, _ = reader._warped(to_rasterio(utm), strip, 768, 256)
        below = strip @ Affine.translation(0, 128)  # the next strip: half from kept blocks
        next_image, _ = reader.read(utm, below, 768, 256)
    with open_scene(info) as cells_reader:  # nothing kept: every cell warped anew
        reads = {rc: cells_reader.read(utm, grid.cell_transform(*rc), 256, 256) for rc in cells}
    with open_scene(info) as fresh:
        assert np.array_equal(fresh.read(utm, below, 768, 256)[0], next_image)
    assert valid.all()
    for k in range(3):
        top, bottom = reads[(row, col + k)][0], reads[(row + 1, col + k)][0]
        cols = slice(256 * k, 256 * (k + 1))
        assert np.array_equal(image[:, :128, cols], top[:, 128:])
        assert np.array_equal(image[:, 128:, cols], bottom[:, :128])
    assert not np.array_equal(image, projected)


def test_blocks_let_go_while_a_window_is_read_are_warped_again(
    tmp_path: Path, scene_at: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window of more blocks than a reader keeps: blocks kept when it was planned can be let go
    before their turn; they are warped again, and the window reads as from a fresh reader."""
    import sunet.geo.raster as raster

    monkeypatch.setattr(raster, "_BLOCKS_KEPT", 3)
    info = inspect_scene(scene_at(tmp_path / "s.tif", crs=3857, size_px=1400, seed=5))
    utm = CRS.from_epsg(32650)
    grid = PatchGrid(utm, 1.0, 256)
    row, col = grid.cell_of(*_utm(114.2945, 30.5915))
    first = grid.cell_transform(row, col) @ Affine.translation(0, 128)  # 3 x 2 blocks
    shifted = first @ Affine.translation(256, 0)  # shares 2 x 2 of them
    with open_scene(info) as reader:
        reader.read(utm, first, 768, 256)
        image, valid = reader.read(utm, shifted, 768, 256)
    with open_scene(info) as fresh:
        expected, expected_valid = fresh.read(utm, shifted, 768, 256)
    assert valid.all() and np.array_equal(valid, expected_valid)
    assert np.array_equal(image, expected)
