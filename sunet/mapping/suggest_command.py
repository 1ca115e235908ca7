"""``lcz-map suggest --map MAP_DIR [--n 50] --out suggestions.gpkg``."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.mapping.suggest import SuggestConfig

    defaults = {k: f.default for k, f in SuggestConfig.model_fields.items()}
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
    p.add_argument("--map", type=Path, required=True, help="lcz-map map output folder")
    p.add_argument("--n", type=int, default=defaults["n"], help="places (default %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="output GeoPackage")
    p.add_argument("--spacing", type=float, default=None, metavar="M",
                   help="least distance between places, metres (default: from the area and n)")  # fmt: skip
    p.add_argument("--avoid", type=Path, nargs="+", default=[], metavar="FILE",
                   help="polygons to stay away from (labels you have, reference polygons)")  # fmt: skip
    p.add_argument("--model", type=Path, default=None,
                   help="model bundle for the view and novelty terms (default: the map's)")  # fmt: skip
    p.add_argument("--no-model", dest="use_model", action="store_false",
                   help="score from the map alone (no view disagreement, no novelty)")  # fmt: skip
    p.add_argument("--strategy", choices=("informative", "random"), default=defaults["strategy"],
                   help="score-driven (default) or random (the baseline to compare with)")  # fmt: skip
    p.add_argument("--seed", type=int, default=defaults["seed"], help="seed of --strategy random")


def run(args: argparse.Namespace) -> int:
    from sunet.mapping.suggest import SuggestConfig, suggest

    config = SuggestConfig(
        map=args.map,
        n=args.n,
        out=args.out,
        spacing=args.spacing,
        avoid=args.avoid,
        model=args.model,
        use_model=args.use_model,
        strategy=args.strategy,
        seed=args.seed,
    )
    frame = suggest(config)
    for row in frame.head(10).itertuples():
        print(f"  {row.rank:3d}  score {row.score:.2f}  LCZ {row.mapped} / {row.runner_up}: "
              f"{row.reason}")  # fmt: skip
    if len(frame) > 10:
        print(f"  ... {len(frame) - 10} more")
    print(f"wrote {len(frame)} places to label to {config.out} (fill in the 'lcz' field)")
    return 0
