"""Per-area summaries of a map, streamed over blocks of cells: composition, mixing, parameters.

Everything here is a pure function of arrays (or an accumulator fed arrays block by block), so a
city of any size is summarised in the memory of one block of cell rows:

* :class:`Composition`: the area of each class counted two ways. **By dominant class** each cell
  counts whole for its largest abundance (what a class map says); **by abundance** each class
  counts the share it holds in every cell (its expected area). The two differ wherever cells are
  mixed: the dominant class of a mixed cell gains the other classes' shares, and a class that is
  often present but seldom the largest (trees among low-rise houses) nearly vanishes from the
  class map. :attr:`Composition.difference` is the share of the area the two assign differently.
* :class:`Mixing`: the normalised entropy of each cell's abundances (0 pure, 1 all 17 equal;
  :func:`sunet.mapping.products.normalised_entropy`, the map's uncertainty raster) and the
  abundance of its dominant class.
* :class:`Distribution`: count, mean and quantiles of a parameter's values.
* :class:`ParameterChange`: per parameter, the mean change between two maps over the cells mapped
  in both, and the share of cells whose building surface fraction moved by more than a threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sunet.analysis.parameters import (
    INDEX,
    PARAMETER_NODATA,
    PARAMETERS,
    Parameter,
    class_values,
)
from sunet.lcz import CLASSES, NUM_CLASSES
from sunet.mapping.accumulate import ABUNDANCE_NODATA
from sunet.mapping.products import normalised_entropy

__all__ = [
    "BUILDING",
    "Composition",
    "Distribution",
    "Mixing",
    "ParameterChange",
    "add_parameters",
    "parameter_distributions",
]

BUILDING = INDEX["building_surface_fraction"]
_BUILT = np.array([c.is_built for c in CLASSES])
# Bins of a Distribution: fine enough that no two class values share one (the closest, 1,400
# and 1,500 J m-2 s-1/2 K-1 of admittance, are 200 bins apart), so quantiles of looked-up values
# are exact.
_BINS = 4096


class Distribution:
    """Count, mean and quantiles of values in ``[low, high]``, fed in blocks, in fixed memory.

    numpy's quantiles need every value at once; a city's cells need not fit in memory. The
    values are binned finely (``bins`` equal steps, of ``ln`` value when ``log``) and each bin
    keeps its count and its sum. A quantile is the mean of the values in the bin holding its
    rank: exact when that bin holds one distinct value (every looked-up class value, pure
    cells), otherwise within one bin's width. Quantiles follow the inverted-CDF definition
    (numpy's ``method="inverted_cdf"``): the smallest value with at least ``q`` of the values at
    or below it. Values outside ``[low, high]`` go to the end bins.
    """

    def __init__(self, low: float, high: float, bins: int = _BINS, log: bool = False) -> None:
        if not high > low or (log and low <= 0):
            raise ValueError(f"a distribution needs 0 < low < high for log bins, got {low}, {high}")
        self.low, self.high, self.bins, self.log = low, high, bins, log
        self.counts = np.zeros(bins, dtype=np.int64)
        self.sums = np.zeros(bins, dtype=np.float64)
        self.total = 0.0

    def add(self, values: np.ndarray) -> None:
        """Add values (any shape; all are counted: leave nodata out first)."""
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size == 0:
            return
        lo, hi = (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)
        x = np.log(np.maximum(v, self.low)) if self.log else v
        index = np.clip(((x - lo) / (hi - lo) * self.bins).astype(np.int64), 0, self.bins - 1)
        self.counts += np.bincount(index, minlength=self.bins)
        self.sums += np.bincount(index, weights=v, minlength=self.bins)
        self.total += float(v.sum())

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    @property
    def mean(self) -> float:
        """The mean (NaN without values)."""
        n = self.count
        return self.total / n if n else math.nan

    def quantile(self, q: float) -> float:
        """The ``q`` quantile, ``0 <= q <= 1`` (NaN without values)."""
        n = self.count
        if n == 0:
            return math.nan
        rank = max(1, math.ceil(q * n - 1e-9))  # 1-based; the tolerance absorbs q * n rounding
        b = int(np.searchsorted(np.cumsum(self.counts), rank))
        return float(self.sums[b] / self.counts[b])


@dataclass(frozen=True)
class Composition:
    """The area of each class counted both ways (float ``(17,)``, m², raster-code order)."""

    dominant_m2: np.ndarray
    abundance_m2: np.ndarray

    @staticmethod
    def _shares(area: np.ndarray) -> np.ndarray:
        total = float(area.sum())
        return area / total if total > 0 else np.zeros(NUM_CLASSES)

    @property
    def dominant(self) -> np.ndarray:
        """float64 ``(17,)``: share of the mapped area where each class dominates."""
        return self._shares(self.dominant_m2)

    @property
    def abundance(self) -> np.ndarray:
        """float64 ``(17,)``: each class's abundance-weighted share of the mapped area."""
        return self._shares(self.abundance_m2)

    @property
    def built_dominant(self) -> float:
        """Share of the mapped area whose dominant class is built (LCZ 1-10)."""
        return float(self.dominant[_BUILT].sum())

    @property
    def built_abundance(self) -> float:
        """Share of the mapped area covered by built classes, by abundance."""
        return float(self.abundance[_BUILT].sum())

    @property
    def difference(self) -> float:
        """Half the summed absolute differences of the shares (0-1): the share of the area that
        the dominant-class count gives to a class other than the abundances do."""
        return 0.5 * float(np.abs(self.dominant - self.abundance).sum())

    def top(self, shares: np.ndarray, n: int = 3) -> dict[str, float]:
        """The ``n`` largest of ``shares`` (``dominant`` or ``abundance``): letter -> share."""
        order = np.argsort(-shares, kind="stable")[:n]
        return {CLASSES[i].letter: float(shares[i]) for i in order if shares[i] > 0}


@dataclass
class Mixing:
    """How mixed an area's cells are, fed abundance blocks (:meth:`add`).

    ``mixed_entropy``: entropy (normalised by ln 17) above which a cell counts as mixed;
    ``weak_dominance``: abundance of the dominant class below which it counts as weak.
    """

    mixed_entropy: float
    weak_dominance: float
    entropy: Distribution = field(default_factory=lambda: Distribution(0.0, 1.0))
    mixed: int = 0
    weak: int = 0

    def add(self, abundances: np.ndarray) -> None:
        """Add float ``(17, ...)`` abundances; ``ABUNDANCE_NODATA`` cells are left out."""
        valid = abundances[0] != ABUNDANCE_NODATA
        cells = abundances[:, valid]
        h = normalised_entropy(cells)
        self.entropy.add(h)
        self.mixed += int((h > self.mixed_entropy).sum())
        self.weak += int((cells.max(axis=0) < self.weak_dominance).sum())

    @property
    def cells(self) -> int:
        return self.entropy.count

    @property
    def mixed_share(self) -> float:
        """Share of the cells whose entropy is above ``mixed_entropy`` (NaN without cells)."""
        return self.mixed / self.cells if self.cells else math.nan

    @property
    def weak_share(self) -> float:
        """Share of the cells whose dominant class has less than ``weak_dominance``."""
        return self.weak / self.cells if self.cells else math.nan


def _distribution(parameter: Parameter, values: np.ndarray) -> Distribution:
    # Every aggregated value is a (weighted, arithmetic or geometric) mean of class values, so
    # the class values bound them all.
    return Distribution(float(values.min()), float(values.max()), log=parameter.mean == "geometric")


def parameter_distributions() -> list[Distribution]:
    """One empty :class:`Distribution` per parameter (:data:`PARAMETERS` order), bounded by the
    parameter's lowest and highest class value."""
    values = class_values()
    return [_distribution(p, values[i]) for i, p in enumerate(PARAMETERS)]


def add_parameters(distributions: Sequence[Distribution], block: np.ndarray) -> None:
    """Add float ``(P, ...)`` parameter values (``PARAMETER_NODATA`` left out) to the
    distributions, one per parameter."""
    flat = block.reshape(len(PARAMETERS), -1)
    for d, values in zip(distributions, flat, strict=True):
        d.add(values[values != PARAMETER_NODATA])


@dataclass
class ParameterChange:
    """Mean change of each parameter between two maps of the same cells, fed pairs of blocks.

    ``building_change``: a cell's building surface fraction counts as changed when it moved by
    more than this.
    """

    building_change: float
    cells: int = 0
    building_changed: int = 0
    before: np.ndarray = field(default_factory=lambda: np.zeros(len(PARAMETERS)))
    after: np.ndarray = field(default_factory=lambda: np.zeros(len(PARAMETERS)))

    def add(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """Add float ``(P, ...)`` values of the earlier and the later map on one grid; cells
        not mapped in either (``PARAMETER_NODATA``) are left out.

        Returns:
            float32 ``(P, ...)``: after - before, NaN where not compared.
        """
        both = (before[0] != PARAMETER_NODATA) & (after[0] != PARAMETER_NODATA)
        b = before[:, both].astype(np.float64)
        a = after[:, both].astype(np.float64)
        self.cells += int(both.sum())
        self.before += b.sum(axis=1)
        self.after += a.sum(axis=1)
        self.building_changed += int(
            (np.abs(a[BUILDING] - b[BUILDING]) > self.building_change).sum()
        )
        delta = np.full(before.shape, np.nan, dtype=np.float32)
        delta[:, both] = (a - b).astype(np.float32)
        return delta

    @property
    def mean_before(self) -> np.ndarray:
        return self.before / self.cells if self.cells else np.full(len(PARAMETERS), np.nan)

    @property
    def mean_after(self) -> np.ndarray:
        return self.after / self.cells if self.cells else np.full(len(PARAMETERS), np.nan)

    @property
    def mean_change(self) -> np.ndarray:
        """float64 ``(P,)``: the mean of after - before over the compared cells."""
        return self.mean_after - self.mean_before

    @property
    def building_changed_share(self) -> float:
        """Share of the compared cells whose building surface fraction moved by more than
        ``building_change`` (NaN without compared cells)."""
        return self.building_changed / self.cells if self.cells else math.nan
