"""The figures of a district analysis (PNG, in the LCZ palette; matplotlib without a display).

* ``composition.png``: every area's composition as two stacked bars, by dominant class and by
  abundance, in the LCZ colours;
* ``composition_<area>.png``: one area's classes, the two shares of each side by side;
* ``parameter_<name>.png``: a parameter over the city, aggregated from the abundances beside the
  dominant class's value, one colour bar in the parameter's unit;
* ``change_<name>.png``: with an earlier map, a parameter's change over the city.

Figures carry no creation metadata, so a rerun on the same map writes the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import LogNorm, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sunet.analysis.parameters import BY_NAME, PARAMETER_NODATA, Parameter
from sunet.analysis.summaries import Composition
from sunet.atomic import atomic_path
from sunet.lcz import CLASSES

if TYPE_CHECKING:
    from sunet.analysis.report import CityMaps, MapAnalysis

__all__ = [
    "Figures",
    "change_map",
    "composition_bars",
    "composition_overview",
    "parameter_map",
    "write_figures",
]

_NOT_MAPPED = "#d9d9d9"
_DPI = 100


@dataclass
class Figures:
    """The figure files of an analysis (names inside its folder)."""

    overview: str
    areas: dict[str, str] = field(default_factory=dict)  # area folder -> its composition
    parameters: dict[str, str] = field(default_factory=dict)  # parameter name -> its city map
    change: str | None = None

    def files(self) -> list[str]:
        return [
            self.overview,
            *self.areas.values(),
            *self.parameters.values(),
            *([self.change] if self.change else []),
        ]


def write_figures(out: Path, analysis: MapAnalysis, maps: CityMaps) -> Figures:
    """Write every figure of ``analysis`` into ``out`` and name them."""
    figures = Figures(overview="composition.png")
    composition_overview(out / figures.overview, [(a.name, a.composition) for a in analysis.areas])
    for a in analysis.areas:
        name = f"composition_{a.folder}.png"
        composition_bars(out / name, a.name, a.composition)
        figures.areas[a.folder] = name
    for parameter in analysis.config.parameter_maps:
        name = f"parameter_{parameter}.png"
        parameter_map(
            out / name,
            BY_NAME[parameter],
            maps.aggregated[parameter],
            maps.lookup[parameter],
            maps.cell_size_m,
        )
        figures.parameters[parameter] = name
    if maps.change is not None and analysis.previous is not None:
        figures.change = f"change_{analysis.config.change_map}.png"
        change_map(
            out / figures.change,
            BY_NAME[analysis.config.change_map],
            maps.change,
            maps.cell_size_m,
            analysis.previous.name,
        )
    return figures


def _save(fig: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        # No 'Software' metadata: the bytes then depend only on the map (reruns are identical).
        fig.savefig(tmp, format="png", dpi=_DPI, metadata={"Software": None})


def _legend_handles(codes: list[int]) -> list[Patch]:
    return [
        Patch(facecolor=CLASSES[c - 1].colour, edgecolor="#333333", label=CLASSES[c - 1].label)
        for c in codes
    ]


def composition_overview(path: Path, areas: list[tuple[str, Composition]]) -> None:
    """Two stacked horizontal bars per area (by dominant class, by abundance), each class in
    its LCZ colour, with a legend of the classes present anywhere."""
    height = 1.3 + 0.75 * len(areas)
    fig = Figure(figsize=(10.0, height))
    ax = fig.add_axes((0.2, 0.75 / height, 0.52, 1 - 1.2 / height))
    labels: list[str] = []
    y = 0.0
    ticks: list[float] = []
    present: set[int] = set()
    for name, c in areas:
        for method, shares in (("by dominant class", c.dominant), ("by abundance", c.abundance)):
            left = 0.0
            for k in CLASSES:
                share = float(shares[k.index])
                if share > 0:
                    ax.barh(y, 100 * share, left=100 * left, height=0.8, color=k.colour,
                            edgecolor="white", linewidth=0.3)  # fmt: skip
                    present.add(k.code)
                    left += share
            ticks.append(y)
            labels.append(f"{name}, {method}")
            y -= 1.0
        y -= 0.5
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_ylim(y + 0.5, 0.6)
    ax.set_xlabel("share of the mapped area (%)")
    ax.set_title("LCZ composition: by dominant class and by abundance", fontsize=10)
    fig.legend(handles=_legend_handles(sorted(present)), loc="center left",
               bbox_to_anchor=(0.735, 0.5), fontsize=7, frameon=False, title="LCZ")  # fmt: skip
    _save(fig, path)


def composition_bars(path: Path, name: str, c: Composition) -> None:
    """One area: per class present, its share by dominant class (solid) and by abundance
    (hatched) side by side, in the class's colour."""
    codes = [k.code for k in CLASSES if c.dominant[k.index] > 0 or c.abundance[k.index] > 0]
    fig = Figure(figsize=(max(4.5, 0.6 * len(codes) + 2.0), 3.4))
    ax = fig.add_axes((0.12, 0.17, 0.85, 0.7))
    x = np.arange(len(codes))
    colours = [CLASSES[k - 1].colour for k in codes]
    dominant = [100 * c.dominant[k - 1] for k in codes]
    abundance = [100 * c.abundance[k - 1] for k in codes]
    ax.bar(x - 0.2, dominant, width=0.4, color=colours, edgecolor="#333333", linewidth=0.5,
           label="by dominant class")  # fmt: skip
    ax.bar(x + 0.2, abundance, width=0.4, color=colours, edgecolor="#333333", linewidth=0.5,
           hatch="///", alpha=0.75, label="by abundance")  # fmt: skip
    ax.set_xticks(x, [CLASSES[k - 1].letter for k in codes])
    ax.set_xlabel("LCZ")
    ax.set_ylabel("share of the mapped area (%)")
    ax.set_title(f"{name}: LCZ composition", fontsize=10)
    handles = [
        Patch(facecolor="#bbbbbb", edgecolor="#333333", label="by dominant class"),
        Patch(facecolor="#bbbbbb", edgecolor="#333333", hatch="///", label="by abundance"),
    ]
    ax.legend(handles=handles, fontsize=8, frameon=False)
    _save(fig, path)


