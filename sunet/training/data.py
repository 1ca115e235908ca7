"""Reading the patch store for training: splits in memory, band statistics, mixed batches.

The store (docs/DESIGN.md) is read through :class:`sunet.patch_store.PatchStore`.
A split that fits the cache budget is resized to the model's input size once and kept in memory
as uint8; otherwise its patches are read per batch.

:class:`MixedBatchSampler` is pure index arithmetic: every batch holds a fixed share of pure
patches (the PSC stream's data) and mixed ones (the MSU stream's), so both streams get gradient
at every step; batches depend only on ``(seed, epoch)``, which makes resuming exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sunet.lcz import NUM_CLASSES, abundance_columns
from sunet.model.preprocess import resize_uint8
from sunet.patch_store import PatchStore

__all__ = [
    "SplitData",
    "MixedBatchSampler",
    "band_statistics",
    "load_split",
]

_READ_BLOCK = 256  # patches per zarr read


@dataclass
class SplitData:
    """One split, ready for batching. Row ``i`` of every array is the same patch.

    Attributes:
        store: the store it comes from.
        store_index: ``(N,)`` positions in the zarr array.
        pure: ``(N,)`` bool, patch is pure.
        target: ``(N,)`` int64 class index (raster code - 1) of the dominant class.
        abundances: ``(N, 17)`` float32 reference abundances.
        input_size: model input side, pixels.
        cached: ``(N, 3, S, S)`` uint8 at ``input_size``, or ``None`` (read per batch).
    """

    store: PatchStore
    store_index: np.ndarray
    pure: np.ndarray
    target: np.ndarray
    abundances: np.ndarray
    input_size: int
    cached: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.store_index)

    def images(self, rows: np.ndarray) -> torch.Tensor:
        """uint8 ``(len(rows), 3, S, S)`` at the model's input size."""
        if self.cached is not None:
            return self.cached[torch.as_tensor(rows, dtype=torch.long)]
        raw = torch.from_numpy(self.store.read(self.store_index[rows]))
        return resize_uint8(raw, self.input_size)

    def take(self, rows: np.ndarray) -> SplitData:
        """The patches at ``rows``, as a split of their own."""
        return SplitData(
            store=self.store,
            store_index=self.store_index[rows],
            pure=self.pure[rows],
            target=self.target[rows],
            abundances=self.abundances[rows],
            input_size=self.input_size,
            cached=None if self.cached is None else self.cached[torch.as_tensor(rows)],
        )

    def join(self, other: SplitData) -> SplitData:
        """This split followed by ``other`` (from another store: both must be cached in memory).

        Raises:
            ValueError: a split of another store that is not cached (too large to join).
        """
        if other.store is not self.store and (self.cached is None or other.cached is None):
            raise ValueError(
                f"{other.store.path}: too many patches to mix in memory with {self.store.path} "
                "(raise cache_max_gb or lower replay_ratio)"
            )
        if other.input_size != self.input_size:
            raise ValueError("cannot join splits read at different input sizes")
        cached = None
        if self.cached is not None and other.cached is not None:
            cached = torch.cat([self.cached, other.cached])
        return SplitData(
            store=self.store,
            store_index=np.concatenate([self.store_index, other.store_index]),
            pure=np.concatenate([self.pure, other.pure]),
            target=np.concatenate([self.target, other.target]),
            abundances=np.concatenate([self.abundances, other.abundances]),
            input_size=self.input_size,
            cached=cached,
        )


