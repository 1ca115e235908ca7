"""Urban canopy parameter values written out by hand, for the tests to compare with.

From Stewart & Oke (2012), Tables 3-4 and the conventions of :mod:`sunet.analysis.parameters`:
the middle of each range; open bounds closed at the parameter's bounds (fractions 0-100 %, sky
view factor 0-1, aspect ratio 3, height 75 m, anthropogenic heat 450 W m-2); the Davenport z0 of
the roughness class, the geometric mean for a range of two classes; dense trees take the
admittance of scattered trees, water a height of 0 m.
"""

from __future__ import annotations

import math

from sunet.analysis.parameters import PARAMETERS

NAMES = [p.name for p in PARAMETERS]

# Class values, band order: sky view factor, aspect ratio, building / impervious / pervious
# surface fraction, height of roughness elements (m), roughness length (m), surface admittance
# (J m-2 s-1/2 K-1), surface albedo, anthropogenic heat output (W m-2).
Z0_56, Z0_45 = math.sqrt(0.25 * 0.5), math.sqrt(0.10 * 0.25)
EXPECTED = {
    1: (0.30, 2.5, 0.50, 0.50, 0.05, 50.0, 2.0, 1650, 0.15, 175.0),
    2: (0.45, 1.375, 0.55, 0.40, 0.10, 17.5, math.sqrt(0.5 * 1.0), 1850, 0.15, 37.5),
    3: (0.40, 1.125, 0.55, 0.35, 0.15, 6.5, 0.5, 1500, 0.15, 37.5),
    4: (0.60, 1.0, 0.30, 0.35, 0.35, 50.0, math.sqrt(1.0 * 2.0), 1600, 0.185, 25.0),
    5: (0.65, 0.525, 0.30, 0.40, 0.30, 17.5, Z0_56, 1700, 0.185, 12.5),
    6: (0.75, 0.525, 0.30, 0.35, 0.45, 6.5, Z0_56, 1500, 0.185, 12.5),
    7: (0.35, 1.5, 0.75, 0.10, 0.15, 3.0, Z0_45, 1150, 0.25, 17.5),
    8: (0.85, 0.2, 0.40, 0.45, 0.10, 6.5, 0.25, 1500, 0.20, 25.0),
    9: (0.90, 0.175, 0.15, 0.10, 0.70, 6.5, Z0_56, 1400, 0.185, 5.0),
    10: (0.75, 0.35, 0.25, 0.30, 0.45, 10.0, Z0_56, 1750, 0.16, 375.0),
    11: (0.20, 2.0, 0.05, 0.05, 0.95, 16.5, 2.0, 1400, 0.15, 0.0),  # A: admittance of B
    12: (0.65, 0.5, 0.05, 0.05, 0.95, 9.0, Z0_56, 1400, 0.20, 0.0),
    13: (0.80, 0.625, 0.05, 0.05, 0.95, 1.0, Z0_45, 1100, 0.225, 0.0),
    14: (0.95, 0.05, 0.05, 0.05, 0.95, 0.5, math.sqrt(0.03 * 0.10), 1400, 0.20, 0.0),
    15: (0.95, 0.05, 0.05, 0.95, 0.05, 0.125, math.sqrt(0.0002 * 0.005), 1850, 0.225, 0.0),
    16: (0.95, 0.05, 0.05, 0.05, 0.95, 0.125, math.sqrt(0.0002 * 0.005), 1000, 0.275, 0.0),
    17: (0.95, 0.05, 0.05, 0.05, 0.95, 0.0, 0.0002, 1500, 0.06, 0.0),  # G: no elements
}


def mix_2_d() -> dict[str, float]:
    """60 % LCZ 2 + 40 % LCZ D, each parameter by its rule, by hand."""
    a2, ad = 0.6, 0.4
    (svf2, ar2, b2, i2, p2, h2, z2, s2, al2, q2) = EXPECTED[2]
    (svfd, ard, bd, i_d, pd, hd, zd, sd, ald, qd) = EXPECTED[14]
    g2, gd = a2 * (1 - b2), ad * (1 - bd)  # open ground: where the canyon and its sky are
    return {
        "sky_view_factor": (g2 * svf2 + gd * svfd) / (g2 + gd),
        "aspect_ratio": (g2 * ar2 + gd * ard) / (g2 + gd),
        "building_surface_fraction": a2 * b2 + ad * bd,
        "impervious_surface_fraction": a2 * i2 + ad * i_d,
        "pervious_surface_fraction": a2 * p2 + ad * pd,
        "roughness_element_height": (a2 * b2 * h2 + ad * bd * hd) / (a2 * b2 + ad * bd),
        "roughness_length": math.exp(a2 * math.log(z2) + ad * math.log(zd)),
        "surface_admittance": a2 * s2 + ad * sd,
        "surface_albedo": a2 * al2 + ad * ald,
        "anthropogenic_heat": a2 * q2 + ad * qd,
    }
