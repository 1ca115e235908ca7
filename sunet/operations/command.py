"""``lcz-map remap --out DIR --scenes DIR --districts FILE --model FILE [options]``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "remap",
        help="bring a versioned city map up to date with new or changed scenes",
        description=(
            "Compare the scenes (and an inbox of arriving ones) with the latest map version under "
            "--out; rerun the model only on the windows that new, changed or removed scenes reach, "
            "copying every other cell from the latest version (everything on a first run or when "
            "the model, districts or options changed), write "
            "OUT/versions/vNNNN with a change report against the previous version, and switch "
            "OUT/latest. Does nothing when nothing changed."
        ),
    )
    p.add_argument("--out", type=Path, required=True, help="map root (versions/, latest)")
    p.add_argument("--scenes", type=Path, required=True, help="folder of scene GeoTIFFs")
    p.add_argument("--districts", type=Path, required=True, help="district polygons")
    p.add_argument("--district-field", default="name", help="attribute naming districts (name)")
    p.add_argument("--district-layer", default=None, help="layer of the districts file")
    p.add_argument("--district-names", default=None, metavar="A,B,...",
                   help="map only these districts (default: all)")  # fmt: skip
    p.add_argument("--model", type=Path, required=True, help="model bundle (.safetensors)")
    p.add_argument("--crs", default="auto", help="EPSG:NNNN or auto (UTM zone of the districts)")
    p.add_argument("--inbox", type=Path, default=None, help="folder where new scenes arrive")
    p.add_argument("--settle-seconds", type=float, default=30.0,
                   help="take inbox files unchanged for this long (30)")  # fmt: skip
    p.add_argument("--full", action="store_true", help="remap everything")
    p.add_argument("--keep-versions", type=int, default=None, metavar="N",
                   help="delete all but the N newest versions")  # fmt: skip
    p.add_argument("--stride", type=int, default=None, help="window step in pixels")
    p.add_argument("--batch-size", type=int, default=16, help="windows per model call (16)")
    p.add_argument("--workers", type=int, default=0, help="Dask worker processes (0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")


def run(args: argparse.Namespace) -> int:
    from sunet.operations.remap import MapOptions, RemapConfig, remap

    names = [n.strip() for n in args.district_names.split(",")] if args.district_names else None
    config = RemapConfig(
        out=args.out,
        scenes_dir=args.scenes,
        districts=args.districts,
        district_field=args.district_field,
        district_layer=args.district_layer,
        district_names=names,
        model=args.model,
        crs=args.crs,
        inbox=args.inbox,
        settle_seconds=args.settle_seconds,
        full=args.full,
        keep_versions=args.keep_versions,
        mapping=MapOptions(
            stride=args.stride,
            batch_size=args.batch_size,
            workers=args.workers,
            progress=not args.quiet,
            scheduler=args.scheduler,
        ),
    )
    result = remap(config)
    print(f"{result.plan.mode}: {result.plan.reason}")
    if result.report is not None and result.report.windows_skipped:
        r = result.report
        print(f"ran {r.windows - r.windows_skipped} of {r.windows} windows; the rest were kept")
    if result.version is not None:
        print(f"wrote {result.version.path}; latest -> {result.version.name}")
        if result.changes_md is not None:
            print(f"changes: {result.changes_md}")
    return 0
