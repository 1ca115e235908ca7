"""``lcz-map tile --scenes PATH... --labels FILE --out DIR [options]``: options from TileConfig."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.options import add_options
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
    add_options(p, TileConfig)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sunet.locks import hold
    from sunet.options import config_from_args
    from sunet.tiling.assembly import assemble
    from sunet.tiling.config import TileConfig
    from sunet.tiling.pipeline import plan_tiling, run_jobs

    config: TileConfig = config_from_args(TileConfig, args)
    with hold(config.out):  # one writer per store (sunet.locks)
        plan = plan_tiling(config)
        with tqdm(total=len(plan.jobs), unit="scene", desc="tiling") as bar:
            caches = run_jobs(plan.jobs, config.workers, on_done=lambda _: bar.update())
        report = assemble(plan, caches)
    print(report.table())
    print(f"wrote {config.out}")
    return 0
