"""A PNG quicklook of the dominant LCZ: the map in the LCZ palette, a scale bar, and a legend of
the classes present with their shares.

Drawn with Pillow (a few milliseconds, where a plotting library takes ~0.1 s per area: the
quicklook is written for every district and the city of every map). Text uses the DejaVu Sans
that matplotlib ships (found without importing it), else Pillow's own font. The bytes depend only
on the inputs: reruns write identical files.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sunet.lcz import CLASSES

__all__ = ["write_quicklook"]

_MAP_BOX = 560  # the map's longer side, pixels
_MARGIN = 24
_WHITE, _INK, _FRAME = (255, 255, 255), (34, 34, 34), (120, 120, 120)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.cache
def _font(size: int, bold: bool = False) -> Font:
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin is not None:
        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _palette() -> list[int]:
    """A 256-entry palette: code -> LCZ colour; 0 (nodata) and unused codes white."""
    table = [_WHITE] * 256
    for c in CLASSES:
        table[c.code] = c.rgb
    return [v for rgb in table for v in rgb]


def _scale_bar(width_m: float) -> float:
    """A round length (1, 2 or 5 x 10^k m) of about a quarter of the map's width."""
    target = max(width_m / 4.0, 1e-9)
    base = 10.0 ** math.floor(math.log10(target))
    return max(m * base for m in (1.0, 2.0, 5.0) if m * base <= target)


def _length(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def write_quicklook(
    path: Path,
    dominant: np.ndarray,
    title: str,
    cell_size: float,
    shares: dict[int, float] | None = None,
) -> None:
    """Render ``dominant`` (uint8 ``(H, W)`` codes, 0 = nodata, drawn white) with the LCZ palette.

    Args:
        path: PNG to write; title: e.g. the district name; cell_size: metres per pixel of
            ``dominant`` (for the scale bar); shares: code -> share of the district, shown in the
            legend.
    """
    h, w = dominant.shape
    scale = _MAP_BOX / max(h, w, 1)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    codes = Image.fromarray(np.ascontiguousarray(dominant, dtype=np.uint8), mode="P")
    codes.putpalette(_palette())
    picture = codes.resize(size, Image.Resampling.NEAREST).convert("RGB")

    title_font, text_font, bold = _font(18, bold=True), _font(12), _font(13, bold=True)
    present = [c for c in CLASSES if (dominant == c.code).any()]
    labels = [
        c.label + (f" ({shares[c.code]:.0%})" if shares and c.code in shares else "")
        for c in present
    ]
    row = 20
    legend_w = 40 + max((round(text_font.getlength(t)) for t in labels), default=0)
    legend_h = 24 + row * len(present)
    top = _MARGIN + 34  # below the title
    canvas_w = _MARGIN * 3 + size[0] + max(legend_w, 160)
    canvas_h = top + max(size[1] + 40, legend_h) + _MARGIN
    canvas = Image.new("RGB", (canvas_w, canvas_h), _WHITE)
    draw = ImageDraw.Draw(canvas)
    draw.text((_MARGIN, _MARGIN), title, font=title_font, fill=_INK)

    canvas.paste(picture, (_MARGIN, top))
    draw.rectangle((_MARGIN - 1, top - 1, _MARGIN + size[0], top + size[1]), outline=_FRAME)

    # Scale bar under the map.
    width_m = w * cell_size
    bar_m = _scale_bar(width_m)
    bar_px = max(1, round(bar_m / width_m * size[0])) if width_m > 0 else 1
    y = top + size[1] + 14
    draw.rectangle((_MARGIN, y, _MARGIN + bar_px, y + 5), fill=_INK)
    draw.text((_MARGIN + bar_px + 8, y - 5), _length(bar_m), font=text_font, fill=_INK)

    # Legend to the right.
    x = _MARGIN * 2 + size[0]
    if present:
        draw.text((x, top), "Dominant LCZ", font=bold, fill=_INK)
    for i, (c, text) in enumerate(zip(present, labels, strict=True)):
        y = top + 24 + i * row
        draw.rectangle((x, y, x + 14, y + 14), fill=c.rgb, outline=(51, 51, 51))
        draw.text((x + 22, y), text, font=text_font, fill=_INK)
    canvas.save(path, format="PNG")
