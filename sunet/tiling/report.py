"""What a tiling run produced and dropped (``report.json``) and its terminal table."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sunet.lcz import CLASSES

__all__ = ["TileReport"]


class TileReport(BaseModel):
    """Counts of a tiling run. Saved as ``report.json``; :meth:`table` prints it."""

    model_config = ConfigDict(extra="forbid")

    out: str = Field(description="The store folder.")
    crs: str = Field(description="Tiling CRS (EPSG:NNNN or WKT).")
    gsd: float = Field(description="Metres per pixel.")
    patch: int = Field(description="Patch side, pixels.")
    patches: int = Field(description="Patches in the store.")
    cells_seen: int = Field(description="Grid cells covered by at least one scene.")
    scenes: int = Field(description="Scenes read.")
    scenes_reused: int = Field(description="Scenes whose cached result was reused.")
    patches_per_scene: dict[str, int] = Field(description="Stored patches taken from each scene.")
    by_split: dict[str, int] = Field(description="Patches per split.")
    by_kind: dict[str, dict[str, int]] = Field(description="Patches per kind, per split.")
    by_class: dict[str, dict[str, int]] = Field(
        description="Patches per dominant class (LCZ letter), per split."
    )
    dropped: dict[str, int] = Field(
        description="Cells dropped, by reason: unlabelled (labelled share below the minimum), "
        "nodata (best scene leaves too much nodata), sampled_out (removed by sampling)."
    )
    duplicates_resolved: int = Field(
        description="Cells covered by more than one scene (each stored once, from the best)."
    )
    labels_repaired: int = Field(description="Invalid label geometries repaired with make_valid.")
    labels_dropped: dict[str, int] = Field(description="Label features dropped, by reason.")
    labels_outside_scenes: int = Field(description="Label polygons touching no scene.")
    warnings: list[str] = Field(default_factory=list, description="Warnings, one line each.")
    seconds: float = Field(default=0.0, description="Wall-clock time of the run.")

    def table(self) -> str:
        """A plain-text summary for the terminal."""
        splits = list(self.by_split)
        head = f"{'':<26}" + "".join(f"{s:>8}" for s in splits) + f"{'total':>8}"
        lines = [
            f"patch store {self.out}: {self.patches} patches of {self.patch} px at {self.gsd} m "
            f"in {self.crs}, from {self.scenes} scenes ({self.scenes_reused} cached)",
            head,
            "-" * len(head),
        ]

        def row(name: str, counts: dict[str, int]) -> str:
            cells = "".join(f"{counts.get(s, 0):>8}" for s in splits)
            return f"{name:<26}{cells}{sum(counts.values()):>8}"

        lines.append(row("all", self.by_split))
        for kind, counts in self.by_kind.items():
            lines.append(row(kind, counts))
        for cls in CLASSES:
            if cls.letter in self.by_class:
                lines.append(row(cls.label[:26], self.by_class[cls.letter]))
        drops = ", ".join(f"{k} {v}" for k, v in self.dropped.items() if v) or "none"
        lines.append(f"dropped cells: {drops}; duplicates resolved: {self.duplicates_resolved}")
        lines.append(
            f"labels: {self.labels_repaired} repaired, "
            f"{sum(self.labels_dropped.values())} dropped, "
            f"{self.labels_outside_scenes} outside every scene"
        )
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)
