"""``lcz-map map --model FILE --scenes PATH... --districts FILE --out DIR [...]``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def _bands(values: list[str] | None) -> list[int] | None:
    """``--bands 1 2 3`` or ``--bands 1,2,3``."""
    if values is None:
        return None
    text = " ".join(values).replace(",", " ")
    try:
        return [int(b) for b in text.split()]
    except ValueError:
        raise ValueError(f"--bands: expected band numbers like 1 2 3, got {text!r}") from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.mapping.config import MapConfig

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
    p.add_argument("--model", type=Path, required=True, help="model bundle file")
    p.add_argument(
        "--scenes", type=Path, nargs="+", required=True, help="scene files or folders, by priority"
    )
    p.add_argument("--districts", type=Path, required=True, help="district polygons (with a CRS)")
    p.add_argument("--district-field", default="name", help="field naming districts (name)")
    p.add_argument("--district-layer", default=None, help="layer of the districts file")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--stride", type=int, default=None, help="window step, px (default P/2)")
    p.add_argument(
        "--bands",
        nargs="+",
        default=None,
        help="scene bands fed to the model (default: those it was trained on)",
    )
    p.add_argument("--crs", default="auto", help="auto (UTM of the districts) or EPSG:...")
    p.add_argument("--batch-size", type=int, default=16, help="windows per model call")
    p.add_argument("--workers", type=int, default=0, help="Dask worker processes (0: none)")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    p.add_argument(
        "--weighting", choices=("tent", "uniform"), default="tent", help="window weights in cells"
    )
    p.add_argument(
        "--min-valid", type=float, default=0.5, help="imagery share a window and a cell need"
    )
    p.add_argument("--no-cells", action="store_true", help="skip the GPKG grid-cell layer")
    p.add_argument(
        "--novelty-windows",
        type=int,
        default=MapConfig.model_fields["novelty_windows"].default,
        metavar="N",
        help="windows per scene measured for how unlike the training data it looks "
        "(default %(default)s; 0 = skip)",
    )
    p.add_argument(
        "--base",
        type=Path,
        default=None,
        help="earlier map (output folder) of the same districts and model: infer only the "
        "cells --update-area can change, copy the rest",
    )
    p.add_argument(
        "--update-area",
        type=Path,
        default=None,
        help="polygons (any CRS) where the imagery changed since --base",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from sunet.lcz import top_classes
    from sunet.mapping import MapConfig, map_districts
    from sunet.mapping.novelty import format_novelty

    config = MapConfig(
        model=args.model,
        scenes=args.scenes,
        districts=args.districts,
        district_field=args.district_field,
        district_layer=args.district_layer,
        out=args.out,
        stride=args.stride,
        bands=_bands(args.bands),
        crs=args.crs,
        batch_size=args.batch_size,
        workers=args.workers,
        scheduler=args.scheduler,
        weighting=args.weighting,
        min_window_valid=args.min_valid,
        min_cell_valid=args.min_valid,
        cells_layer=not args.no_cells,
        novelty_windows=args.novelty_windows,
        base=args.base,
        update_area=args.update_area,
        progress=not args.quiet,
    )
    report = map_districts(config)
    print(
        f"mapped {report.city.area_km2:.2f} km2 in {len(report.districts)} district(s), "
        f"{report.windows_run}/{report.windows} windows"
        + (f" ({report.windows_skipped} kept from --base)" if report.windows_skipped else "")
        + f", {report.cell_size_m:g} m cells, "
        f"{report.crs}, {report.seconds:.1f} s"
    )
    for area in [*report.districts, report.city]:
        print(f"  {area.folder.name}: {area.area_km2:.2f} km2 ({top_classes(area.shares)})")
    for line in format_novelty(report.scenes):
        print(line)
    print(f"wrote {report.out}")
    return 0
