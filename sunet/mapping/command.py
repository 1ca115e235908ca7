"""``lcz-map map --model FILE --scenes PATH... --districts FILE --out DIR [options]``: options
from MapConfig."""

from __future__ import annotations

import argparse

__all__ = ["FLAGS", "add_parser", "run"]

FLAGS = {"cells_layer": "cells"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.mapping.config import MapConfig
    from sunet.options import add_options

    p = subparsers.add_parser(
        "map",
        help="map LCZ abundances of districts from scenes with a model bundle",
        description=(
            "Slide the model's P x P window over a mosaic of the scenes (any CRS, overlapping: "
            "the first scene given wins) on the model's metric grid, and write per district and "
            "for the whole city: lcz_abundance.tif (17 bands), lcz_dominant.tif, "
            "lcz_uncertainty.tif, lcz_wudapt_100m.tif (COGs), lcz_dominant.gpkg, QGIS styles, "
            "summary.csv and quicklook.png; the resolved config goes to DIR/config.json."
        ),
    )
    add_options(p, MapConfig, flags=FLAGS, required=("model",))


def run(args: argparse.Namespace) -> int:
    from sunet.mapping import MapConfig, map_districts
    from sunet.mapping.novelty import format_novelty
    from sunet.mapping.report import area_table
    from sunet.options import config_from_args

    config: MapConfig = config_from_args(MapConfig, args, FLAGS)
    report = map_districts(config)
    print(
        f"mapped {report.city.area_km2:.2f} km2 in {len(report.districts)} district(s), "
        f"{report.windows_run}/{report.windows} windows"
        + (f" ({report.windows_skipped} kept from --base)" if report.windows_skipped else "")
        + f", {report.cell_size_m:g} m cells, "
        f"{report.crs}, {report.seconds:.1f} s"
    )
    print(area_table([*report.districts, report.city]))
    for line in format_novelty(report.scenes):
        print(line)
    print(f"wrote {report.out}")
    return 0
