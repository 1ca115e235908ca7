"""Small georeferenced inputs for the mapping tests: painted scenes, districts, a fake model.

The fake model stands in for :class:`sunet.bundle.Predictor` (same protocol): it classifies each
pixel by its nearest palette colour and returns the share of each class in the window, which is
exactly an abundance vector. That makes every expected map value computable by hand.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine

from sunet.lcz import NUM_CLASSES, by_code

# UTM 50N near Wuhan; every coordinate below is a multiple of 16 m (the test cell size).
UTM = "EPSG:32650"
LEFT, TOP = 240_000.0, 3_390_000.0


class ColourPredictor:
    """Abundances = share of pixels nearest to each class colour (codes -> RGB).

    ``calls`` counts model calls and ``seen`` the windows run, for the tests' bookkeeping.
    """

    def __init__(self, palette: dict[int, tuple[int, int, int]], patch_size: int = 32,
                 gsd: float = 1.0) -> None:  # fmt: skip
        self.palette = palette
        self._patch = patch_size
        self._gsd = gsd
        self.calls = 0
        self.seen = 0

    @property
    def patch_size(self) -> int:
        return self._patch

    @property
    def gsd(self) -> float:
        return self._gsd

    @property
    def bands(self) -> list[str]:
        return ["red", "green", "blue"]

    def predict_abundances(self, images: np.ndarray) -> np.ndarray:
        assert images.dtype == np.uint8 and images.shape[1:] == (3, self._patch, self._patch)
        self.calls += 1
        self.seen += images.shape[0]
        codes = np.array(sorted(self.palette))
        colours = np.array([self.palette[c] for c in codes], dtype=np.float64)  # (K, 3)
        px = images.reshape(images.shape[0], 3, -1).transpose(0, 2, 1).astype(np.float64)
        nearest = ((px[:, :, None, :] - colours[None, None]) ** 2).sum(-1).argmin(-1)  # (B, N)
        out = np.zeros((images.shape[0], NUM_CLASSES), dtype=np.float32)
        for k, code in enumerate(codes):
            out[:, code - 1] = (nearest == k).mean(axis=1)
        return out


def lcz_rgb(code: int) -> tuple[int, int, int]:
    return by_code(code).rgb


def write_scene(
    path: Path,
    paint: np.ndarray,
    transform: Affine,
    crs: str = UTM,
    nodata: int | None = 0,
) -> Path:
    """Write ``paint`` (uint8 ``(3, H, W)``) as a tiled GeoTIFF."""
    _, h, w = paint.shape
    with rasterio.open(
        path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs=crs,
        transform=transform, nodata=nodata, tiled=True, blockxsize=128, blockysize=128,
    ) as dst:  # fmt: skip
        dst.write(paint)
    return path


def split_scene(
    path: Path,
    left_code: int,
    right_code: int,
    size: int = 512,
    split_col: int = 256,
    left: float = LEFT,
    top: float = TOP,
) -> Path:
    """A 1 m UTM scene: columns ``< split_col`` painted ``left_code``'s colour, the rest
    ``right_code``'s."""
    paint = np.zeros((3, size, size), dtype=np.uint8)
    paint[:, :, :split_col] = np.array(lcz_rgb(left_code), dtype=np.uint8)[:, None, None]
    paint[:, :, split_col:] = np.array(lcz_rgb(right_code), dtype=np.uint8)[:, None, None]
    return write_scene(path, paint, Affine(1.0, 0, left, 0, -1.0, top))


def write_districts(
    path: Path, boxes: dict[str, Sequence[float]], crs: str = UTM, field: str = "name"
) -> Path:
    """Districts as boxes ``(left, bottom, right, top)`` in ``crs``, saved in EPSG:4326 (as a
    user's file would be) unless ``crs`` is None (then saved with no CRS)."""
    gdf = gpd.GeoDataFrame(
        {field: list(boxes)}, geometry=[shapely.box(*b) for b in boxes.values()], crs=crs
    )
    if crs is not None:
        gdf = gdf.to_crs(4326)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the no-CRS case is on purpose
        gdf.to_file(path, layer="districts", driver="GPKG")
    return path


def random_bundle(path: Path) -> Path:
    """A random-initialised cpu-small bundle (patch 32, 1 m, RGB, the tiler's default radiometry):
    orchestration tests map with it; what they check is not map quality."""
    import torch

    from sunet.bundle import BundleMeta, save_bundle
    from sunet.geo.raster import Radiometry
    from sunet.model import SUNet, get_preset
    from sunet.tiling import TileConfig

    torch.manual_seed(0)
    preset = get_preset("cpu-small")
    meta = BundleMeta(
        preset=preset.name, model=preset.model, mean=[120.0] * 3, std=[60.0] * 3,
        patch_size=32, input_size=preset.model.input_size, gsd=1.0,
        bands=["red", "green", "blue"], crs="EPSG:32650", index_hash="0" * 64,
        radiometry=Radiometry(stretch=TileConfig.model_fields["stretch"].default),
    )  # fmt: skip
    return save_bundle(path, SUNet(preset.model), meta)
