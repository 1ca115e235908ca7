"""LCZ4py (the Python port of LCZ4r) reads our class rasters as they are, and its class-lookup
parameters (``lcz_get_parameters``) equal our lookup version wherever both read Stewart & Oke's
table the same way.

LCZ4py 0.1.0 is installed from PyPI into a virtual environment of its own (kept in pytest's
cache), and run on ``lcz_dominant.tif`` (the map's cells, UTM) and ``lcz_wudapt_100m.tif``
(EPSG:4326, the format LCZ4r is made for). All ten of our parameters have a counterpart among
its 34 layers (its ``*_mean`` layers and ``z0``). Conventions that differ:

* units: its surface fractions are percent (ours 0-1); its nodata is 0 (the values of class 0,
  all zero, so indistinguishable from a real 0), ours -1;
* open bounds: where Stewart & Oke give ``'<x'`` or ``'>x'``, LCZ4r mostly uses a value at the
  bound itself (``'<75'`` -> 74 W m-2, ``'>25'`` -> 26 m, ``'>0.9'`` -> 0.9), we the middle of
  the range closed at a stated bound (:mod:`sunet.analysis.parameters`);
* roughness length: for a range of two Davenport classes it takes one class's z0, we their
  geometric mean;
* its table departs from Stewart & Oke's in places: impervious fractions of LCZ 1-10 repeat the
  building fractions (equal to Table 3's only for LCZ 1) and LCZ E gets 0-10 % (Table 3: >90 %);
  admittances typed ``1.500`` for 1,500 (R and Python read 1.5, so most classes are in kJ m-2
  s-1/2 K-1), LCZ 2's upper bound is 2,000 (Table 4: 2,200), LCZ 7, C and F mix the two units,
  dense trees get 0 ('unknown').

The test pins each of these: wherever no difference is listed, the values must be equal.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from abundance_maps import example_map

from sunet.analysis.config import ParametersConfig
from sunet.analysis.parameter_rasters import write_parameters
from sunet.analysis.parameters import PARAMETER_NODATA, PARAMETERS
from sunet.lcz import CLASSES

LCZ4PY = "lcz4py==0.1.0"
SCRIPT = Path(__file__).parent / "lcz4py" / "get_parameters.py"

# Our parameter -> LCZ4py's layer, and the factor from our unit to its unit.
COUNTERPART = {
    "sky_view_factor": ("svf_mean", 1.0),
    "aspect_ratio": ("aspect_mean", 1.0),
    "building_surface_fraction": ("BSF_mean", 100.0),
    "impervious_surface_fraction": ("ISF_mean", 100.0),
    "pervious_surface_fraction": ("PSF_mean", 100.0),
    "roughness_element_height": ("HRE_mean", 1.0),
    "roughness_length": ("z0", 1.0),
    "surface_admittance": ("SAD_mean", 1.0),
    "surface_albedo": ("SAL_mean", 1.0),
    "anthropogenic_heat": ("AH_mean", 1.0),
}
# Classes (letters) whose value differs, and why; every other class must agree.
DIFFERENT = {
    # '>0.7', '>0.8', '<0.4', '>0.9': LCZ4r the bound (0.75, 0.85, 0.35, 0.9), we the middle.
    "sky_view_factor": "8 9 A D E F G",
    # '>2', '>1', '<0.1': LCZ4r 3, 1.5, 0.1; we 2.5, 2, 0.05.
    "aspect_ratio": "1 A D E F G",
    # '<10' %: LCZ4r 9 %, we 5 %.
    "building_surface_fraction": "A B C D E F G",
    # LCZ4r repeats the building fractions (Table 3's for LCZ 1 only); E: 0-10 % (Table 3: >90 %).
    "impervious_surface_fraction": "2 3 4 5 6 7 8 9 10 E",
    "pervious_surface_fraction": "",
    # '>25': LCZ4r 26 m, we 50 m (WUDAPT-to-WRF); '<2', '<1', '<0.25': LCZ4r near the bound.
    "roughness_element_height": "1 4 C D E F",
    # Two roughness classes: LCZ4r one class's z0, we the geometric mean of both.
    "roughness_length": "2 4 5 6 7 9 10 B C D E F",
    # Every class: see ADMITTANCE_IN_KJ.
    "surface_admittance": " ".join(c.letter for c in CLASSES),
    "surface_albedo": "",
    # '<75' ... '<10': LCZ4r the bound less 1 W m-2, we half the bound; '>300': 310 vs 375.
    "anthropogenic_heat": "2 3 4 5 6 7 8 9 10",
}
# Classes whose LCZ4r admittance bounds are both typed as kJ ('1.500'): ours / 1000 there.
ADMITTANCE_IN_KJ = "1 3 4 5 6 8 9 10 B D E G"


@pytest.fixture(scope="module")
def lcz4py_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a virtual environment with LCZ4py (made once, kept in pytest's cache when
    there is one, else for this session only)."""
    cache = getattr(request.config, "cache", None)  # absent under `-p no:cacheprovider`
    venv = cache.mkdir("lcz4py-venv") if cache is not None else tmp_path_factory.mktemp("lcz4py")
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import LCZ4py"], capture_output=True)
    if probe.returncode != 0:
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", LCZ4PY],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if install.returncode != 0:
            last = (install.stderr.strip().splitlines() or ["(no output)"])[-1]
            pytest.skip(f"pip install {LCZ4PY} failed: {last}")
    return python


def _lcz4py(
    python: Path, raster: Path, out: Path
) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    done = subprocess.run(
        [str(python), str(SCRIPT), str(raster), str(out)],
        capture_output=True,
        text=True,
        cwd=out.parent,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(out) as layers:
        return info, {k: layers[k] for k in layers.files}


@pytest.mark.slow
def test_lcz4py_reads_our_rasters_and_agrees_on_class_values(
    lcz4py_python: Path, tmp_path: Path
) -> None:
    root = example_map(tmp_path / "map")
    write_parameters(ParametersConfig(map=root))
    city = root / "city"
    pairs = (("lcz_dominant.tif", "lcz_parameters_lookup.tif"),
             ("lcz_wudapt_100m.tif", "lcz_parameters_lookup_100m.tif"))  # fmt: skip
    seen: set[int] = set()
    for classes, ours_name in pairs:
        info, theirs = _lcz4py(lcz4py_python, city / classes, tmp_path / f"{classes}.npz")
        assert info["version"] == "0.1.0"
        with rasterio.open(city / classes) as src:
            codes = src.read(1)
        with rasterio.open(city / ours_name) as src:
            ours = src.read()
        mapped = codes > 0
        assert (ours[:, ~mapped] == PARAMETER_NODATA).all()
        seen |= set(np.unique(codes[mapped]).tolist())
        for band, p in enumerate(PARAMETERS):
            layer, factor = COUNTERPART[p.name]
            assert theirs[layer].shape == codes.shape  # read as it is, on its own grid
            assert (theirs[layer][~mapped] == 0).all()  # LCZ4py's nodata
            for code in np.unique(codes[mapped]):
                cells = codes == code
                mine = ours[band][cells].astype(np.float64) * factor
                their = theirs[layer][cells].astype(np.float64)
                letter = CLASSES[code - 1].letter
                same = np.allclose(mine, their, rtol=1e-5, atol=1e-9)
                assert same != (letter in DIFFERENT[p.name].split()), (p.name, letter, mine, their)
                if p.name == "surface_admittance" and letter in ADMITTANCE_IN_KJ.split():
                    np.testing.assert_allclose(mine / 1000.0, their, rtol=1e-5)
    assert seen == set(range(1, 18))  # every class compared
