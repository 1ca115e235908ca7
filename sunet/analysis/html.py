"""The district analysis as one self-contained HTML page (``index.html``).

The page holds its own style sheet and no script, font or any other resource from elsewhere: it
opens from the file system, offline, and shows the figures and links the tables written beside
it by relative names. Every number on it is also in a CSV table; the text says what each one
means.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

from sunet.analysis.config import ANALYSIS_RECORD
from sunet.analysis.parameters import PARAMETERS
from sunet.analysis.report import COMPUTED
from sunet.analysis.tables import QUANTILES, TABLES
from sunet.lcz import CLASSES
from sunet.mapping.districts import CITY

if TYPE_CHECKING:
    from sunet.analysis.figures import Figures
    from sunet.analysis.report import AreaAnalysis, MapAnalysis

__all__ = ["render_page"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 0 1.5em 3em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
nav a { margin-right: 1em; }
code { background: #f3f3f3; padding: 0 0.25em; word-break: break-all; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; }
th { background: #f5f5f5; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.plus { color: #b2182b; } td.minus { color: #2166ac; }
.scroll { overflow-x: auto; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #555;
          vertical-align: middle; margin-right: 0.35em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
details { margin: 0.6em 0; } summary { cursor: pointer; font-weight: 600; }
.note { background: #fff8e1; border-left: 4px solid #f0c040; padding: 0.5em 0.8em; }
footer { margin-top: 3em; font-size: 0.85em; color: #666; }
"""


def _pct(share: float) -> str:
    return "" if math.isnan(share) else f"{100 * share:.1f} %"


def _pp(difference: float) -> str:
    return f"{100 * difference:+.1f} pp"


def _value(x: float) -> str:
    """Three significant digits, without an exponent for large values (1,590, not 1.59e+03)."""
    if math.isnan(x):
        return ""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _signed(x: float) -> str:
    """A change, coloured by its sign (``plus``: higher now)."""
    if math.isnan(x):
        return '<td class="n"></td>'
    kind = "plus" if x > 0 else "minus" if x < 0 else ""
    return f'<td class="n {kind}">{"+" if x > 0 else ""}{_value(x)}</td>'


def _table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    """An HTML table; cells already formatted (a cell starting with ``<td`` is kept as is)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if cell.startswith("<td"):
                cells.append(cell)
            else:
                cls = ' class="n"' if i >= numeric_from else ""
                cells.append(f"<td{cls}>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _figure(src: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="{escape(src)}" alt="{escape(alt)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _swatch(colour: str) -> str:
    return f'<span class="swatch" style="background:{colour}"></span>'


def _reading(analysis: MapAnalysis) -> str:
    config = analysis.config
    return f"""
<section id="reading"><h2>How to read this page</h2>
<p>Each cell of the map holds 17 <em>abundances</em>: the share of the cell that each Local
Climate Zone (LCZ) covers, summing to 1. A class can be counted over an area in two ways, and
this page shows both side by side:</p>
<ul>
<li><b>By dominant class</b>: every cell counts whole for the class with its largest abundance.
This is what a map of classes (and any tool that reads one) sees.</li>
<li><b>By abundance</b>: every class counts the share it holds in every cell: its expected
area.</li>
</ul>
<p><b>Why they differ.</b> In a mixed cell the dominant class takes the whole cell, including the
shares of the other classes present. A class that is often present but seldom the largest
(scattered trees among low-rise houses, low plants between buildings) therefore nearly
disappears from the composition by dominant class, and the classes that usually win the cells
are over-counted. The more mixed the cells, the larger the gap. The <em>composition
difference</em> of an area is the share of its mapped area that the two counts attribute to
different classes (half the sum of the absolute differences of the class shares).</p>
<p><b>Mixing.</b> The normalised entropy of a cell's abundances (Shannon entropy divided by
ln 17) is 0 for a pure cell and 1 when all 17 classes are equal; it is the map's uncertainty
raster. A cell counts as <em>mixed</em> when its entropy is above {config.mixed_entropy:g};
its dominant class counts as <em>weak</em> when its abundance is below
{config.weak_dominance:g}.</p>
</section>"""


def _districts(analysis: MapAnalysis) -> str:
    rows = []
    for a in analysis.areas:
        c, m = a.composition, a.mixing
        rows.append([
            escape(a.name), f"{a.area_km2:.3f}", _pct(c.built_dominant), _pct(c.built_abundance),
            _pct(c.difference), _value(m.entropy.mean), _value(m.entropy.quantile(0.5)),
            _pct(m.mixed_share), _pct(m.weak_share),
        ])  # fmt: skip
    header = [
        "area", "mapped km²", "built, by dominant class", "built, by abundance",
        "composition difference", "entropy mean", "entropy median",
        f"mixed cells (entropy > {analysis.config.mixed_entropy:g})",
        f"weak dominant class (< {analysis.config.weak_dominance:g})",
    ]  # fmt: skip
    return f"""
