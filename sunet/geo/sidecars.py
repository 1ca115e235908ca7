"""The files beside a JPEG or PNG scene that georeference it: world file, ``.prj``, ``.aux.xml``.

Google Earth and tile-downloader exports are plain images with their georeferencing beside them:
a world file (``a.jgw``, ``a.jpgw``, ``a.pgw``, ``a.pngw`` or ``a.wld``: six numbers, the affine
transform of pixel centres), and the CRS in a ``.prj`` (WKT, often ESRI's dialect) or in a GDAL
``.aux.xml``. GDAL reads the world file and the ``.aux.xml`` itself but not a ``.prj`` for these
formats, so the ``.prj`` is read here (pyproj parses OGC and ESRI WKT alike). The world file is
read here only to say why GDAL did not take it (GDAL ignores a malformed one silently).

Only file names and small text files: nothing here opens a raster.
"""

from __future__ import annotations

from pathlib import Path

from pyproj import CRS

from sunet.geo.crs import parse_crs

__all__ = [
    "IMAGE_SUFFIXES",
    "georeferenced_image",
    "image_sidecars",
    "pam_file",
    "prj_crs",
    "world_file",
    "world_file_problem",
]

# Image formats whose georeferencing, if any, lies beside them (GDAL's JPEG and PNG drivers).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# The world-file suffixes GDAL's drivers look for, per image suffix (in lower or upper case).
_WORLD_SUFFIXES = {
    ".jpg": (".jgw", ".jpgw", ".jpw", ".wld"),
    ".jpeg": (".jgw", ".jpegw", ".jpw", ".wld"),
    ".png": (".pgw", ".pngw", ".wld"),
}


def _beside(path: Path, suffix: str) -> Path | None:
    for name in (path.with_suffix(suffix.lower()), path.with_suffix(suffix.upper())):
        if name.is_file():
            return name
    return None


def world_file(path: str | Path) -> Path | None:
    """The world file GDAL would read for the image ``path``, or ``None``."""
    path = Path(path)
    for suffix in _WORLD_SUFFIXES.get(path.suffix.lower(), ()):
        found = _beside(path, suffix)
        if found is not None:
            return found
    return None


def pam_file(path: str | Path) -> Path:
    """GDAL's auxiliary file of ``path`` (``a.jpg.aux.xml``), which may hold a CRS and transform."""
    path = Path(path)
    return path.with_name(path.name + ".aux.xml")


def georeferenced_image(path: str | Path) -> bool:
    """Whether a JPEG/PNG has georeferencing beside it: a world file, or an ``.aux.xml`` with a
    geotransform (one holding only statistics, as QGIS writes for any image it shows, does not
    count). Decides which images in a folder are scenes; reading them validates the rest."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    if world_file(path) is not None:
        return True
    pam = pam_file(path)
    try:
        return pam.is_file() and "<GeoTransform>" in pam.read_text(
            encoding="utf-8", errors="ignore"
        )
    except OSError:
        return False


def _prj(path: Path) -> Path | None:
    return _beside(path, ".prj")


def prj_crs(path: str | Path) -> CRS | None:
    """The CRS in the ``.prj`` beside a JPEG/PNG (``a.prj`` for ``a.jpg``), or ``None`` if none
    (or if ``path`` is another format, whose CRS is inside the file).

    Raises:
        ValueError: one line naming the ``.prj``, if it holds no CRS pyproj knows.
    """
    path = Path(path)
    prj = _prj(path) if path.suffix.lower() in IMAGE_SUFFIXES else None
    if prj is None:
        return None
    try:
        return parse_crs(prj.read_text(encoding="utf-8", errors="replace"))
    except ValueError as e:
        raise ValueError(f"{prj}: {e} (expected WKT, as GIS software writes it)") from e


def image_sidecars(path: str | Path) -> list[Path]:
    """The georeferencing files present beside a JPEG/PNG (world file, ``.prj``, ``.aux.xml``);
    empty for other formats, whose georeferencing is inside the file."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return []
    found = [world_file(path), _prj(path), pam_file(path)]
    return [p for p in found if p is not None and p.is_file()]


def world_file_problem(path: str | Path) -> str:
    """Why an image has no usable geotransform, for an error message (GDAL gives an identity
    transform for a missing or malformed world file without saying which)."""
    path = Path(path)
    wld = world_file(path)
    if wld is None:
        names = "/".join(_WORLD_SUFFIXES.get(path.suffix.lower(), (".wld",)))
        return f"no georeferencing: no world file ({names}) or .aux.xml beside it"
    lines = [line.strip() for line in wld.read_text(errors="replace").splitlines() if line.strip()]
    try:
        # GDAL's own parser accepts a decimal comma too.
        a, d, b, e, _, _ = (float(v.replace(",", ".")) for v in lines[:6])
    except ValueError:
        return f"world file {wld.name} is not six numbers, one per line"
    if (a == 0 and b == 0) or (d == 0 and e == 0):
        return f"world file {wld.name} gives a zero pixel size"
    return f"world file {wld.name} was not read"
