"""The LCZ class-similarity weights behind the WUDAPT weighted overall accuracy (OA_w).

Source: Bechtel, B., Demuzere, M. & Stewart, I. D. (2020). "A Weighted Accuracy Measure for Land
Cover Mapping: Comment on Johnson et al. Local Climate Zone (LCZ) Map Accuracy Assessments Should
Account for Land Cover Physical Characteristics that Affect the Local Thermal Environment".
Remote Sensing 12(11): 1769, doi:10.3390/rs12111769 (supplementary table). That comment sets out
the class-similarity weighting behind OA_w as used in the WUDAPT evaluation of Bechtel et al. (2019), "Generating WUDAPT
Level 0 data - Current status of production and evaluation", Urban Climate 27: 24-45.

How the weights are built (2020 paper): a 12-point dissimilarity score over four surface
properties - openness and height (1 point per degree of separation), land cover and surface
objects (3 points per degree) - normalised to [0, 1] and inverted, so every value is k/12 printed
with two decimals (0.92 = 11/12, 0.08 = 1/12). Worked example from the paper: LCZ 1 vs LCZ 4 =
1 (compact vs open) + 0 + 3 (impervious vs pervious) + 0 = 4 -> 1 - 4/12 = 0.67.

Provenance caveat: the paper itself could not be consulted here. The values are the 2020 table as
given by two independent public transcriptions, which agree cell for cell except one cell of one
of them (A/8, printed there as 0.2; symmetry and the other copy give 0.42). Neither could be
compared with the 2019 Urban Climate paper, and the 2020 paper is reported to call the scheme
still under revision, so OA_w is comparable with published figures only where they use this table.
"""

from __future__ import annotations

import numpy as np

from sunet.lcz import CLASSES

__all__ = ["LCZ_SIMILARITY", "similarity_matrix"]

# Rows = reference class, columns = predicted class, both in raster-code order 1..10, A..G.
_TABLE = """
1.00 0.92 0.83 0.67 0.58 0.50 0.58 0.75 0.42 0.75 0.33 0.25 0.08 0.00 0.25 0.00 0.00
0.92 1.00 0.92 0.58 0.67 0.58 0.67 0.83 0.42 0.83 0.42 0.33 0.25 0.08 0.33 0.08 0.08
0.83 0.92 1.00 0.50 0.58 0.67 0.75 0.92 0.58 0.92 0.50 0.42 0.33 0.17 0.42 0.17 0.17
0.67 0.58 0.50 1.00 0.92 0.83 0.75 0.50 0.75 0.58 0.50 0.58 0.50 0.33 0.08 0.33 0.33
0.58 0.67 0.58 0.92 1.00 0.92 0.83 0.67 0.83 0.67 0.58 0.67 0.50 0.42 0.17 0.42 0.42
0.50 0.58 0.67 0.83 0.92 1.00 0.92 0.75 0.92 0.75 0.67 0.75 0.67 0.58 0.25 0.50 0.50
0.58 0.67 0.75 0.75 0.83 0.92 1.00 0.67 0.83 0.67 0.75 0.67 0.58 0.42 0.17 0.42 0.42
0.75 0.83 0.92 0.50 0.67 0.75 0.67 1.00 0.75 0.92 0.42 0.50 0.42 0.25 0.50 0.33 0.33
0.42 0.42 0.58 0.75 0.83 0.92 0.83 0.75 1.00 0.67 0.58 0.67 0.75 0.58 0.33 0.58 0.58
0.75 0.83 0.92 0.58 0.67 0.75 0.67 0.92 0.67 1.00 0.42 0.50 0.42 0.25 0.50 0.33 0.33
0.33 0.42 0.50 0.50 0.58 0.67 0.75 0.42 0.58 0.42 1.00 0.92 0.83 0.67 0.42 0.67 0.67
0.25 0.33 0.42 0.58 0.67 0.75 0.67 0.50 0.67 0.50 0.92 1.00 0.92 0.75 0.50 0.75 0.75
0.08 0.25 0.33 0.50 0.50 0.67 0.58 0.42 0.75 0.42 0.83 0.92 1.00 0.83 0.58 0.83 0.83
0.00 0.08 0.17 0.33 0.42 0.58 0.42 0.25 0.58 0.25 0.67 0.75 0.83 1.00 0.75 0.92 0.92
0.25 0.33 0.42 0.08 0.17 0.25 0.17 0.50 0.33 0.50 0.42 0.50 0.58 0.75 1.00 0.75 0.75
0.00 0.08 0.17 0.33 0.42 0.50 0.42 0.33 0.58 0.33 0.67 0.75 0.83 0.92 0.75 1.00 0.92
0.00 0.08 0.17 0.33 0.42 0.50 0.42 0.33 0.58 0.33 0.67 0.75 0.83 0.92 0.75 0.92 1.00
"""


def similarity_matrix() -> np.ndarray:
    """The (17, 17) float64 similarity weights ``w[reference, predicted]`` in [0, 1].

    Checked on load: unit diagonal, symmetric, and LCZ 1 closer to LCZ 4 (both high-rise) than
    to LCZ B (scattered trees), which a transposed or re-ordered table would break.
    """
    w = np.array([[float(v) for v in line.split()] for line in _TABLE.strip().splitlines()])
    n = len(CLASSES)
    if w.shape != (n, n) or not np.allclose(np.diag(w), 1.0) or not np.allclose(w, w.T):
        raise ValueError("LCZ similarity table: expected a symmetric 17x17 matrix, unit diagonal")
    if not w[0, 3] > w[0, 11]:
        raise ValueError("LCZ similarity table: class order is wrong (W[1,4] <= W[1,B])")
    return w


LCZ_SIMILARITY: np.ndarray = similarity_matrix()
LCZ_SIMILARITY.setflags(write=False)
