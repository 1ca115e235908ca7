"""Urban canopy parameters from LCZ abundances: the class values, the aggregation rules, the maths.

Every Local Climate Zone has a range of values for ten properties in Stewart & Oke (2012),
Tables 3 and 4 (``sunet/resources/lcz_classes.csv``, read by :mod:`sunet.lcz`). A class stands for
the middle of its range, as the class-lookup tools do: LCZ4r's ``lcz_get_parameters``
(github.com/ByMaxAnjos/LCZ4r, ``R/lcz_get_parameters.R``; LCZ4py on PyPI is its Python port) and
WUDAPT-to-WRF's lookup table (github.com/matthiasdemuzere/w2w, ``LCZ_UCP_lookup.csv``).
:data:`PARAMETERS` below is the one table that says, per parameter, how that class value is read
from the ranges and how the values of the classes present in a cell combine; the README ("Urban
canopy parameters") gives the reasons.

* **Class value**: the middle of the printed range. An open bound (``'<10'``, ``'>25'``) is closed
  at the parameter's ``bounds``; where the table gives no value (the height of water, ``'-'``;
  the admittance of dense trees, ``'unknown'``), ``stand_ins`` does. The roughness length comes
  from Table 3's Davenport roughness class: each class's z0 (Davenport et al. 2000) and, for a
  range of two classes, their geometric mean.
* **Aggregation** over the abundances ``a_k`` of a cell (they sum to 1): a weighted mean of the
  class values ``v_k``, with weights ``a_k * w_k`` where ``w_k`` is 1 (``area``: fractions, fluxes
  and properties per unit plan area), the class's building surface fraction (``building``: the
  height of the buildings it describes) or its open-ground fraction 1 - building fraction
  (``ground``: properties of the street canyon, seen from the ground); arithmetic, or geometric
  (``exp(sum a_k ln v_k)``) for the roughness length, which blends logarithmically.

A pure cell gets its class value under every rule. The **lookup** version
(:func:`from_classes`) gives each cell the values of its dominant class, as the class-lookup tools
do with a map of classes.

Nothing here reads or writes files: :mod:`sunet.analysis.parameter_rasters` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sunet.lcz import CLASSES, NUM_CLASSES, LczClass
from sunet.mapping.accumulate import ABUNDANCE_NODATA

__all__ = [
    "BY_NAME",
    "DAVENPORT_Z0",
    "INDEX",
    "PARAMETERS",
    "PARAMETER_NODATA",
    "Parameter",
    "class_value",
    "class_values",
    "from_abundances",
    "from_classes",
]

# Every parameter is >= 0, so the map's float nodata can never be a value.
PARAMETER_NODATA = ABUNDANCE_NODATA

# Roughness length z0 (m) of the Davenport terrain roughness classes 1-8 (Davenport et al. 2000,
# "Estimating the roughness of cities and sheltered country", the classes of Stewart & Oke's
# Table 3): sea, smooth, open, roughly open, rough, very rough, skimming, chaotic (>= 2 m).
DAVENPORT_Z0: dict[int, float] = {
    1: 0.0002, 2: 0.005, 3: 0.03, 4: 0.10, 5: 0.25, 6: 0.5, 7: 1.0, 8: 2.0,
}  # fmt: skip

Weight = Literal["area", "building", "ground"]
Mean = Literal["arithmetic", "geometric"]

_SOURCE_T3 = "Stewart & Oke (2012), BAMS 93:1879-1900, Table 3"
_SOURCE_T4 = "Stewart & Oke (2012), BAMS 93:1879-1900, Table 4"


@dataclass(frozen=True)
class Parameter:
    """One urban canopy parameter: where its class values come from and how they aggregate.

    Attributes:
        name: band and file name part, e.g. ``'sky_view_factor'``.
        title: for band descriptions and legends, e.g. ``'Sky view factor'``.
        unit: of the band (``'1'`` = dimensionless, as in CF/UDUNITS).
        column: the range column of ``lcz_classes.csv``.
        weight: ``area``, ``building`` or ``ground`` (see the module docstring).
        mean: ``arithmetic`` or ``geometric``; also how a class's range ends are averaged.
        bounds: where open range bounds close, in the table's unit (``'<10'`` -> ``(low, 10)``).
        scale: table unit -> band unit (0.01: percent -> fraction).
        classes: the table holds class numbers to translate first (Davenport class -> z0).
        stand_ins: ``(letter, value)`` (band unit) where the table gives no value.
        legend: values at the stops of the QGIS colour ramp (band unit), lowest to highest.
        source: where the class values come from.
    """

    name: str
    title: str
    unit: str
    column: str
    weight: Weight
    mean: Mean
    bounds: tuple[float, float]
    legend: tuple[float, ...]
    source: str
    scale: float = 1.0
    classes: dict[int, float] | None = None
    stand_ins: tuple[tuple[str, float], ...] = ()

    @property
    def description(self) -> str:
        """Band description: title and unit, e.g. ``'Sky view factor [1]'``."""
        return f"{self.title} [{self.unit}]"

    @property
    def aggregation(self) -> str:
        """The aggregation rule in words (band tag ``AGGREGATION``)."""
        weight = {
            "area": "abundance",
            "building": "abundance x building surface fraction of the class",
            "ground": "abundance x open-ground fraction (1 - building surface fraction) "
            "of the class",
        }[self.weight]
        if self.mean == "geometric":
            return f"geometric mean of the class values weighted by {weight} (exp of mean ln)"
        return f"mean of the class values weighted by {weight}"


def _fraction(name: str, title: str, column: str) -> Parameter:
    """A surface cover fraction: Table 3 gives percent, the band holds 0-1; shares of one plan
    area, so they add by area."""
    return Parameter(name, title, "1", column, "area", "arithmetic", bounds=(0.0, 100.0),
                     legend=(0.0, 0.25, 0.5, 0.75, 1.0), source=_SOURCE_T3, scale=0.01)  # fmt: skip


# The parameter table. Order = band order of the parameter rasters.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter("sky_view_factor", "Sky view factor", "1", "sky_view_factor", "ground",
              "arithmetic", bounds=(0.0, 1.0), legend=(0.0, 0.25, 0.5, 0.75, 1.0),
              source=_SOURCE_T3),
    # '>2' (LCZ 1) closes at 3: mid 2.5, WUDAPT-to-WRF's H2W of LCZ 1.
    Parameter("aspect_ratio", "Aspect ratio (mean height / width of street canyons)", "1",
              "aspect_ratio", "ground", "arithmetic", bounds=(0.0, 3.0),
              legend=(0.0, 0.75, 1.5, 2.25, 3.0), source=_SOURCE_T3),
    _fraction("building_surface_fraction", "Building surface fraction", "building_surface_pct"),
    _fraction("impervious_surface_fraction", "Impervious surface fraction",
              "impervious_surface_pct"),
    _fraction("pervious_surface_fraction", "Pervious surface fraction", "pervious_surface_pct"),
    # '>25' (LCZ 1, 4) closes at 75 m: mid 50 m, WUDAPT-to-WRF's MH_URB2D of LCZ 1 and 4. Water
    # has no roughness elements ('-').
    Parameter("roughness_element_height", "Height of roughness elements", "m",
              "roughness_height_m", "building", "arithmetic", bounds=(0.0, 75.0),
              legend=(0.0, 12.5, 25.0, 37.5, 50.0), source=_SOURCE_T3, stand_ins=(("G", 0.0),)),
    Parameter("roughness_length", "Terrain roughness length z0", "m", "terrain_roughness_class",
              "area", "geometric", bounds=(1.0, 8.0), classes=DAVENPORT_Z0,
              legend=tuple(DAVENPORT_Z0.values()),
              source=f"{_SOURCE_T3} (roughness class); Davenport et al. (2000) class z0"),
    # Dense trees: 'unknown' in Table 4; the range of scattered trees (1,000-1,800) stands in.
    Parameter("surface_admittance", "Surface admittance", "J m-2 s-1/2 K-1",
              "surface_admittance", "area", "arithmetic", bounds=(0.0, 2500.0),
              legend=(600.0, 1075.0, 1550.0, 2025.0, 2500.0), source=_SOURCE_T4,
              stand_ins=(("A", 1400.0),)),
    Parameter("surface_albedo", "Surface albedo", "1", "surface_albedo", "area", "arithmetic",
              bounds=(0.0, 1.0), legend=(0.0, 0.1, 0.2, 0.3, 0.4), source=_SOURCE_T4),
    # '>300' (LCZ 10) closes at 450 W m-2 (1.5 x the bound, as sunet.lcz.Range.mid): mid 375.
    Parameter("anthropogenic_heat", "Anthropogenic heat output", "W m-2",
              "anthropogenic_heat_w_m2", "area", "arithmetic", bounds=(0.0, 450.0),
              legend=(0.0, 100.0, 200.0, 300.0, 400.0), source=_SOURCE_T4),
)  # fmt: skip
# Lookups by parameter name: the parameter, and its band index (0-based) in the rasters.
BY_NAME = {p.name: p for p in PARAMETERS}
INDEX = {p.name: i for i, p in enumerate(PARAMETERS)}


def class_value(parameter: Parameter, lcz_class: LczClass) -> float:
    """The value standing for ``lcz_class`` (band unit): the middle of its Table 3/4 range.

    Raises:
        ValueError: the table gives no value and the parameter has no stand-in for the class.
    """
    stand_in = dict(parameter.stand_ins).get(lcz_class.letter)
    if stand_in is not None:
        return stand_in
    r = lcz_class.properties[parameter.column]
    if r.low is None and r.high is None:
        raise ValueError(f"{parameter.name}: Stewart & Oke give no value for {lcz_class.label}")
    low = r.low if r.low is not None else parameter.bounds[0]
    high = r.high if r.high is not None else parameter.bounds[1]
    if parameter.classes is not None:
        low, high = parameter.classes[int(low)], parameter.classes[int(high)]
    mid = math.sqrt(low * high) if parameter.mean == "geometric" else (low + high) / 2.0
    return mid * parameter.scale


def class_values() -> np.ndarray:
    """float64 ``(P, 17)``: each parameter's value of each class (raster-code order)."""
    return np.array([[class_value(p, c) for c in CLASSES] for p in PARAMETERS])


