"""The patch store module: the writer's layout and attributes, read back by the reader."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import zarr
from shapely.geometry import box

from sunet.geo.raster import Radiometry
from sunet.lcz import NUM_CLASSES
from sunet.patch_store import (
    INDEX_COLUMNS,
    INDEX_NAME,
    REQUIRED_COLUMNS,
    ZARR_NAME,
    PatchStore,
    StoreMeta,
    write_store,
)

META = StoreMeta(crs="EPSG:32650", gsd=1.0, patch_size=8, source_bands=[4, 3, 2],
                 radiometry=Radiometry(stretch="all"))  # fmt: skip


def _write(out: Path, meta: StoreMeta = META, n: int = 5) -> np.ndarray:
    images = np.arange(n * 3 * 8 * 8, dtype=np.uint64).reshape(n, 3, 8, 8).astype(np.uint8)
    _write_images(out, images, meta)
    return images


def _write_images(out: Path, images: np.ndarray, meta: StoreMeta = META) -> None:
    n = len(images)
    values: dict[str, object] = {
        "patch_id": [f"r0_c{i}" for i in range(n)], "row": [0] * n, "col": list(range(n)),
        "store_index": list(range(n)), "scene": ["s"] * n, "split": ["train"] * n,
        "kind": ["pure"] * n, "dominant": [2] * n, "purity": [1.0] * n, "labelled": [1.0] * n,
        "nodata": [0.0] * n, "block": [0] * n,
    }  # fmt: skip
    for column in INDEX_COLUMNS[-NUM_CLASSES:]:
        values[column] = np.float32(column == "lcz_2")
    index = gpd.GeoDataFrame(values, geometry=[box(i * 8, -8, i * 8 + 8, 0) for i in range(n)],
                             crs="EPSG:32650")  # fmt: skip
    write_store(out, index, lambda a, b: images[a:b], meta=meta, shard=2,
                report={"patches": n}, config={"patch": 8})  # fmt: skip


def test_written_store_reads_back(tmp_path: Path) -> None:
    images = _write(tmp_path / "s")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "config.json",
        INDEX_NAME,
        ZARR_NAME,
        "report.json",
    ]
    assert json.loads((tmp_path / "s" / "report.json").read_text()) == {"patches": 5}
    store = PatchStore(tmp_path / "s")
    assert store.meta == META
    assert (store.crs, store.gsd, store.patch_size) == ("EPSG:32650", 1.0, 8)
    assert store.source_bands == [4, 3, 2] and store.bands == ["band 4", "band 3", "band 2"]
    assert store.radiometry == Radiometry(stretch="all")
    assert list(store.index.columns) == list(INDEX_COLUMNS)
    assert set(REQUIRED_COLUMNS) <= set(INDEX_COLUMNS)
    np.testing.assert_array_equal(store.read(np.array([4, 0, 1])), images[[4, 0, 1]])


def test_attributes_are_written_as_tiling_always_wrote_them(tmp_path: Path) -> None:
    _write(tmp_path / "s")
    attrs = dict(zarr.open_group(str(tmp_path / "s" / ZARR_NAME), mode="r").attrs)
    assert attrs == {
        "crs": "EPSG:32650", "gsd": 1.0, "patch_size": 8, "source_bands": [4, 3, 2],
        "radiometry": Radiometry(stretch="all").model_dump(mode="json"),
    }  # fmt: skip
    assert list(attrs) == list(META.to_attrs())


def test_older_attributes_get_what_the_store_was_made_with(tmp_path: Path) -> None:
    where = tmp_path / ZARR_NAME
    old = StoreMeta.from_attrs({"crs": "EPSG:32650", "gsd": 0.5}, (10, 3, 8, 8), where)
    assert old.source_bands == [1, 2, 3] and old.band_names == ["red", "green", "blue"]
    assert old.radiometry == Radiometry() and old.patch_size == 8
    named = StoreMeta.from_attrs({"crs": "c", "gsd": 1, "bands": ["nir", "r", "g", "b"]},
                                 (1, 3, 8, 8), where)  # fmt: skip
    assert named.band_names == ["nir", "r", "g"]
    with pytest.raises(ValueError, match="patch_size attribute 16"):
        StoreMeta.from_attrs({"crs": "c", "gsd": 1, "patch_size": 16}, (1, 3, 8, 8), where)
    with pytest.raises(ValueError, match="'gsd' and 'crs' are required"):
        StoreMeta.from_attrs({"crs": "c"}, (1, 3, 8, 8), where)


def test_shards_are_what_zarr_itself_writes_byte_for_byte(tmp_path: Path) -> None:
    """The image shards are written without zarr's chunk machinery; zarr writing the same array
    (same codecs, partial last shard, an all-0 patch left out) gives the same files."""
    import xarray as xr

    from sunet.patch_store import IMAGE_NAME, ZSTD_LEVEL

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 3, 8, 8), dtype=np.uint8)
    images[:, :, :4] //= 16  # compressible halves
    images[2] = 0  # the fill value: no chunk
    images[4:6] = 0  # a whole shard of fill values: no shard file
    _write_images(tmp_path / "ours", images)
    ds = xr.Dataset({IMAGE_NAME: (("patch", "band", "y", "x"), images)},
                    coords={"patch": np.arange(7, dtype=np.int64)}, attrs=META.to_attrs())  # fmt: skip
    encoding = {IMAGE_NAME: {"chunks": (1, 3, 8, 8), "shards": (2, 3, 8, 8),
                             "compressors": [zarr.codecs.ZstdCodec(level=ZSTD_LEVEL)]}}  # fmt: skip
    ds.to_zarr(tmp_path / "zarr.zarr", mode="w", zarr_format=3, consolidated=False,
               encoding=encoding)  # fmt: skip
    ours, theirs = tmp_path / "ours" / ZARR_NAME, tmp_path / "zarr.zarr"
    files = sorted(str(p.relative_to(theirs)) for p in theirs.rglob("*") if p.is_file())
    assert sorted(str(p.relative_to(ours)) for p in ours.rglob("*") if p.is_file()) == files
    assert f"{IMAGE_NAME}/c/1/0/0/0" in files and f"{IMAGE_NAME}/c/2/0/0/0" not in files
    for name in files:
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
    np.testing.assert_array_equal(PatchStore(tmp_path / "ours").read(np.arange(7)), images)
