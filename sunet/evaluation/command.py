"""``lcz-map evaluate --model FILE --patches DIR [--split test] --out DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.evaluation.config import EvaluateConfig
    from sunet.options import add_options

    p = subparsers.add_parser(
        "evaluate",
        help="score a model bundle on a patch store split (paper and WUDAPT metrics)",
        description=(
            "Run a model bundle on the pure and mixed patches of one split and write "
            "metrics.json, per_class.csv, predictions.csv, confusion_psc.png, "
            "confusion_pseudo.png and config.json to --out."
        ),
    )
    add_options(p, EvaluateConfig)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `lcz-map --help` does not pay for torch.
    from sunet.evaluation.config import EvaluateConfig
    from sunet.evaluation.evaluate import evaluate, format_table
    from sunet.options import config_from_args

    config: EvaluateConfig = config_from_args(EvaluateConfig, args)
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