def _class_weights(values: np.ndarray) -> np.ndarray:
    """float64 ``(P, 17)``: each parameter's class weights ``w_k``."""
    bsf = values[INDEX["building_surface_fraction"]]
    by_weight = {"area": np.ones(NUM_CLASSES), "building": bsf, "ground": 1.0 - bsf}
    return np.stack([by_weight[p.weight] for p in PARAMETERS])


def from_abundances(abundances: np.ndarray) -> np.ndarray:
    """Aggregate each parameter over the classes present in a cell, by its rule.

    Args:
        abundances: float ``(17, ...)``, shares of the classes in raster-code order; cells that
            are ``ABUNDANCE_NODATA`` (-1) are not mapped.

    Returns:
        float32 ``(P, ...)`` in :data:`PARAMETERS` order; ``PARAMETER_NODATA`` where not mapped.
    """
    shape = abundances.shape[1:]
    a = abundances.reshape(NUM_CLASSES, -1)
    valid = a[0] != ABUNDANCE_NODATA
    a = np.clip(a.astype(np.float64), 0.0, None)
    values = class_values()
    weights = _class_weights(values)
    geometric = np.array([p.mean == "geometric" for p in PARAMETERS])
    values[geometric] = np.log(values[geometric])
    numerator = (weights * values) @ a  # (P, N)
    denominator = weights @ a
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = numerator / denominator
    mean[geometric] = np.exp(mean[geometric])
    ok = valid[None] & (denominator > 0)
    out = np.where(ok, mean, PARAMETER_NODATA).astype(np.float32)
    return out.reshape((len(PARAMETERS), *shape))


def from_classes(codes: np.ndarray) -> np.ndarray:
    """The class-lookup version: each cell gets the values of its class.

    Args:
        codes: integer ``(...)`` raster codes 1-17; 0 (or anything else) is not mapped.

    Returns:
        float32 ``(P, ...)`` in :data:`PARAMETERS` order; ``PARAMETER_NODATA`` where not mapped.
    """
    table = np.full((len(PARAMETERS), NUM_CLASSES + 1), PARAMETER_NODATA, dtype=np.float64)
    table[:, 1:] = class_values()
    index = np.where((codes >= 1) & (codes <= NUM_CLASSES), codes, 0).astype(np.intp)
    return table[:, index].astype(np.float32)
