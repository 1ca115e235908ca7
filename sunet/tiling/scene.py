"""One scene's share of tiling: read its candidate cells, measure them, cache the result.

:func:`tile_scene` is the unit of parallel work (a Dask task, or one Prefect task per scene). It
is a plain function of a picklable :class:`SceneJob`. Its result lives on disk under
``OUT/.cache/<scene>-<key>/`` (``meta.npz`` + ``images.bin``), written under a temporary name and
renamed, so an interrupted run leaves either a complete cache entry or none. The key hashes the
scene's bytes, the label polygons it sees and every setting that changes its pixels or statistics,
so a rerun reuses exactly the entries that would come out the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np

from sunet.atomic import atomic_dir
from sunet.geo.crs import crs_name
from sunet.geo.grid import PatchGrid
from sunet.geo.raster import Radiometry, SceneInfo, open_scene
from sunet.hashing import files_hash, record_hash
from sunet.lcz import NUM_CLASSES
from sunet.tiling.labels import LabelSet, class_counts

__all__ = [
    "CACHE_VERSION",
    "CellStatus",
    "SceneCache",
    "SceneJob",
    "job_key",
    "scene_digest",
    "tile_scene",
]

# Bump when the cached layout or the computation changes, so old entries are not reused.
CACHE_VERSION = 3  # 3: warped reads through an affine grid in the scene CRS
# Slack on the footprint test, for the densified outline's approximation of curved edges.
_COVERAGE_MARGIN = 1e-3


@dataclass(frozen=True)
class SceneJob:
    """Everything one scene's tiling needs (picklable).

    Attributes:
        scene: the inspected scene.
        grid: the patch grid.
        cells: candidate ``(row, col)`` cells: covered by the scene and touched by labels.
        coverage: per cell, the share of it inside the scene's valid-data footprint (an upper
            bound of its valid share).
        labels: the label polygons near the scene (tiling CRS).
        bands: source bands read, in order; radiometry: how their values become uint8.
        min_labelled, max_nodata: thresholds deciding which cells are worth reading/storing.
        cache_root: ``OUT/.cache``; key: the cache key (see :func:`job_key`).
    """

    scene: SceneInfo
    grid: PatchGrid
    cells: tuple[tuple[int, int], ...]
    coverage: tuple[float, ...]
    labels: LabelSet
    bands: tuple[int, ...]
    radiometry: Radiometry
    min_labelled: float
    max_nodata: float
    cache_root: Path
    key: str

    @property
    def cache_dir(self) -> Path:
        return self.cache_root / f"{self.scene.name}-{self.key}"


def job_key(scene: str, settings: dict[str, object], labels_digest: str) -> str:
    """Cache key of a scene job (hex, 24 chars) from its inputs' hashes and its settings.

    ``scene`` is the scene's :func:`scene_digest`, ``labels_digest`` :meth:`LabelSet.digest` of
    the polygons it sees.
    """
    record = {"v": CACHE_VERSION, "scene": scene, "labels": labels_digest, **settings}
    return record_hash(record, "blake2b", digest_size=12)


def scene_digest(info: SceneInfo) -> str:
    """BLAKE2b-128 (hex) of what a scene is read from: its file's bytes, and its companions'
    (world file, .prj, a VRT's tiles) and an assigned CRS where it has them, so that
    re-georeferencing a scene invalidates its cache entry. A lone file's digest is that of its
    bytes alone, as it always was."""
    digest = files_hash([info.path, *info.companions], "blake2b", digest_size=16)
    if info.crs_assigned:
        digest = record_hash([digest, crs_name(info.crs)], "blake2b", digest_size=16)
    return digest


@dataclass(frozen=True)
class SceneCache:
    """A finished scene result on disk.

    ``meta.npz`` holds, per candidate cell ``i``: ``cells[i]`` (row, col), ``status[i]``
    (:class:`CellStatus`), ``valid[i]`` (valid pixels, -1 if not read), ``labelled[i]``
    (labelled share of the cell, NaN if not rasterised), ``counts[i]`` (int64 ``(17,)`` class
    pixels among labelled valid pixels) and ``slot[i]`` (row of ``images.bin``, -1 if no image
    was kept). ``images.bin`` is raw uint8 ``(n_images, bands, P, P)``.
    """

    path: Path
    scene: str
    reused: bool

    def meta(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "meta.npz") as z:
            return {k: z[k] for k in z.files}

    def read_images(self, slots: Sequence[int], out: np.ndarray, rows: Sequence[int]) -> None:
        """Read the image at ``slots[k]`` of ``images.bin`` into ``out[rows[k]]`` (``out``:
        C-contiguous uint8 ``(n, bands, P, P)``) through one file handle and no memory map, so
        the pages read do not stay in this process.

        Raises:
            ValueError: the file is shorter than a slot needs (a damaged cache entry).
        """
        raw = self.path / "images.bin"
        size = out[0].nbytes if len(out) else 0
        with open(raw, "rb") as f:
            for slot, row in zip(slots, rows, strict=True):
                f.seek(slot * size)
                if f.readinto(memoryview(out[row]).cast("B")) != size:
                    raise ValueError(f"{raw}: slot {slot} is past the end of the file")


class CellStatus(IntEnum):
    """What one scene made of one candidate cell (cheapest test first)."""

    KEPT = 0  # image and class counts stored
    UNCOVERED = 1  # the scene's footprint alone leaves too much nodata: not read
    UNLABELLED = 2  # labelled share below min_labelled (the same for every scene): not read
    NODATA = 3  # read, but more nodata than max_nodata


class _LabelRows:
    """The label codes of a job's cells, rasterised a row of cells at a time: a polygon across
    several cells of a row is converted for the rasteriser once rather than once per cell, and
    each pixel is labelled by its centre as on the cell's own grid."""

    def __init__(self, job: SceneJob) -> None:
        self._job = job
        self._span: dict[int, tuple[int, int]] = {}  # row -> (first col, last col + 1)
        for r, c in job.cells:
            lo, hi = self._span.get(r, (c, c + 1))
            self._span[r] = (min(lo, c), max(hi, c + 1))
        self._row: int | None = None
        self._first = 0
        self._strip = np.zeros((0, 0), dtype=np.uint8)

    def codes(self, row: int, col: int) -> np.ndarray:
        """uint8 ``(P, P)`` label codes of cell ``(row, col)`` (a view of its row's strip)."""
        grid, p = self._job.grid, self._job.grid.patch
        if row != self._row:
            first, end = self._span[row]
            transform = grid.cell_transform(row, first)
            self._strip = self._job.labels.rasterize(transform, (p, (end - first) * p))
            self._row, self._first = row, first
        x = (col - self._first) * p
        return self._strip[:, x : x + p]


def tile_scene(job: SceneJob) -> SceneCache:
    """Read, measure and cache every candidate cell of one scene (reuses a finished entry).

    Per cell: if the scene's footprint covers enough of it, rasterise the labels; if the
    labelled share reaches ``min_labelled``, read the scene warped onto the cell; if its nodata
    share is within ``max_nodata``, keep the image and the class counts among labelled valid
    pixels. The warped read is by far the costliest step, so it comes last.
    """
    if (job.cache_dir / "meta.npz").is_file():
        return SceneCache(job.cache_dir, job.scene.name, reused=True)
    grid, p = job.grid, job.grid.patch
    n = len(job.cells)
    status = np.full(n, CellStatus.UNCOVERED, dtype=np.int8)
    valid = np.full(n, -1, dtype=np.int64)
    labelled = np.full(n, np.nan, dtype=np.float32)
    counts = np.zeros((n, NUM_CLASSES), dtype=np.int64)
    slot = np.full(n, -1, dtype=np.int64)
    with atomic_dir(job.cache_dir) as tmp:
        kept = 0
        with open(tmp / "images.bin", "wb") as out:
            if n:
                labels = _LabelRows(job)
                with open_scene(job.scene, job.bands, job.radiometry) as scene:
                    for i, (r, c) in enumerate(job.cells):
                        if 1.0 - job.coverage[i] > job.max_nodata + _COVERAGE_MARGIN:
                            continue
                        codes = labels.codes(r, c)
                        labelled[i] = np.count_nonzero(codes) / codes.size
                        if labelled[i] < job.min_labelled:
                            status[i] = CellStatus.UNLABELLED
                            continue
                        image, ok = scene.read(grid.crs, grid.cell_transform(r, c), p, p)
                        valid[i] = int(np.count_nonzero(ok))
                        if 1.0 - valid[i] / ok.size > job.max_nodata:
                            status[i] = CellStatus.NODATA
                            continue
                        counts[i] = class_counts(codes, ok)
                        if counts[i].sum() == 0:  # every labelled pixel is nodata here
                            status[i] = CellStatus.NODATA
                            continue
                        status[i] = CellStatus.KEPT
                        slot[i] = kept
                        out.write(np.ascontiguousarray(image).tobytes())
                        kept += 1
        np.savez(
            tmp / "meta.npz",
            cells=np.asarray(job.cells, dtype=np.int64).reshape(n, 2),
            status=status,
            valid=valid,
            labelled=labelled,
            counts=counts,
            slot=slot,
        )
    return SceneCache(job.cache_dir, job.scene.name, reused=False)
