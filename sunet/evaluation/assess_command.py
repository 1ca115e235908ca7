"""``lcz-map assess --map MAP_DIR --reference FILE [--field lcz] --out DIR``."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.evaluation.config import AssessConfig
    from sunet.options import add_options

    p = subparsers.add_parser(
        "assess",
        help="assess a map against reference polygons (OA, kappa, WUDAPT figures, intervals)",
        description=(
            "Compare a map's dominant LCZ raster (a lcz-map map folder, or any GeoTIFF of LCZ "
            "codes 1-17) with independent reference polygons (any CRS, any label form the "
            "tiler accepts): OA, kappa, OA_urban, OA_builtnatural, weighted OA, per-class "
            "precision/recall/F1, with bootstrap intervals from resampling polygons. Writes "
            "assessment.json, assessment_figures.csv, assessment_classes.csv and confusion.png."
        ),
    )
    add_options(p, AssessConfig)


def run(args: argparse.Namespace) -> int:
    from sunet.evaluation.assess import assess, format_assessment
    from sunet.evaluation.config import AssessConfig
    from sunet.options import config_from_args

    config: AssessConfig = config_from_args(AssessConfig, args)
    result = assess(config)
    print(format_assessment(result))
    print(f"wrote {config.out / 'assessment.json'}")
    return 0
