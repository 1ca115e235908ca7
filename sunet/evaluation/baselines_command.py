"""``lcz-map baselines --patches DIR --out DIR [--suite fast|full]``."""

from __future__ import annotations

import argparse

__all__ = ["FLAGS", "add_parser", "run"]

# Fields whose flag is not their name (as for lcz-map train).
FLAGS = {"num_processes": "nproc", "num_threads": "threads"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.evaluation.config import BaselinesConfig
    from sunet.options import add_options

    p = subparsers.add_parser(
        "baselines",
        help="compare SU-Net with a random forest and two ablations on one patch store",
        description=(
            "Train and score the prior, a WUDAPT-style random forest, SU-Net, SU-Net without "
            "the pure stream and SU-Net with fixed loss weights on the same patches and split; "
            "write baselines.md/.csv/.json and each method's evaluation to --out."
        ),
    )
    add_options(p, BaselinesConfig, flags=FLAGS)


def run(args: argparse.Namespace) -> int:
    from sunet.evaluation.baselines import format_markdown, run_baselines
    from sunet.evaluation.config import BaselinesConfig
    from sunet.options import config_from_args

    config: BaselinesConfig = config_from_args(BaselinesConfig, args, FLAGS)
    table = run_baselines(config)
    print(format_markdown(table["rows"], config))
    print(f"wrote {config.out / 'baselines.md'}")
    return 0