def _km_extent(shape: tuple[int, ...], cell_size_m: float) -> tuple[float, float, float, float]:
    h, w = shape
    return 0.0, w * cell_size_m / 1000.0, 0.0, h * cell_size_m / 1000.0


def parameter_map(
    path: Path,
    parameter: Parameter,
    aggregated: np.ndarray,
    lookup: np.ndarray,
    cell_size_m: float,
) -> None:
    """A parameter over the city: float ``(H, W)`` values from the abundances beside the
    dominant class's values (``PARAMETER_NODATA``: not mapped, in grey), one colour scale (the
    parameter's legend range, logarithmic for a geometric mean), a colour bar in its unit; ``cell_size_m``: metres per pixel."""
    h, w = aggregated.shape
    side = 4.2 / max(h, w, 1)
    fig = Figure(figsize=(2 * side * w + 2.0, side * h + 1.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    low, high = parameter.legend[0], parameter.legend[-1]
    # Roughness lengths span four decades and blend logarithmically: a log scale shows them.
    norm = LogNorm(low, high) if parameter.mean == "geometric" else Normalize(low, high)
    image = None
    for ax, values, title in (
        (axes[0], aggregated, "from the LCZ abundances"),
        (axes[1], lookup, "dominant class's value (lookup)"),
    ):
        masked = np.ma.masked_equal(values, PARAMETER_NODATA)
        ax.set_facecolor(_NOT_MAPPED)
        image = ax.imshow(masked, cmap="viridis", norm=norm, interpolation="nearest",
                          extent=_km_extent(values.shape, cell_size_m))  # fmt: skip
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("km")
    axes[0].set_ylabel("km")
    assert image is not None
    bar = fig.colorbar(image, ax=list(axes), shrink=0.85)
    bar.set_label(f"{parameter.title} [{parameter.unit}]")
    fig.suptitle(f"{parameter.title} [{parameter.unit}], city", fontsize=10)
    fig.legend(handles=[Patch(facecolor=_NOT_MAPPED, edgecolor="#999999", label="not mapped")],
               loc="outside lower left", fontsize=7, frameon=False)  # fmt: skip
    _save(fig, path)


def change_map(
    path: Path, parameter: Parameter, delta: np.ndarray, cell_size_m: float, previous: str
) -> None:
    """A parameter's change over the city since the map ``previous`` (float ``(H, W)``, NaN:
    not mapped in both, in grey), on a scale centred on no change."""
    finite = delta[np.isfinite(delta)]
    reach = float(np.abs(finite).max()) if finite.size else 0.0
    reach = reach if reach > 0 else 0.05 * (parameter.legend[-1] - parameter.legend[0])
    h, w = delta.shape
    side = 4.2 / max(h, w, 1)
    fig = Figure(figsize=(side * w + 2.0, side * h + 1.4), layout="constrained")
    ax = fig.add_subplot()
    ax.set_facecolor(_NOT_MAPPED)
    image = ax.imshow(np.ma.masked_invalid(delta), cmap="RdBu_r",
                      norm=TwoSlopeNorm(0.0, -reach, reach), interpolation="nearest",
                      extent=_km_extent(delta.shape, cell_size_m))  # fmt: skip
    ax.set_xlabel("km")
    ax.set_ylabel("km")
    ax.set_title(f"Change of {parameter.title.lower()} since {previous}", fontsize=9)
    bar = fig.colorbar(image, ax=ax, shrink=0.85)
    bar.set_label(f"change [{parameter.unit}] (red: higher now)")
    fig.legend(handles=[Patch(facecolor=_NOT_MAPPED, edgecolor="#999999",
                              label="not mapped in both")],
               loc="outside lower left", fontsize=7, frameon=False)  # fmt: skip
    _save(fig, path)