def load_split(
    store: PatchStore,
    split: str | Sequence[str],
    input_size: int,
    cache_max_bytes: float,
) -> SplitData:
    """The patches of ``split`` (``train``/``val``/``test``, or several together), cached when
    they fit.

    The budget is counted at the model's input size, as the cache holds resized patches.
    """
    splits = [split] if isinstance(split, str) else list(split)
    rows = store.index[store.index["split"].isin(splits)]
    n = len(rows)
    bands = store.images.shape[1]
    cached = None
    if n and n * bands * input_size * input_size <= cache_max_bytes:
        chunks = []
        idx = rows["store_index"].to_numpy(np.int64)
        for start in range(0, n, _READ_BLOCK):
            raw = torch.from_numpy(store.read(idx[start : start + _READ_BLOCK]))
            chunks.append(resize_uint8(raw, input_size))
        cached = torch.cat(chunks)
    dominant = rows["dominant"].to_numpy(np.int64)
    if n and (dominant.min() < 1 or dominant.max() > NUM_CLASSES):
        raise ValueError(f"{store.index_path}: 'dominant' must be raster codes 1-{NUM_CLASSES}")
    return SplitData(
        store=store,
        store_index=rows["store_index"].to_numpy(np.int64),
        pure=(rows["kind"] == "pure").to_numpy(bool),
        target=dominant - 1,
        abundances=rows[abundance_columns()].to_numpy(np.float32),
        input_size=input_size,
        cached=cached,
    )


def band_statistics(data: SplitData, max_patches: int = 4096) -> tuple[list[float], list[float]]:
    """Per-band mean and standard deviation (0-255 scale) of a split's model-size patches.

    Uses at most ``max_patches`` (evenly spaced) patches; float64 sums.
    """
    if len(data) == 0:
        raise ValueError(f"{data.store.index_path}: the training split has no patches")
    rows = np.linspace(0, len(data) - 1, min(len(data), max_patches)).astype(np.int64)
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    for start in range(0, len(rows), _READ_BLOCK):
        x = data.images(rows[start : start + _READ_BLOCK]).to(torch.float64)
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-6).sqrt().clamp_min(1.0)
    return [float(v) for v in mean], [float(v) for v in std]


class MixedBatchSampler:
    """Batches with a fixed pure : mixed ratio, split evenly across data-parallel ranks.

    Args:
        pure: ``(N,)`` bool per row of the split.
        batch_size: global batch (all ranks together).
        pure_fraction: share of pure patches per batch (the paper's data is ~1 : 2).
        seed: base seed; epoch ``e`` uses ``(seed, e)``.
        rank, world_size: this process and the number of processes.

    An epoch is ``N // batch_size`` batches (at least one). Each pool is shuffled per epoch and
    cycled, so the smaller pool repeats rather than leaving batches unbalanced. With an empty
    pool the batches come from the other alone.
    """

    def __init__(
        self,
        pure: np.ndarray,
        batch_size: int,
        pure_fraction: float,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < world_size:
            raise ValueError(f"batch size {batch_size} < {world_size} processes")
        self.pure_rows = np.flatnonzero(pure)
        self.mixed_rows = np.flatnonzero(~np.asarray(pure, dtype=bool))
        n = len(pure)
        if n == 0:
            raise ValueError("no patches to sample from")
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        if len(self.pure_rows) == 0:
            self.n_pure = 0
        elif len(self.mixed_rows) == 0:
            self.n_pure = batch_size
        else:
            self.n_pure = min(max(round(batch_size * pure_fraction), 1), batch_size - 1)
        self.num_batches = max(n // batch_size, 1)

    def __len__(self) -> int:
        return self.num_batches

    @staticmethod
    def _cycle(rows: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
        if count == 0:
            return rows[:0]
        reps = -(-count // len(rows))
        return np.concatenate([rng.permutation(rows) for _ in range(reps)])[:count]

    def batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches (row positions into the split) for ``epoch``."""
        rng = np.random.default_rng([self.seed, epoch])
        n_mixed = self.batch_size - self.n_pure
        pure = self._cycle(self.pure_rows, self.n_pure * self.num_batches, rng)
        mixed = self._cycle(self.mixed_rows, n_mixed * self.num_batches, rng)
        out = []
        for b in range(self.num_batches):
            p = np.array_split(pure[b * self.n_pure : (b + 1) * self.n_pure], self.world_size)
            m = np.array_split(mixed[b * n_mixed : (b + 1) * n_mixed], self.world_size)
            out.append(np.concatenate([p[self.rank], m[self.rank]]))
        return out
