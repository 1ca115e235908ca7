"""``lcz-map parameters --map MAP_DIR [--out DIR]``."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.analysis.config import ParametersConfig
    from sunet.options import add_options

    p = subparsers.add_parser(
        "parameters",
        help="urban canopy parameters (sky view factor, heights, z0, albedo ...) from a map",
        description=(
            "Derive ten urban canopy parameters of Stewart & Oke (2012, Tables 3-4) from a map: "
            "sky view factor, aspect ratio, building / impervious / pervious surface fraction, "
            "height of roughness elements, roughness length, surface admittance, surface albedo "
            "and anthropogenic heat output. For the city and every district: "
            "lcz_parameters.tif (aggregated from each cell's LCZ abundances, each parameter by "
            "its own rule), lcz_parameters_lookup.tif (the values of the dominant class), both "
            "also at 100 m on the WUDAPT grid (*_100m.tif), one QGIS style per parameter "
            "(lcz_parameters_<name>.qml), and lcz_parameters.json."
        ),
    )
    add_options(p, ParametersConfig)


def run(args: argparse.Namespace) -> int:
    from sunet.analysis.config import ParametersConfig
    from sunet.analysis.parameter_rasters import write_parameters
    from sunet.options import config_from_args

    config: ParametersConfig = config_from_args(ParametersConfig, args)
    report = write_parameters(config)
    print(
        f"wrote {len(report.files)} files in each of {len(report.areas)} area(s) "
        f"({', '.join(report.areas)}) under {report.out}"
    )
    return 0