<section id="districts"><h2>Districts at a glance</h2>
<p>One row per area (the city is every district together). <em>Built</em> is the share of the
mapped area in the built classes LCZ 1-10, counted both ways (the rest is natural, LCZ A-G).
Table: <a href="{TABLES["districts"]}">{TABLES["districts"]}</a>.</p>
{_table(header, rows)}
</section>"""


def _area_composition(a: AreaAnalysis, figures: Figures) -> str:
    c = a.composition
    rows = []
    for k in CLASSES:
        d, s = float(c.dominant[k.index]), float(c.abundance[k.index])
        if d == 0 and s == 0:
            continue
        rows.append([
            _swatch(k.colour) + escape(k.label), k.kind, _pct(d), _pct(s), _pp(s - d),
        ])  # fmt: skip
    header = ["class", "kind", "by dominant class", "by abundance", "abundance - dominant"]
    figure = _figure(
        figures.areas[a.folder],
        f"LCZ composition of {a.name}",
        "Each class's share by dominant class (solid) and by abundance (hatched).",
    )
    opened = " open" if a.folder == CITY else ""
    return (
        f"<details{opened}><summary>{escape(a.name)}: composition difference "
        f"{_pct(c.difference)}</summary>{_table(header, rows, numeric_from=2)}{figure}</details>"
    )


def _composition(analysis: MapAnalysis, figures: Figures) -> str:
    per_area = "".join(_area_composition(a, figures) for a in analysis.areas)
    overview = _figure(
        figures.overview,
        "LCZ composition of every area, by dominant class and by abundance",
        "For every area, the upper bar counts each cell for its dominant class, the lower one "
        "counts every class by its abundance.",
    )
    return f"""
<section id="composition"><h2>LCZ composition: dominant class and abundance</h2>
<p>The share of the mapped area in each class, counted both ways (see above), and their
difference in percentage points: positive where a class holds more of the area than the map of
dominant classes shows. Table (long format: area, class, method): <a
href="{TABLES["composition"]}">{TABLES["composition"]}</a>.</p>
{overview}
{per_area}
</section>"""


def _area_parameters(a: AreaAnalysis) -> str:
    rows = []
    for p, agg, look in zip(PARAMETERS, a.aggregated, a.lookup, strict=True):
        rows.append([
            escape(p.title), escape(p.unit),
            *[_value(x) for x in (agg.mean, *(agg.quantile(q) for q in QUANTILES.values()))],
            *[_value(x) for x in (look.mean, *(look.quantile(q) for q in QUANTILES.values()))],
        ])  # fmt: skip
    stats = ["mean", *QUANTILES]
    header = [
        "parameter", "unit",
        *[f"abundance {s}" for s in stats], *[f"lookup {s}" for s in stats],
    ]  # fmt: skip
    opened = " open" if a.folder == CITY else ""
    return (
        f"<details{opened}><summary>{escape(a.name)} ({a.cells} cells)</summary>"
        f"{_table(header, rows, numeric_from=2)}</details>"
    )


def _parameters(analysis: MapAnalysis, figures: Figures) -> str:
    computed = [a.name for a in analysis.areas if a.parameters_from == COMPUTED]
    note = (
        '<p class="note">This map has no parameter rasters of its own for '
        f"{escape(', '.join(computed))}: the values were computed from its abundances and "
        "dominant classes exactly as <code>lcz-map parameters</code> computes them; run it to "
        "have the rasters.</p>"
        if computed
        else ""
    )
    maps = "".join(
        _figure(
            name,
            f"Map of {parameter} over the city",
            "Left: aggregated from each cell's LCZ abundances by the parameter's rule; right: "
            "the value of the cell's dominant class. Grey: not mapped.",
        )
        for parameter, name in figures.parameters.items()
    )
    per_area = "".join(_area_parameters(a) for a in analysis.areas)
    return f"""
