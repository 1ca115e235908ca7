"""The Local Climate Zone class registry: the single source of truth for every stage.

The 17 classes of Stewart & Oke (2012) with the raster coding of LCZ products (WUDAPT, the global
LCZ map): codes 1-10 for the built types, 11-17 for LCZ A-G. The class table ships with the package
(``resources/lcz_classes.csv``) together with the standard palette and the property ranges of
Stewart & Oke's Tables 3 (geometric and surface cover: sky view factor ... terrain roughness class)
and 4 (thermal, radiative and metabolic: surface admittance, surface albedo, anthropogenic heat
output), as printed there. The synthetic city renders each class from them;
:mod:`sunet.analysis.parameters` turns them into urban canopy parameters.

Everything that needs a class order (model outputs, abundance columns, raster bands, styles) uses
:data:`CLASSES` in raster-code order; index ``i`` of a model output is raster code ``i + 1``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

__all__ = [
    "CLASSES",
    "NUM_CLASSES",
    "LczClass",
    "UnknownLczValueError",
    "abundance_columns",
    "by_code",
    "parse_lcz",
    "parse_lcz_values",
    "Range",
    "top_classes",
]


@dataclass(frozen=True)
class Range:
    """A property range from Stewart & Oke's Tables 3-4, e.g. ``'40-60'``, ``'>25'``, ``'<10'``,
    or one value (``'1500'``, both bounds equal).

    ``low``/``high`` are ``None`` where the table gives an open bound; ``'-'`` (undefined, as for
    the height of water) and ``'unknown'`` (the admittance of dense trees) give both ``None``.
    """

    low: float | None
    high: float | None

    @classmethod
    def parse(cls, text: str) -> Range:
        text = text.strip()
        if text in ("", "-", "unknown"):
            return cls(None, None)
        if text.startswith(">"):
            return cls(float(text[1:]), None)
        if text.startswith("<"):
            return cls(None, float(text[1:]))
        if "-" not in text:
            return cls(float(text), float(text))
        low, high = text.split("-")
        return cls(float(low), float(high))

    def mid(self, open_low: float = 0.0, open_high: float | None = None) -> float:
        """A representative value: the midpoint, with open bounds closed by the given values."""
        low = self.low if self.low is not None else open_low
        if self.high is not None:
            high = self.high
        elif open_high is not None:
            high = open_high
        else:
            high = low * 1.5 if low else 1.0
        return (low + high) / 2.0


@dataclass(frozen=True)
class LczClass:
    """One Local Climate Zone.

    Attributes:
        code: the raster code, 1-17 (11-17 = LCZ A-G).
        letter: ``'1'`` ... ``'10'``, ``'A'`` ... ``'G'``.
        name: Stewart & Oke's name, e.g. ``'Compact high-rise'``.
        kind: ``'built'`` or ``'natural'``.
        colour: the standard LCZ palette colour, ``'#rrggbb'``.
        properties: Tables 3-4 ranges keyed by column name (``building_surface_pct`` ...).
    """

    code: int
    letter: str
    name: str
    kind: str
    colour: str
    properties: dict[str, Range]

    @property
    def index(self) -> int:
        """Position in model outputs and abundance vectors (``code - 1``)."""
        return self.code - 1

    @property
    def label(self) -> str:
        """Display label, e.g. ``'LCZ 1 Compact high-rise'`` or ``'LCZ G Water'``."""
        return f"LCZ {self.letter} {self.name}"

    @property
    def column(self) -> str:
        """Abundance column name: ``lcz_1`` ... ``lcz_10``, ``lcz_A`` ... ``lcz_G``."""
        return f"lcz_{self.letter}"

    @property
    def rgb(self) -> tuple[int, int, int]:
        c = self.colour.lstrip("#")
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)

    @property
    def is_built(self) -> bool:
        return self.kind == "built"


_PROPERTY_COLUMNS = (
    "sky_view_factor",
    "aspect_ratio",
    "building_surface_pct",
    "impervious_surface_pct",
    "pervious_surface_pct",
    "roughness_height_m",
    "terrain_roughness_class",
    "surface_admittance",
    "surface_albedo",
    "anthropogenic_heat_w_m2",
)


def _load() -> tuple[LczClass, ...]:
    text = resources.files("sunet").joinpath("resources/lcz_classes.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    classes = tuple(
        LczClass(
            code=int(r["raster_code"]),
            letter=r["letter"],
            name=r["name"],
            kind=r["kind"],
            colour=r["colour"],
            properties={k: Range.parse(r[k]) for k in _PROPERTY_COLUMNS},
        )
        for r in rows
    )
    codes = [c.code for c in classes]
    if codes != list(range(1, 18)):
        raise ValueError(f"lcz_classes.csv: expected raster codes 1-17 in order, got {codes}")
    return classes


CLASSES: tuple[LczClass, ...] = _load()
NUM_CLASSES: int = len(CLASSES)
_BY_CODE = {c.code: c for c in CLASSES}
_BY_LETTER = {c.letter.upper(): c for c in CLASSES}


def by_code(code: int) -> LczClass:
    """The class with raster code ``code`` (1-17)."""
    try:
        return _BY_CODE[int(code)]
    except KeyError:
        raise UnknownLczValueError([code]) from None


def abundance_columns() -> list[str]:
    """Abundance column names in raster-code order (``lcz_1`` ... ``lcz_G``)."""
    return [c.column for c in CLASSES]


def top_classes(shares: Mapping[str, float], n: int = 3) -> str:
    """The ``n`` largest class shares of an area as text, e.g. ``"LCZ 6 40%, LCZ D 30%"``.

    Args:
        shares: class letter (``"6"``, ``"D"``) -> share of the area, 0-1; zero shares are left
            out, ties keep their order in ``shares``.
    """
    top = sorted(((k, v) for k, v in shares.items() if v > 0), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"LCZ {k} {v:.0%}" for k, v in top)


class UnknownLczValueError(ValueError):
    """Raised for label values that name no LCZ; ``values`` lists every offending value."""

    def __init__(self, values: Iterable[Any], source: str | None = None) -> None:
        self.values = sorted({repr(v) for v in values})
        where = f"{source}: " if source else ""
        super().__init__(
            f"{where}unknown LCZ label value(s) {', '.join(self.values)}; "
            "expected 1-17, '1'-'10', 'A'-'G' or forms like 'LCZ 5', 'lcz-a', 'LCZ_G'"
        )


# 'LCZ 5', 'lcz-a', 'LCZ_G', 'lcz10', '5', 'a', ' E ' ...
_LABEL_RE = re.compile(r"^\s*(?:lcz[\s_\-]*)?([0-9]{1,2}|[a-g])\s*$", re.IGNORECASE)


def _parse_one(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value) if 1 <= int(value) <= 17 else None
    if isinstance(value, (float, np.floating)):
        if np.isfinite(value) and float(value).is_integer() and 1 <= int(value) <= 17:
            return int(value)
        return None
    if isinstance(value, str):
        m = _LABEL_RE.match(value)
        if not m:
            return None
        token = m.group(1).upper()
        if token.isdigit():
            # A string '11'..'17' is ambiguous with raster codes only in numeric columns; in text
            # forms 'LCZ 11' does not exist, so only 1-10 are accepted as text digits.
            n = int(token)
            return n if 1 <= n <= 10 else None
        return _BY_LETTER[token].code
    return None


def parse_lcz(value: Any) -> int:
    """Parse one label value into a raster code 1-17.

    Accepts integer raster codes 1-17, the strings ``'1'``-``'10'`` and ``'A'``-``'G'``, and
    prefixed forms such as ``'LCZ 5'``, ``'lcz-a'``, ``'LCZ_G'``, in any case.

    Raises:
        UnknownLczValueError: if the value names no LCZ.
    """
    code = _parse_one(value)
    if code is None:
        raise UnknownLczValueError([value])
    return code


def parse_lcz_values(values: Iterable[Any], source: str | None = None) -> np.ndarray:
    """Parse a column of label values into raster codes (``uint8`` array).

    Raises:
        UnknownLczValueError: listing every distinct value that names no LCZ (and ``source``, e.g.
            the label file, in the message).
    """
    values = list(values)
    codes = [_parse_one(v) for v in values]
    bad = [v for v, c in zip(values, codes, strict=True) if c is None]
    if bad:
        raise UnknownLczValueError(bad, source)
    return np.asarray(codes, dtype=np.uint8)
