"""City looks: one planned city, rendered as different sensors, seasons and building cultures see it.

A :class:`Look` changes how a city is *rendered*, never what it *is*: the plan (zones, classes,
buildings, trees, roads) and therefore the labels and districts of a seed are the same in every
look, so a model trained on one look can be scored on another against the same truth. What a
look may change:

* **materials** (``palettes``, ``tints``): roof, road, soil, crop and water colours;
* **season** (``season``, ``leaf_off``, ``flooded_fields``): dry grass, leafless trees showing
  the ground through their branches, crop parcels flooded as rice paddies;
* **acquisition** (sun elevation and shadows, haze, per-scene gain/contrast/cast, noise), drawn
  per scene from the look's ranges;
* **sensor** (``gsd_m``, ``psf_sigma_px``, ``bit_depth``, ``jpeg_quality``, ``saturation``,
  ``sharpen``): a coarser ground pixel with its blur, 16-bit linear counts instead of 8-bit
  display values, JPEG-compressed exports, Google-Earth-like saturation and sharpening.

Built-in looks are in :data:`LOOKS` (``lcz-map synth --list-looks``); a JSON file holding a
:class:`Look` defines another one. ``default`` is the look every earlier city was rendered in,
draw for draw, so its bytes are unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sunet.colour import hue_saturation
from sunet.synth.palettes import PALETTE_IDS, PALETTE_LIST

if TYPE_CHECKING:
    from sunet.synth.layout import CityLayout

__all__ = [
    "LOOKS",
    "RANDOM",
    "Look",
    "Tint",
    "apply_look",
    "get_look",
    "look_names",
    "random_look",
]

# The look spec that draws a new random look for every scene (see random_look).
RANDOM = "random"

RGB = tuple[float, float, float]
Span = tuple[float, float]
Material = Literal["paved", "vegetation", "soil", "water"]


class Tint(BaseModel):
    """A colour change of one ground material: ``c * gain * (1 - amount) + toward * amount``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gain: RGB = Field(default=(1.0, 1.0, 1.0), description="Per-band multiplier.")
    toward: RGB = Field(default=(128.0, 128.0, 128.0), description="Colour mixed in, 0-255.")
    amount: float = Field(default=0.0, ge=0, le=1, description="Share of `toward` mixed in.")

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """``(n, 3)`` colours -> tinted ``(n, 3)`` float32, clipped to 1-255."""
        g = np.asarray(self.gain, dtype=np.float32)
        t = np.asarray(self.toward, dtype=np.float32)
        out = rgb.astype(np.float32) * g * np.float32(1 - self.amount) + t * np.float32(self.amount)
        return np.clip(out, 1.0, 255.0).astype(np.float32)


