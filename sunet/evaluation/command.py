"""``lcz-map evaluate --model FILE --patches DIR [--split test] --out DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "evaluate",
        help="score a model bundle on a patch store split (paper and WUDAPT metrics)",
        description=(
            "Run a model bundle on the pure and mixed patches of one split and write "
            "metrics.json, per_class.csv, predictions.csv, confusion_psc.png, "
            "confusion_pseudo.png and config.json to --out."
        ),
    )
    p.add_argument("--model", type=Path, required=True, help="model bundle file")
    p.add_argument("--patches", type=Path, required=True, help="patch store folder")
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--batch-size", type=int, default=32, help="patches per forward pass")
    p.add_argument("--device", default=None, help="torch device (default: CUDA if available)")
    p.add_argument(
        "--tta",
        type=int,
        choices=(1, 4, 8),
        default=1,
        help="test-time augmentation: views averaged (4 rotations, 8 with mirrors; default 1)",
    )
    p.add_argument(
        "--no-update-bundle",
        action="store_true",
        help="do not write the headline figures into the bundle's metadata",
    )


def run(args: argparse.Namespace) -> int:
    # Imported here so that `lcz-map --help` does not pay for torch.
    from sunet.evaluation.evaluate import EvaluateConfig, evaluate, format_table

    config = EvaluateConfig(
        model=args.model,
        patches=args.patches,
        split=args.split,
        out=args.out,
        batch_size=args.batch_size,
        device=args.device,
        tta=args.tta,
        update_bundle=not args.no_update_bundle,
    )
    result = evaluate(config)
    print(f"{config.model} on {config.patches} ({config.split})")
    print(format_table(result))
    _warn_if_cut_short(config.model)
    print(f"wrote {config.out / 'metrics.json'}")
    return 0


def _warn_if_cut_short(model: Path) -> None:
    """Say so when the model's training was cut short by a time budget (the figures above are
    then not what its configuration reaches)."""
    from sunet.bundle import read_bundle_meta

    training = read_bundle_meta(model).training
    if training.get("stopped") == "time_budget":
        print(
            f"note: this model trained {training.get('epochs')} of "
            f"{training.get('epochs_planned', '?')} planned epochs (time budget); retrain with "
            "--max-minutes 0 for the full schedule"
        )
