"""Write this folder's example inputs from the small synthetic city (run from the repository root).

    lcz-map synth --out runs/example-city --scenes 4 --size 384 --preview-px 400
    python data/example/make.py runs/example-city

``training_areas.kml``: a WUDAPT-template file (a folder per LCZ class) holding the two largest
label polygons of each class, simplified to 3 m, as an analyst would digitise training areas in
Google Earth; ``districts.geojson``: the city's five districts, simplified to 3 m. The synthetic
city is the same for the same settings on any machine, so these files fit the scenes that
``synthetic`` in ``lcz-map.yaml`` generates.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))  # the WUDAPT-template writer of the tests

from wudapt_kml import write_wudapt_kml  # noqa: E402

from sunet.lcz import by_code, parse_lcz_values  # noqa: E402

METRIC = "EPSG:32650"
PER_CLASS = 2
TOLERANCE_M = 3.0


def main(city: Path) -> None:
    labels = gpd.read_file(city / "labels.gpkg").to_crs(METRIC)
    labels["code"] = parse_lcz_values(labels["lcz"], source=city / "labels.gpkg")
    labels["area"] = labels.area
    areas: dict[str, list] = {}
    for code, group in sorted(labels.groupby("code"), key=lambda kv: int(kv[0])):
        cls = by_code(int(code))
        largest = group.nlargest(PER_CLASS, "area").geometry.simplify(TOLERANCE_M)
        areas[f"LCZ {cls.letter} - {cls.name}"] = list(
            gpd.GeoSeries(largest, crs=METRIC).to_crs("EPSG:4326")
        )
    write_wudapt_kml(HERE / "training_areas.kml", areas, document="Example training areas")
    districts = gpd.read_file(city / "districts.gpkg").to_crs(METRIC)
    districts["geometry"] = districts.geometry.simplify(TOLERANCE_M)
    districts[["name", "geometry"]].to_crs("EPSG:4326").to_file(
        HERE / "districts.geojson", driver="GeoJSON", COORDINATE_PRECISION=7
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
