"""The quicklook PNG: the map in the LCZ palette, nodata white, a legend of the classes present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sunet.lcz import by_code
from sunet.mapping.quicklook import _length, _scale_bar, write_quicklook


def _colours(path: Path) -> set[tuple[int, int, int]]:
    with Image.open(path) as im:
        assert im.mode == "RGB"
        return {tuple(c) for c in np.asarray(im).reshape(-1, 3)}


def test_map_and_legend_in_the_lcz_colours(tmp_path: Path) -> None:
    dominant = np.zeros((40, 80), dtype=np.uint8)
    dominant[:, :30] = 1  # LCZ 1
    dominant[:20, 30:60] = 11  # LCZ A
    dominant[20:, 30:60] = 17  # LCZ G; the rest nodata
    out = tmp_path / "q.png"
    write_quicklook(out, dominant, "Old town", 32.0, {1: 0.5, 11: 0.25, 17: 0.25})
    colours = _colours(out)
    for code in (1, 11, 17):
        assert by_code(code).rgb in colours
    assert by_code(5).rgb not in colours  # a class not on the map is not in the legend either
    with Image.open(out) as im:
        pixels = np.asarray(im)
    # The map is pasted 560 px wide below the title; its nodata third is white.
    top, left = 24 + 34, 24
    assert tuple(pixels[top + 5, left + 5]) == by_code(1).rgb
    assert tuple(pixels[top + 100, left + 540]) == (255, 255, 255)
    assert tuple(pixels[top + 200, left + 300]) == by_code(17).rgb


def test_rerun_writes_identical_bytes(tmp_path: Path) -> None:
    dominant = np.random.default_rng(0).integers(0, 18, size=(50, 30), dtype=np.uint8)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_quicklook(a, dominant, "City", 32.0)
    write_quicklook(b, dominant, "City", 32.0)
    assert a.read_bytes() == b.read_bytes()


def test_scale_bar_is_a_round_quarter_of_the_width() -> None:
    assert _scale_bar(4000.0) == 1000.0
    assert _scale_bar(300.0) == 50.0
    assert _scale_bar(9000.0) == 2000.0
    assert (_length(2000.0), _length(50.0)) == ("2 km", "50 m")
