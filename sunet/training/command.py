"""``lcz-map train --patches DIR --out DIR [options]``: options from TrainConfig."""

from __future__ import annotations

import argparse

__all__ = ["FLAGS", "add_parser", "run"]

# Fields whose flag is not their name.
FLAGS = {"num_processes": "nproc", "num_threads": "threads"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.options import add_options
    from sunet.training.config import TrainConfig

    p = subparsers.add_parser(
        "train",
        help="train SU-Net on a patch store",
        description="Train SU-Net (PSC + MSU streams, GradNorm) on a patch store; writes "
        "OUT/model.safetensors, checkpoints, train_log.csv and training_curves.png. Options left "
        "out take the preset's value (with --init-from: the bundle's, and a short schedule).",
    )
    add_options(p, TrainConfig, skip=("model",), flags=FLAGS)
    p.add_argument(
        "--no-replay",
        action="store_true",
        help="with --init-from: do not replay the bundle's own patch store",
    )


def run(args: argparse.Namespace) -> int:
    from sunet.options import config_from_args
    from sunet.patch_store import PatchStore
    from sunet.training.config import TrainConfig

    fixed = {"replay": None} if args.no_replay else {}
    config: TrainConfig = config_from_args(TrainConfig, args, FLAGS, **fixed)
    PatchStore(config.patches)  # a missing or broken store is one line now, not after torch loads
    from sunet.training.trainer import train

    path = train(config)
    print(f"model bundle: {path}")
    return 0