class Look(BaseModel):
    """How a city is rendered (see the module docstring). Ranges ``(low, high)`` are drawn
    uniformly per scene; the defaults are the ``default`` look."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Name of the look (written into city.json and scene tags).")
    summary: str = Field(default="", description="One line saying what the look is.")
    # Acquisition, drawn per scene.
    sun_azimuth: Span = Field(default=(110.0, 230.0), description="Direction to the sun, deg.")
    sun_elevation: Span = Field(
        default=(36.0, 70.0), description="Sun elevation, deg; shadows are h / tan(elevation)."
    )
    view_off_nadir: Span = Field(default=(2.0, 18.0), description="Off-nadir view angle, deg.")
    gain: Span = Field(default=(0.86, 1.12), description="Overall brightness factor.")
    contrast: Span = Field(default=(0.85, 1.15), description="Contrast factor about grey 110.")
    cast_sd: RGB = Field(
        default=(0.035, 0.025, 0.04), description="Standard deviation of per-band gains (cast)."
    )
    gamma: Span = Field(default=(0.9, 1.1), description="Display gamma of the scene.")
    haze: Span = Field(default=(0.0, 0.22), description="Share of haze light mixed in.")
    noise: Span = Field(default=(1.5, 4.0), description="Sensor noise, DN (8-bit scale).")
    season: Span = Field(
        default=(0.0, 1.0),
        description="Dryness of grass and crops, 0 (green) to 1; drawn as low + (high - low) "
        "* u ** 1.5.",
    )
    glint_chance: float = Field(
        default=0.3, ge=0, le=1, description="Chance that a scene shows sun glint on water."
    )
    shadow_depth: Span = Field(default=(0.45, 0.62), description="Darkening in full shadow.")
    blur: Span = Field(default=(0.45, 0.75), description="Optical blur, Gaussian sigma in px.")
    # Season and materials, the same for every scene of the look.
    leaf_off: float = Field(
        default=0.0, ge=0, le=1, description="Share of trees without leaves (bare branches)."
    )
    flooded_fields: float = Field(
        default=0.0, ge=0, le=1, description="Share of crop parcels flooded as rice paddies."
    )
    palettes: dict[str, list[RGB]] = Field(
        default_factory=dict,
        description="Colour palettes replaced by name (roofs: highrise, midrise, tile, metal, "
        "shack, industrial, hut, village, site; ground: grass, dry, soil, crop, road ...).",
    )
    tints: dict[Material, Tint] = Field(
        default_factory=dict, description="Colour changes of each zone's ground materials."
    )
    saturation: float = Field(default=1.0, gt=0, le=3, description="Colour saturation factor.")
    sharpen: float = Field(
        default=0.0, ge=0, le=3, description="Unsharp-mask strength (image exports often have it)."
    )
    # Sensor and file.
    gsd_m: float | None = Field(
        default=None,
        gt=0,
        le=5,
        description="Ground pixel of the written scenes, m (None = the city's); coarser than "
        "the city's is rendered at the city's and resampled through the sensor's blur.",
    )
    psf_sigma_px: float = Field(
        default=0.45,
        ge=0,
        le=3,
        description="Sensor blur before resampling to gsd_m, Gaussian sigma in output pixels.",
    )
    bit_depth: Literal[8, 16] = Field(
        default=8,
        description="8: display-ready uint8; 16: uint16 linear counts (11-bit range, no gamma).",
    )
    jpeg_quality: int | None = Field(
        default=None,
        ge=10,
        le=95,
        description="Write scenes JPEG-compressed at this quality (with an internal mask), "
        "like image exports; None = lossless.",
    )

    @model_validator(mode="after")
    def _check(self) -> Look:
        for name in self.palettes:
            if name not in PALETTE_IDS:
                raise ValueError(f"unknown palette {name!r}; expected one of {sorted(PALETTE_IDS)}")
            if not self.palettes[name]:
                raise ValueError(f"palette {name!r} is empty")
        for field in ("sun_azimuth", "sun_elevation", "view_off_nadir", "gain", "contrast",
                      "gamma", "haze", "noise", "season", "shadow_depth", "blur"):  # fmt: skip
            low, high = getattr(self, field)
            if high < low:
                raise ValueError(f"{field}: high {high} < low {low}")
        if not (5.0 <= self.sun_elevation[0] and self.sun_elevation[1] <= 90.0):
            raise ValueError("sun_elevation must lie in 5-90 degrees")
        if self.bit_depth == 16 and self.jpeg_quality is not None:
            raise ValueError("JPEG compression is for 8-bit scenes only")
        return self


# fmt: off
_ARID_ROOFS: dict[str, list[RGB]] = {
    "highrise": [(226, 218, 200), (210, 204, 190), (236, 232, 222), (190, 182, 168), (200, 196, 186)],
    "midrise": [(232, 224, 206), (214, 200, 176), (240, 236, 228), (200, 170, 140), (222, 214, 196)],
    "tile": [(196, 112, 78), (182, 98, 70), (210, 136, 96), (226, 214, 192), (170, 96, 72)],
    "shack": [(210, 200, 180), (180, 170, 150), (150, 140, 120), (196, 186, 160)],
    "industrial": [(214, 210, 200), (190, 186, 176), (230, 230, 226), (170, 160, 146)],
    "metal": [(230, 230, 228), (208, 210, 212), (196, 200, 204)],
    "village": [(206, 186, 150), (190, 160, 120), (220, 200, 170)],
    "grass": [(120, 124, 80), (134, 132, 90), (110, 114, 76)],
    "crop": [(128, 136, 76), (150, 146, 96), (110, 126, 70)],
    "crown": [(86, 96, 64), (100, 106, 72), (76, 88, 58), (112, 114, 80)],
    "shrub": [(132, 126, 96), (120, 118, 88), (144, 136, 104)],
    "road": [(128, 124, 118), (196, 190, 178), (206, 184, 150)],
}
_MONSOON_ROOFS: dict[str, list[RGB]] = {
    "shack": [(52, 104, 168), (70, 124, 178), (168, 72, 56), (150, 150, 150), (60, 140, 150)],
    "industrial": [(56, 110, 170), (80, 130, 180), (168, 80, 60), (150, 150, 146)],
    "metal": [(64, 120, 176), (90, 150, 190), (200, 204, 206)],
    "tile": [(168, 70, 52), (150, 60, 48), (120, 110, 104), (180, 96, 64)],
    "village": [(160, 80, 60), (140, 70, 56), (120, 108, 100)],
    "crop": [(60, 132, 52), (74, 148, 58), (88, 156, 66)],
    "grass": [(66, 124, 50), (80, 138, 58), (58, 112, 46)],
    "crown": [(36, 84, 36), (44, 96, 40), (54, 104, 44)],
}
# fmt: on

LOOKS: dict[str, Look] = {
    "default": Look(
        name="default",
        summary="the embedded city: Google-Earth-like 8-bit RGB at 1 m, late summer, "
        "central-Chinese materials",
    ),
    "winter": Look(
        name="winter",
        summary="the same materials in winter: leafless trees, dormant grass and fallow "
        "fields, low sun with long deep shadows, cold cast and smog",
        sun_elevation=(22.0, 32.0),
        shadow_depth=(0.55, 0.72),
        season=(0.75, 1.0),
        leaf_off=0.8,
        haze=(0.12, 0.32),
        cast_sd=(0.02, 0.02, 0.03),
        gain=(0.8, 1.0),
        contrast=(0.75, 0.95),
        tints={
            "vegetation": Tint(gain=(1.0, 0.92, 0.8), toward=(118, 108, 84), amount=0.45),
            "water": Tint(gain=(0.9, 0.95, 1.05), toward=(96, 104, 110), amount=0.3),
            "soil": Tint(gain=(0.92, 0.9, 0.88)),
        },
    ),
    "monsoon": Look(
        name="monsoon",
        summary="a humid monsoon city in the rice season: flooded paddies, lush saturated "
        "vegetation, blue steel and red tile roofs, high sun, humid haze",
        sun_elevation=(62.0, 82.0),
        season=(0.0, 0.15),
        flooded_fields=0.75,
        haze=(0.1, 0.3),
        saturation=1.2,
        palettes=_MONSOON_ROOFS,
        tints={
            "soil": Tint(gain=(0.78, 0.74, 0.72)),
            "water": Tint(gain=(0.85, 1.0, 0.95), toward=(80, 100, 92), amount=0.25),
        },
    ),
    "arid": Look(
        name="arid",
        summary="a dry-climate city: pale concrete and terracotta roofs, sand soils, sparse "
        "olive vegetation, bright harsh light",
        sun_elevation=(55.0, 78.0),
        gain=(1.0, 1.15),
        contrast=(1.0, 1.25),
        season=(0.5, 1.0),
        haze=(0.0, 0.12),
        palettes=_ARID_ROOFS,
        tints={
            "soil": Tint(toward=(206, 184, 146), amount=0.55),
            "paved": Tint(gain=(1.12, 1.1, 1.06)),
            "vegetation": Tint(toward=(130, 126, 86), amount=0.35),
            "water": Tint(gain=(0.8, 1.0, 1.1), toward=(60, 100, 120), amount=0.25),
        },
    ),
    "satellite-16bit": Look(
        name="satellite-16bit",
        summary="a pan-sharpened satellite product: 1.4 m pixels with the sensor's blur and "
        "noise, uint16 linear counts (11-bit), muted colour, light haze",
        gsd_m=1.4,
        psf_sigma_px=0.6,
        noise=(3.0, 6.0),
        bit_depth=16,
        saturation=0.8,
        haze=(0.05, 0.2),
        view_off_nadir=(5.0, 25.0),
    ),
    "ge-jpeg": Look(
        name="ge-jpeg",
        summary="Google-Earth-style exports: JPEG-compressed (quality 55), saturated and "
        "sharpened, scenes from different dates with strongly different radiometry",
        jpeg_quality=55,
        saturation=1.3,
        sharpen=0.8,
        gain=(0.75, 1.25),
        contrast=(0.8, 1.35),
        cast_sd=(0.07, 0.05, 0.08),
        gamma=(0.8, 1.25),
        haze=(0.0, 0.3),
    ),
}


def look_names() -> list[str]:
    """Names of the built-in looks."""
    return list(LOOKS)


# Palettes a random look may recolour: roofs, ground, vegetation, roads.
_RECOLOURED = ("highrise", "midrise", "tile", "metal", "shack", "industrial", "hut", "village",
               "site", "paved", "grass", "dry", "soil", "crop", "crown", "shrub", "road")  # fmt: skip


def _recolour(colours: np.ndarray, turn: float, saturation: float, brightness: float) -> np.ndarray:
    """Turn the hue (radians), scale the saturation and brightness of ``(n, 3)`` RGB colours."""
    return np.clip(hue_saturation(colours * brightness, turn, saturation), 12.0, 245.0)


def random_look(rng: np.random.Generator, name: str = RANDOM) -> Look:
    """A look drawn at random around ``default``: recoloured materials, another season, sun,
    haze and sensor (for training data that spans looks, as domain randomisation does; the
    named looks are not among the draws' targets, only somewhere inside their ranges)."""
    palettes: dict[str, list[RGB]] = {}
    for pal in _RECOLOURED:
        if rng.random() < 0.5:
            base = PALETTE_LIST[PALETTE_IDS[pal]]
            colours = _recolour(base, rng.uniform(-0.7, 0.7), rng.uniform(0.6, 1.5),
                                rng.uniform(0.8, 1.2))  # fmt: skip
            palettes[pal] = [tuple(float(v) for v in c) for c in colours]  # type: ignore[misc]
    materials: tuple[Material, ...] = ("paved", "vegetation", "soil", "water")
    tints = {
        material: Tint(
            gain=tuple(float(g) for g in rng.uniform(0.85, 1.15, 3)),  # type: ignore[arg-type]
            toward=tuple(float(t) for t in rng.uniform(40, 220, 3)),  # type: ignore[arg-type]
            amount=float(rng.uniform(0.0, 0.35)),
        )
        for material in materials
        if rng.random() < 0.6
    }
    season_low = float(rng.uniform(0.0, 0.7))
    elevation_low = float(rng.uniform(20.0, 60.0))
    coarse = rng.random() < 0.35
    sixteen = rng.random() < 0.2
    jpeg = not sixteen and rng.random() < 0.3
    return Look(
        name=name,
        summary="drawn at random (lcz-map synth --look random)",
        sun_elevation=(elevation_low, min(elevation_low + float(rng.uniform(5, 25)), 88.0)),
        haze=(0.0, float(rng.uniform(0.05, 0.35))),
        gain=(float(rng.uniform(0.75, 0.95)), float(rng.uniform(1.0, 1.25))),
        contrast=(float(rng.uniform(0.75, 0.95)), float(rng.uniform(1.0, 1.3))),
        season=(season_low, min(season_low + float(rng.uniform(0.1, 0.5)), 1.0)),
        leaf_off=float(rng.uniform(0.2, 0.9)) if rng.random() < 0.4 else 0.0,
        flooded_fields=float(rng.uniform(0.2, 0.8)) if rng.random() < 0.35 else 0.0,
        palettes=palettes,
        tints=tints,
        saturation=float(rng.uniform(0.75, 1.3)),
        sharpen=float(rng.uniform(0.2, 1.0)) if rng.random() < 0.3 else 0.0,
        gsd_m=float(rng.uniform(1.1, 1.45)) if coarse else None,
        bit_depth=16 if sixteen else 8,
        jpeg_quality=int(rng.integers(40, 86)) if jpeg else None,
    )


def get_look(spec: str) -> Look:
    """A built-in look by name, or a look defined in a JSON file.

    Raises:
        ValueError: one line, for an unknown name or an invalid file.
    """
    if spec in LOOKS:
        return LOOKS[spec]
    if spec == RANDOM:
        return random_look(np.random.default_rng(0))
    path = Path(spec)
    if path.suffix.lower() == ".json" or path.is_file():
        if not path.is_file():
            raise ValueError(f"{path}: no such look file")
        try:
            return Look.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, ValidationError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            if isinstance(e, ValidationError):
                err = e.errors()[0]
                first = f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
            raise ValueError(f"{path}: not a valid look ({first})") from None
    raise ValueError(
        f"unknown look {spec!r}; built-in looks: {', '.join(LOOKS)}, {RANDOM} (or a .json file)"
    )


def apply_look(plan: CityLayout, look: Look) -> CityLayout:
    """The plan as this look renders it: ground colours tinted, palettes replaced.

    Zones, geometry and every random draw stay those of ``plan``; only colours change.
    """
    if not look.palettes and not look.tints:
        return plan
    palettes = list(PALETTE_LIST)
    for name, colours in look.palettes.items():
        palettes[PALETTE_IDS[name]] = np.asarray(colours, dtype=np.float32)
    table = plan.table
    columns = {"paved": "paved_rgb", "vegetation": "veg_rgb", "soil": "soil_rgb",
               "water": "water_rgb"}  # fmt: skip
    changed = {columns[m]: tint.apply(getattr(table, columns[m])) for m, tint in look.tints.items()}
    return dataclasses.replace(
        plan, table=dataclasses.replace(table, **changed), palettes=tuple(palettes)
    )
