"""``lcz-map suggest --map MAP_DIR [--n 50] --out suggestions.gpkg``."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.mapping.config import SuggestConfig
    from sunet.options import add_options

    p = subparsers.add_parser(
        "suggest",
        help="suggest where to label next (a styled GeoPackage of places to digitise)",
        description=(
            "Score every window of a finished map by its uncertainty, the margin between its "
            "two leading classes, how rarely the runner-up is mapped, and (re-reading the "
            "scenes with the model) the disagreement between rotated views and the distance "
            "to the training data; write the best, spread at least --spacing apart and away "
            "from --avoid polygons, as squares to label (field 'lcz' left empty to fill in)."
        ),
    )
    add_options(p, SuggestConfig)


def run(args: argparse.Namespace) -> int:
    from sunet.mapping.config import SuggestConfig
    from sunet.mapping.suggest import suggest
    from sunet.options import config_from_args

    config: SuggestConfig = config_from_args(SuggestConfig, args)
    frame = suggest(config)
    for row in frame.head(10).itertuples():
        print(f"  {row.rank:3d}  score {row.score:.2f}  LCZ {row.mapped} / {row.runner_up}: "
              f"{row.reason}")  # fmt: skip
    if len(frame) > 10:
        print(f"  ... {len(frame) - 10} more")
    print(f"wrote {len(frame)} places to label to {config.out} (fill in the 'lcz' field)")
    return 0
