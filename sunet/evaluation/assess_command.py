"""``lcz-map assess --map MAP_DIR --reference FILE [--field lcz] --out DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.evaluation.assess import AssessConfig

    defaults = {k: f.default for k, f in AssessConfig.model_fields.items()}
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
    p.add_argument("--map", type=Path, required=True, help="map folder or dominant-class raster")
    p.add_argument("--reference", type=Path, required=True, help="reference polygons")
    p.add_argument("--field", default=defaults["field"], help="label field (default: lcz)")
    p.add_argument("--layer", default=None, help="layer of the reference file")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=defaults["bootstrap"],
        help="bootstrap resamples of the polygons (default %(default)s; 0 = no intervals)",
    )
    p.add_argument("--seed", type=int, default=defaults["seed"], help="seed of the bootstrap")


def run(args: argparse.Namespace) -> int:
    from sunet.evaluation.assess import AssessConfig, assess, format_assessment

    config = AssessConfig(
        map=args.map,
        reference=args.reference,
        field=args.field,
        layer=args.layer,
        out=args.out,
        bootstrap=args.bootstrap,
        seed=args.seed,
    )
    result = assess(config)
    print(format_assessment(result))
    print(f"wrote {config.out / 'assessment.json'}")
    return 0
