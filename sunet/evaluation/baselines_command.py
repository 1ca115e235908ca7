"""``lcz-map baselines --patches DIR --out DIR [--suite fast|full]``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["METHOD_NAMES", "add_parser", "run"]

# The same names as sunet.evaluation.baselines.METHODS, kept here so that building the parser
# does not import torch and scikit-learn (a test checks the two agree).
METHOD_NAMES = ("prior", "random_forest", "sunet", "sunet_no_pure_stream", "sunet_fixed_weights")


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "baselines",
        help="compare SU-Net with a random forest and two ablations on one patch store",
        description=(
            "Train and score the prior, a WUDAPT-style random forest, SU-Net, SU-Net without "
            "the pure stream and SU-Net with fixed loss weights on the same patches and split; "
            "write baselines.md/.csv/.json and each method's evaluation to --out."
        ),
    )
    p.add_argument("--patches", type=Path, required=True, help="patch store folder")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--suite", choices=("fast", "full"), default="fast",
                   help="fast = a quarter of the preset's training budget (default)")  # fmt: skip
    p.add_argument("--split", choices=("val", "test"), default="test")
    p.add_argument("--preset", choices=("paper", "cpu-small"), default="cpu-small")
    p.add_argument("--methods", nargs="+", choices=METHOD_NAMES, default=list(METHOD_NAMES),
                   metavar="METHOD", help=f"subset of: {' '.join(METHOD_NAMES)}")  # fmt: skip
    p.add_argument("--epochs", type=int, default=None, help="override the SU-Net epoch budget")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="override the SU-Net wall-clock budget per variant")  # fmt: skip
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes per SU-Net variant (DDP)")  # fmt: skip
    p.add_argument("--sunet-model", type=Path, default=None,
                   help="score this trained bundle as the sunet row instead of training one")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from sunet.evaluation.baselines import BaselinesConfig, format_markdown, run_baselines

    config = BaselinesConfig(
        patches=args.patches,
        out=args.out,
        suite=args.suite,
        split=args.split,
        preset=args.preset,
        methods=args.methods,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        device=args.device,
        num_processes=args.nproc,
        sunet_model=args.sunet_model,
        seed=args.seed,
    )
    table = run_baselines(config)
    print(format_markdown(table["rows"], config))
    print(f"wrote {config.out / 'baselines.md'}")
    return 0
