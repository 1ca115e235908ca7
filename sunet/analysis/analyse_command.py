"""``lcz-map analyse --map MAP_DIR [--previous MAP_DIR] [--out DIR]``."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.analysis.config import AnalyseConfig
    from sunet.options import add_options

    p = subparsers.add_parser(
        "analyse",
        help="per-district report of a map: composition, mixing, parameters, changes",
        description=(
            "Analyse every district of a map, and the city: LCZ composition by dominant class "
            "and by abundance side by side, built and natural shares, how mixed the cells are "
            "(entropy of the abundances), the urban canopy parameters (mean, median, p10, p90, "
            "from the abundances and by dominant-class lookup) and, against an earlier map or "
            "the previous version, how the parameters changed per district. Writes "
            "districts.csv, composition.csv, parameters.csv, changes.csv, PNG figures and one "
            "self-contained page, index.html, into MAP/analysis (or --out); the maps are only "
            "read."
        ),
    )
    add_options(p, AnalyseConfig)


def run(args: argparse.Namespace) -> int:
    from sunet.analysis.config import AnalyseConfig
    from sunet.analysis.report import analyse
    from sunet.options import config_from_args

    config: AnalyseConfig = config_from_args(AnalyseConfig, args)
    report = analyse(config)
    against = f", compared with {report.previous}" if report.previous is not None else ""
    print(f"analysed {len(report.areas)} area(s) ({', '.join(report.areas)}){against}")
    print(f"open {report.page}")
    return 0
