"""What a mapping run reports: per area (district or city) and for the run."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sunet.lcz import top_classes
from sunet.mapping.novelty import SceneNovelty
from sunet.mapping.products import SUMMARY

if TYPE_CHECKING:
    from sunet.mapping.pipeline import MapPlan

__all__ = [
    "AreaReport",
    "ClassArea",
    "MapReport",
    "area_table",
    "map_report",
    "read_area",
    "read_summary",
]


class AreaReport(BaseModel):
    """What was mapped for one district (or the city)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="District name (or 'city').")
    folder: Path = Field(description="Output folder.")
    cells: int = Field(description="Mapped cells (valid, inside the area).")
    area_km2: float = Field(description="Mapped area, km2.")
    shares: dict[str, float] = Field(description="Share of mapped cells per dominant LCZ letter.")


class MapReport(BaseModel):
    """Summary of a mapping run (also what the Prefect flow returns)."""

    model_config = ConfigDict(extra="forbid")

    out: Path = Field(description="Output folder.")
    crs: str = Field(description="Map CRS.")
    cell_size_m: float = Field(description="Output cell side, metres (stride * gsd).")
    windows: int = Field(description="Windows planned (covering at least one district cell).")
    windows_run: int = Field(description="Windows with enough imagery, run through the model.")
    windows_skipped: int = Field(
        default=0, description="Windows not run because a base map holds their cells."
    )
    batches: int = Field(default=0, description="Model batches of the run (run or read back).")
    batches_reused: int = Field(
        default=0, description="Batches read back from resume_dir (left by a crashed run)."
    )
    seconds: float = Field(description="Wall time of the inference pass.")
    city: AreaReport
    districts: list[AreaReport]
    scenes: list[SceneNovelty] = Field(
        default_factory=list,
        description="How unlike the model's training data each scene looks (empty when the "
        "model carries no feature profile).",
    )


def map_report(
    plan: MapPlan,
    counts: dict[str, float],
    areas: list[AreaReport],
    scenes: list[SceneNovelty] | None = None,
) -> MapReport:
    """The run's report from :func:`infer_cells`' counts, :func:`write_area`'s reports (city
    first, as in :attr:`MapPlan.slugs`) and :func:`score_scenes`' scores."""
    return MapReport(
        out=plan.out,
        crs=plan.config.crs,
        cell_size_m=plan.city.cell_size,
        windows=int(counts["windows"]),
        windows_run=int(counts["windows_run"]),
        windows_skipped=int(counts.get("windows_skipped", 0)),
        batches=int(counts.get("batches", 0)),
        batches_reused=int(counts.get("batches_reused", 0)),
        seconds=float(counts["seconds"]),
        city=areas[0],
        districts=areas[1:],
        scenes=scenes or [],
    )


class ClassArea(BaseModel):
    """One row of an area's ``summary.csv``: a class's area counted two ways.

    ``dominant_*``: the cells where the class has the largest abundance, each counted whole;
    ``abundance_*``: the class's abundance summed over all cells (its expected area).
    """

    model_config = ConfigDict(extra="forbid")

    code: int = Field(description="Raster code, 1-17.")
    letter: str = Field(description="LCZ letter, '1'-'10', 'A'-'G'.")
    dominant_cells: int = Field(description="Cells where the class dominates.")
    dominant_area_m2: float = Field(description="Their area, m2.")
    dominant_share: float = Field(description="Their share of the mapped cells, 0-1.")
    abundance_area_m2: float = Field(description="Abundance-weighted area of the class, m2.")
    abundance_share: float = Field(description="Its share of the summed abundances, 0-1.")


def read_summary(folder: Path) -> list[ClassArea] | None:
    """The 17 rows of an area folder's ``summary.csv``, in raster-code order (None without one).

    Raises:
        ValueError: one line naming the file, when it lacks a column of the summary.
    """
    summary = Path(folder) / SUMMARY
    if not summary.is_file():
        return None
    with summary.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [k for k in ClassArea.model_fields if k not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{summary}: not a map summary (no column {', '.join(missing)})")
        return [ClassArea.model_validate({k: r[k] for k in ClassArea.model_fields}) for r in reader]


def read_area(folder: Path, name: str) -> AreaReport | None:
    """An area's report read back from its output folder's ``summary.csv`` (None without one)."""
    rows = read_summary(folder)
    if rows is None:
        return None
    return AreaReport(
        name=name,
        folder=folder,
        cells=sum(r.dominant_cells for r in rows),
        area_km2=sum(r.dominant_area_m2 for r in rows) / 1e6,
        shares={r.letter: r.dominant_share for r in rows},
    )


def area_table(areas: Iterable[AreaReport | tuple[str, None]]) -> str:
    """Markdown table of areas: name, mapped km², main classes (:func:`sunet.lcz.top_classes`);
    ``(name, None)`` for an area with nothing to show."""
    lines = ["| area | mapped km² | main classes |", "|---|---:|---|"]
    for area in areas:
        if isinstance(area, tuple):
            lines.append(f"| {area[0]} | - | |")
        else:
            lines.append(f"| {area.name} | {area.area_km2:.3f} | {top_classes(area.shares)} |")
    return "\n".join(lines)
