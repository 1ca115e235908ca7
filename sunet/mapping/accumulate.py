"""From window abundances to cell abundances, one cell row at a time.

Windows arrive in row-major order (:func:`sunet.mapping.windows.plan_batches`). A window of row
``i`` touches cell rows ``i ... i + k - 1``, so once every window of row ``i`` is in, cell row
``i`` is final. The accumulator therefore keeps only ``k`` cell rows: memory grows with the
map's width in cells, never with its area.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sunet.lcz import NUM_CLASSES

__all__ = ["ABUNDANCE_NODATA", "CellAccumulator", "CellRow", "RunResult"]

# Nodata of the abundance and uncertainty rasters: outside [0, 1], so it can never be a value, and
# an ordinary number (unlike NaN) that every GDAL and QGIS version compares and masks reliably.
ABUNDANCE_NODATA = -1.0


@dataclass
class RunResult:
    """What one :class:`~sunet.mapping.windows.WindowRun` (``n`` windows of a row) yields.

    Attributes:
        abundances: float32 ``(n, 17)``; NaN rows for windows skipped for too little imagery.
        cell_valid: float32 ``(k, n + k - 1)``: share of valid pixels in each cell of the strip.
    """

    abundances: np.ndarray
    cell_valid: np.ndarray


@dataclass
class CellRow:
    """One finished cell row: ``abundances`` float32 ``(17, W)`` (ABUNDANCE_NODATA where not
    mapped), ``row`` its local index."""

    row: int
    abundances: np.ndarray


class CellAccumulator:
    """Weighted mean of window abundances per cell, emitted row by row.

    Args:
        mask: bool ``(H, W)``, cells to map (inside the district/city).
        weights: ``(k, k)`` window weights (:func:`~sunet.mapping.windows.window_weights`).
        min_cell_valid: a cell needs at least this share of valid pixels of its own.
    """

    def __init__(self, mask: np.ndarray, weights: np.ndarray, min_cell_valid: float) -> None:
        self.mask = mask
        self.k = weights.shape[0]
        self.weights = weights
        self.min_cell_valid = min_cell_valid
        h, w = mask.shape
        self.height, self.width = h, w
        k = self.k
        # Buffer row r holds cell row (self._top + r); float64 sums keep the order of additions
        # from mattering at float32 output precision.
        self._sum = np.zeros((k, w, NUM_CLASSES), dtype=np.float64)
        self._wsum = np.zeros((k, w), dtype=np.float64)
        self._valid = np.zeros((k, w), dtype=np.float32)
        self._top = -(k - 1)  # the first window row

    def add(self, row: int, col: int, result: RunResult) -> Iterator[CellRow]:
        """Add a run of windows starting at local cell ``(row, col)``; yields the cell rows
        this completes (all rows above ``row``). Runs must come in row-major order."""
        yield from self.advance(row)
        k, w = self.k, self.width
        n = result.abundances.shape[0]
        # Cell shares of the strip's k rows, clipped to the grid.
        c0, c1 = max(col, 0), min(col + n + k - 1, w)
        if c1 > c0:
            self._valid[:, c0:c1] = result.cell_valid[:, c0 - col : c1 - col]
        for t in range(n):
            a = result.abundances[t]
            if not np.isfinite(a).all():
                continue
            left = col + t
            j0, j1 = max(left, 0), min(left + k, w)
            if j1 <= j0:
                continue
            wk = self.weights[:, j0 - left : j1 - left]  # (k, j1 - j0)
            self._sum[:, j0:j1] += wk[:, :, None] * a.astype(np.float64)
            self._wsum[:, j0:j1] += wk

    def advance(self, row: int) -> Iterator[CellRow]:
        """Finish every cell row above window row ``row`` (no later window touches them)."""
        while self._top < row:
            finished = self._emit()
            if finished is not None:
                yield finished

    def finish(self) -> Iterator[CellRow]:
        """Emit all remaining rows (call after the last batch)."""
        yield from self.advance(self.height)

    def _emit(self) -> CellRow | None:
        row = self._top
        out: CellRow | None = None
        if 0 <= row < self.height:
            wsum = self._wsum[0]
            ok = self.mask[row] & (wsum > 0) & (self._valid[0] >= self.min_cell_valid)
            values = np.full((NUM_CLASSES, self.width), ABUNDANCE_NODATA, dtype=np.float32)
            if ok.any():
                mean = self._sum[0, ok] / wsum[ok, None]
                mean = np.clip(mean, 0.0, None)
                mean /= np.maximum(mean.sum(axis=1, keepdims=True), 1e-12)
                values[:, ok] = mean.T.astype(np.float32)
            out = CellRow(row, values)
        # Shift the buffer up one row.
        self._sum[:-1] = self._sum[1:]
        self._sum[-1] = 0.0
        self._wsum[:-1] = self._wsum[1:]
        self._wsum[-1] = 0.0
        self._valid[:-1] = self._valid[1:]
        self._valid[-1] = 0.0
        self._top += 1
        return out
