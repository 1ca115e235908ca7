"""The small maps of the district analysis tests, with abundances set by hand.

``write_district_map(root)``: 10 x 10 cells of 16 m (UTM 50N near Wuhan, written by the map's
own product writer through :func:`abundance_maps.write_map`), in three bands of rows:

* rows 0-3, 40 cells: pure LCZ 6 (open low-rise);
* rows 4-7, 40 cells: 70 % LCZ 6 + 30 % LCZ A (dense trees), dominant LCZ 6;
* rows 8-9, 20 cells: 24 % LCZ 2, 20 % LCZ 3, 20 % LCZ 8, 20 % LCZ D, 16 % LCZ G, dominant
  LCZ 2 (weak, and mixed: normalised entropy 0.565);

and a district "West Side" over columns 0-4. By dominant class the map is 80 % LCZ 6 and 20 %
LCZ 2, all built; by abundance it is 68 % LCZ 6, 12 % LCZ A, 4.8 % LCZ 2 ..., 80.8 % built.

``write_earlier_map(root)``: an earlier map of the same place, one column narrower (its grid
ends a cell earlier, so it covers the later one's grid only in part) and with rows 0-3 pure
LCZ 2 (compact mid-rise: building surface fraction 0.55, against LCZ 6's 0.30 now).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from abundance_maps import cell_box, mix, one_hot, write_map

from sunet.lcz import NUM_CLASSES

SIZE = 10
PURE, TREES, MIXED = slice(0, 4), slice(4, 8), slice(8, 10)
TREE_MIX = {6: 0.7, 11: 0.3}
FIVE_MIX = {2: 0.24, 3: 0.2, 8: 0.2, 14: 0.2, 17: 0.16}
DISTRICTS = {"West Side": cell_box(0, 0, SIZE, 5)}


def district_abundances(width: int = SIZE) -> np.ndarray:
    """float32 ``(17, 10, width)``: the map described above."""
    a = np.zeros((NUM_CLASSES, SIZE, width), dtype=np.float32)
    a[:, PURE] = one_hot(6)[:, None, None]
    a[:, TREES] = mix(TREE_MIX)[:, None, None]
    a[:, MIXED] = mix(FIVE_MIX)[:, None, None]
    return a


def write_district_map(root: Path) -> Path:
    """The map, with ``config.json`` naming its district as a mapping run records it."""
    write_map(root, district_abundances(), DISTRICTS)
    _name_districts(root)
    return root


def write_earlier_map(root: Path) -> Path:
    """The earlier map: rows 0-3 pure LCZ 2, one column narrower (see the module docstring)."""
    a = district_abundances(SIZE - 1)
    a[:, PURE] = one_hot(2)[:, None, None]
    write_map(root, a, DISTRICTS)
    _name_districts(root)
    return root


def _name_districts(root: Path) -> None:
    record = json.loads((root / "config.json").read_text())
    record["districts"] = {"west-side": "West Side"}
    (root / "config.json").write_text(json.dumps(record) + "\n")
