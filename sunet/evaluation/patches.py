"""The patches of one split and kind, for scoring: labels, abundances and image batches.

Reading the store (docs/DESIGN.md, "Patch store") is :class:`sunet.patch_store.PatchStore`'s
job, shared with training so that both read patches the same way; this module only selects rows
and streams their images in batches, so a split larger than memory can be scored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sunet.lcz import abundance_columns
from sunet.patch_store import SPLITS, PatchStore

__all__ = ["PatchSet", "select_patches"]


@dataclass(frozen=True)
class PatchSet:
    """Some patches of a store, in store order.

    Attributes:
        index: the patches' rows of ``index.parquet``, sorted by ``store_index``.
        store: the store they belong to (for reading their images).
    """

    index: pd.DataFrame
    store: PatchStore

    def __len__(self) -> int:
        return len(self.index)

    @property
    def labels(self) -> np.ndarray:
        """int64 ``(N,)`` reference class indices 0-16 (dominant raster code - 1)."""
        return self.index["dominant"].to_numpy(dtype=np.int64) - 1

    @property
    def abundances(self) -> np.ndarray:
        """float64 ``(N, 17)`` reference abundances in class order."""
        return self.index[abundance_columns()].to_numpy(dtype=np.float64)

    def image_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Yield uint8 ``(B, 3, P, P)`` image batches in the order of :attr:`index`."""
        store_index = self.index["store_index"].to_numpy(dtype=np.int64)
        for start in range(0, len(store_index), batch_size):
            yield self.store.read(store_index[start : start + batch_size])


def select_patches(store: PatchStore, split: str, kind: str | None = None) -> PatchSet:
    """The patches of ``split`` (``train``/``val``/``test``), optionally of one ``kind``
    (``pure``/``mixed``)."""
    if split not in SPLITS:
        raise ValueError(f"{store.path}: unknown split {split!r}; expected one of {SPLITS}")
    rows = store.index["split"] == split
    if kind is not None:
        rows &= store.index["kind"] == kind
    return PatchSet(store.index[rows].sort_values("store_index", kind="stable"), store)
