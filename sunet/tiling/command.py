"""``lcz-map tile --scenes PATH... --labels FILE --out DIR [options]``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated band numbers, got {text!r}"
        ) from None


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}") from None
    return low, high


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.tiling.config import TileConfig

    p = subparsers.add_parser(
        "tile",
        help="cut scenes and label polygons into a patch store for training",
        description=(
            "Reproject scenes onto a fixed patch grid in one metric CRS, label each patch with "
            "LCZ abundances from the label polygons, split train/val/test by spatial blocks and "
            "write index.parquet, patches.zarr, report.json and config.json to --out. "
            "Rerunning reuses per-scene results cached in OUT/.cache."
        ),
    )
    p.add_argument("--scenes", type=Path, nargs="+", required=True, metavar="PATH",
                   help="scene files, folders or glob patterns")  # fmt: skip
    p.add_argument("--labels", type=Path, required=True, help="label polygons (any CRS)")
    p.add_argument("--label-field", default="lcz", help="field with the LCZ label (default: lcz)")
    p.add_argument("--label-layer", default=None, help="layer of the label file")
    p.add_argument("--out", type=Path, required=True, help="patch store folder")
    p.add_argument("--crs", default="auto", help="EPSG:NNNN or auto (UTM zone of the scenes)")
    p.add_argument("--gsd", type=float, default=1.0, help="metres per pixel (default: 1.0)")
    p.add_argument("--patch", type=int, default=256, help="patch side in pixels (default: 256)")
    p.add_argument(
        "--bands", type=_int_list, default=[1, 2, 3], help="scene bands (default: 1,2,3)"
    )
    p.add_argument("--scale-range", type=_range, default=None, metavar="LOW,HIGH",
                   help="fixed range mapped onto 0-255 for non-uint8 scenes "
                   "(default: each scene's 2-98 percentile stretch)")  # fmt: skip
    p.add_argument("--stretch", choices=("non-uint8", "all"),
                   default=TileConfig.model_fields["stretch"].default,
                   help="scenes stretched to their own 2-98 percentiles per band: all (default; "
                   "a per-scene radiometric normalisation) or non-uint8 (8-bit as is)")  # fmt: skip
    p.add_argument("--purity", type=float, default=0.95, help="purity of a pure patch (0.95)")
    p.add_argument("--min-labelled", type=float, default=0.5,
                   help="drop patches with a smaller labelled share (0.5)")  # fmt: skip
    p.add_argument("--max-nodata", type=float, default=0.1,
                   help="drop patches with a larger nodata share (0.1)")  # fmt: skip
    p.add_argument("--block", type=int, default=4, help="spatial block side in cells (4)")
    p.add_argument("--seed", type=int, default=0, help="seed of splits and sampling")
    p.add_argument("--sample-mixed", type=int, default=None, metavar="N",
                   help="keep at most N mixed patches")  # fmt: skip
    p.add_argument("--sample-pure", type=int, default=None, metavar="N",
                   help="keep at most N pure patches")  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="scenes tiled in parallel (1)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sunet.locks import hold
    from sunet.tiling.config import TileConfig
    from sunet.tiling.pipeline import assemble, plan_tiling, run_jobs

    config = TileConfig(
        scenes=args.scenes,
        labels=args.labels,
        label_field=args.label_field,
        label_layer=args.label_layer,
        out=args.out,
        crs=args.crs,
        gsd=args.gsd,
        patch=args.patch,
        bands=args.bands,
        scale_range=args.scale_range,
        stretch=args.stretch,
        purity=args.purity,
        min_labelled=args.min_labelled,
        max_nodata=args.max_nodata,
        block=args.block,
        seed=args.seed,
        sample_mixed=args.sample_mixed,
        sample_pure=args.sample_pure,
        workers=args.workers,
    )
    with hold(config.out):  # one writer per store (sunet.locks)
        plan = plan_tiling(config)
        with tqdm(total=len(plan.jobs), unit="scene", desc="tiling") as bar:
            caches = run_jobs(plan.jobs, config.workers, on_done=lambda _: bar.update())
        report = assemble(plan, caches)
    print(report.table())
    print(f"wrote {config.out}")
    return 0
