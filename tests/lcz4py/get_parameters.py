"""LCZ4py's class-lookup parameters of an LCZ raster, for the comparison test.

Run with the Python of a virtual environment that has LCZ4py (not the project's):

    python tests/lcz4py/get_parameters.py LCZ_RASTER OUT_NPZ

Calls ``LCZ4py.lcz_get_parameters(LCZ_RASTER, istack=False)`` (one array per parameter), saves
the arrays to ``OUT_NPZ`` and prints one JSON line: LCZ4py's version and the parameter names.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main(raster: str, out: str) -> int:
    import LCZ4py
    from LCZ4py import lcz_get_parameters

    layers = lcz_get_parameters(raster, istack=False)
    np.savez(out, **{name: np.asarray(a) for name, a in layers.items()})
    print(json.dumps({"version": LCZ4py.__version__, "names": list(layers)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
