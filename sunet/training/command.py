"""``lcz-map train``: train SU-Net on a patch store; writes a model bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from sunet.model.config import PRESETS
from sunet.training.config import APPEARANCES, FINE_TUNE_MINUTES, FINE_TUNE_STEPS

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "train",
        help="train SU-Net on a patch store",
        description="Train SU-Net (PSC + MSU streams, GradNorm) on a patch store; writes "
        "OUT/model.safetensors, checkpoints, train_log.csv and training_curves.png.",
    )
    p.add_argument("--patches", type=Path, required=True, help="patch store folder")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="architecture and training defaults (default: cpu-small; with --init-from, the "
        "bundle's)",
    )
    p.add_argument("--epochs", type=int, help="maximum epochs (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="global batch size (default: the preset's)")
    p.add_argument("--lr", type=float, help="AdamW learning rate (default: the preset's)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--pretrained", type=Path, help="local ImageNet Swin-V2 weights file")
    p.add_argument(
        "--init-from",
        type=Path,
        help="fine-tune this model bundle on --patches (e.g. a few polygons of a new city): its "
        f"architecture and normalisation, a short schedule ({FINE_TUNE_STEPS} steps at a quarter "
        f"of the preset's learning rate, at most {FINE_TUNE_MINUTES:g} minutes) unless given",
    )
    p.add_argument(
        "--freeze-backbone-stages",
        type=int,
        default=0,
        metavar="N",
        help="with --init-from: keep the patch embedding and the first N backbone stages fixed",
    )
    p.add_argument(
        "--fine-tune-steps",
        type=int,
        help=f"with --init-from: optimiser steps of the schedule (default {FINE_TUNE_STEPS})",
    )
    p.add_argument(
        "--replay",
        type=Path,
        metavar="STORE",
        help="with --init-from: mix the train patches of this store (what the bundle learnt "
        "from) into fine-tuning, so that the new labels add to what it knew (default: the "
        "bundle's own store, if still in place)",
    )
    p.add_argument(
        "--no-replay",
        action="store_true",
        help="with --init-from: do not replay the bundle's own store (replayed by default when "
        "it is still where the bundle records it)",
    )
    p.add_argument(
        "--replay-ratio",
        type=float,
        help="with --replay: replayed patches per new patch (default 2)",
    )
    p.add_argument(
        "--train-splits",
        nargs="+",
        choices=("train", "val", "test"),
        help="splits of the store to train on (default: train; with --init-from all three, "
        "keeping the last epoch)",
    )
    p.add_argument(
        "--appearance",
        choices=APPEARANCES,
        help="radiometric augmentation: looks (default: brightness, contrast, band gain, gamma, "
        "saturation, hue, haze, blur/sharpening, noise, JPEG: for other cities, seasons and "
        "sensors) or mild (the first three, narrower)",
    )
    p.add_argument("--loss-weights", choices=["gradnorm", "fixed"], default="gradnorm")
    p.add_argument(
        "--gradnorm-alpha",
        type=float,
        help="GradNorm asymmetry alpha (default 0: equal weighted gradient norms)",
    )
    p.add_argument(
        "--gradnorm-layer",
        choices=["final-norm", "first-stage"],
        help="where GradNorm measures gradient norms (default first-stage)",
    )
    p.add_argument(
        "--gradnorm-every",
        type=int,
        help="update the GradNorm weights every N steps (default 4)",
    )
    p.add_argument(
        "--weight-average",
        type=float,
        help="keep an exponential moving average of the weights with this decay (e.g. 0.998)",
    )
    p.add_argument(
        "--abundances-on-pure",
        action="store_true",
        help="train the abundance head on pure patches too (the paper: mixed patches only)",
    )
    p.add_argument(
        "--no-pure-stream",
        dest="pure_stream",
        action="store_false",
        help="ablation: MSU stream only (pure patches train the abundances)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        help="wall-clock budget in minutes (default: the preset's; 0 = none)",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument(
        "--no-amp",
        dest="amp",
        action="store_false",
        help="train in float32 even where bf16 is native (GPU, AVX512-BF16/AMX CPU)",
    )
    p.add_argument("--nproc", type=int, default=1, help="data-parallel processes (DDP)")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads per process (default: cores / processes; on a busy machine 1 can be "
        "several times faster)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from sunet.training.config import TrainConfig
    from sunet.training.trainer import train

    fields = {
        "patches": args.patches,
        "out": args.out,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "resume": args.resume,
        "pretrained": args.pretrained,
        "loss_weights": args.loss_weights,
        "pure_stream": args.pure_stream,
        "abundances_on_pure": args.abundances_on_pure,
        "max_minutes": args.max_minutes,
        "device": args.device,
        "amp": args.amp,
        "num_processes": args.nproc,
        "num_threads": args.threads,
        "seed": args.seed,
        "progress": args.progress,
        "init_from": args.init_from,
        "freeze_backbone_stages": args.freeze_backbone_stages,
    }
    for name in ("preset", "gradnorm_alpha", "gradnorm_layer", "gradnorm_every", "weight_average",
                 "fine_tune_steps", "appearance", "train_splits", "replay", "replay_ratio"):  # fmt: skip
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.no_replay:
        fields["replay"] = None
    config = TrainConfig(**fields)
    path = train(config)
    print(f"model bundle: {path}")
    return 0