<section id="parameters"><h2>Urban canopy parameters</h2>
<p>The ten parameters of Stewart &amp; Oke (2012, Tables 3-4) per cell, in their units, two
ways: <em>abundance</em>: combined over the classes present in the cell, each parameter by its
own rule (the map's <code>lcz_parameters.tif</code>); <em>lookup</em>: the value of the cell's
dominant class, as class-lookup tools give it (<code>lcz_parameters_lookup.tif</code>). Per area:
the mean over the mapped cells, the median and the 10th and 90th percentiles (p10, p90) of the
cells' values. Table (long format: area, parameter, method): <a
href="{TABLES["parameters"]}">{TABLES["parameters"]}</a>.</p>
{note}{maps}{per_area}
</section>"""


def _changes(analysis: MapAnalysis, figures: Figures) -> str:
    if analysis.previous is None:
        return """
<section id="changes"><h2>Changes</h2>
<p>No earlier map to compare with: this is a map on its own, or the first version. Run
<code>lcz-map analyse --previous EARLIER_MAP</code> to compare two maps.</p>
</section>"""
    config = analysis.config
    compared = [a for a in analysis.areas if a.change is not None]
    rows = [
        [escape(a.name), str(a.change.cells), f"{a.change.cells * a.cell_area_m2 / 1e6:.3f}",
         _pct(a.change.building_changed_share)]
        for a in compared
        if a.change is not None
    ]  # fmt: skip
    header = [
        "area", "cells mapped in both", "km²",
        f"building fraction changed by more than {config.building_change:g}",
    ]  # fmt: skip
    by_parameter = [
        [escape(p.title), escape(p.unit),
         *[_signed(float(a.change.mean_change[i])) for a in compared if a.change is not None]]
        for i, p in enumerate(PARAMETERS)
    ]  # fmt: skip
    new = [a.name for a in analysis.areas if a.change is None]
    new_note = f"<p>Not in the earlier map: {escape(', '.join(new))}.</p>" if new else ""
    figure = (
        _figure(
            figures.change,
            f"Map of the change of {config.change_map} over the city",
            "Red: higher now, blue: lower now; grey: not mapped in both maps.",
        )
        if figures.change
        else ""
    )
    return f"""
<section id="changes"><h2>Changes since <code>{escape(analysis.previous.name)}</code></h2>
<p>Compared with the earlier map <code>{escape(str(analysis.previous))}</code>, over the cells
mapped in both (the parameters aggregated from the abundances). The first table says how much of
each area changed; the second, how each parameter moved on average (mean of now - before:
red, higher now; blue, lower now; gains and losses within an area cancel in the mean, the share
of changed cells does not). Table (one row per area): <a
href="{TABLES["changes"]}">{TABLES["changes"]}</a>.</p>
{_table(header, rows)}
{_table(["parameter", "unit", *[a.name for a in compared]], by_parameter, numeric_from=2)}
{new_note}{figure}
</section>"""


def _files(analysis: MapAnalysis) -> str:
    items = [
        (TABLES["districts"], "one row per area: size, built shares, composition difference, "
         "mixing"),
        (TABLES["composition"], "area x class x method (dominant, abundance): area (m²) and "
         "share"),
        (TABLES["parameters"], "area x parameter x method (abundance, lookup): cells, mean, "
         "median, p10, p90"),
    ]  # fmt: skip
    if analysis.previous is not None:
        items.append((TABLES["changes"], "one row per area mapped in both maps: compared cells, "
                      "share of changed building fraction, mean change of each parameter"))  # fmt: skip
    items.append((ANALYSIS_RECORD, "the options of this analysis, its areas and files"))
    lis = "".join(f'<li><a href="{n}">{n}</a>: {escape(what)}</li>' for n, what in items)
    return f'<section id="files"><h2>Files</h2><ul>{lis}</ul></section>'


def render_page(analysis: MapAnalysis, figures: Figures) -> str:
    """The page of ``analysis``, linking ``figures`` and the tables by their names."""
    n = len(analysis.areas)
    previous = (
        f"; compared with <code>{escape(str(analysis.previous))}</code>"
        if analysis.previous is not None
        else ""
    )
    cell = analysis.areas[0].cell_area_m2 ** 0.5 if analysis.areas else math.nan
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>District analysis: {escape(str(analysis.map))}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>District analysis of an LCZ map</h1>
<p>Map: <code>{escape(str(analysis.map))}</code>{previous}. {n} area(s): the city and
{n - 1} district(s), on cells of {cell:g} m.</p>
<nav><a href="#reading">How to read</a><a href="#districts">Districts</a><a
href="#composition">Composition</a><a href="#parameters">Parameters</a><a
href="#changes">Changes</a><a href="#files">Files</a></nav>
</header>
{_reading(analysis)}
{_districts(analysis)}
{_composition(analysis, figures)}
{_parameters(analysis, figures)}
{_changes(analysis, figures)}
{_files(analysis)}
<footer>Class values of the urban canopy parameters: Stewart, I. D. and Oke, T. R. (2012), Local
Climate Zones for urban temperature studies, Bulletin of the American Meteorological Society 93,
1879-1900, Tables 3 and 4. Written by <code>lcz-map analyse</code>.</footer>
</body>
</html>
"""
