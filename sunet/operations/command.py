"""``lcz-map remap --out DIR --scenes DIR --districts FILE --model FILE [options]``: options from
RemapConfig (its mapping options included)."""

from __future__ import annotations

import argparse

__all__ = ["FLAGS", "add_parser", "run"]

FLAGS = {"scenes_dir": "scenes", "cells_layer": "cells"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.operations.config import RemapConfig
    from sunet.options import add_options

    p = subparsers.add_parser(
        "remap",
        help="bring a versioned city map up to date with new or changed scenes",
        description=(
            "Compare the scenes (and an inbox of arriving ones) with the latest map version under "
            "--out; rerun the model only on the windows that new, changed or removed scenes reach, "
            "copying every other cell from the latest version (everything on a first run or when "
            "the model, districts or options changed), write "
            "OUT/versions/vNNNN with a change report against the previous version, and switch "
            "OUT/latest. Does nothing when nothing changed."
        ),
    )
    add_options(p, RemapConfig, flags=FLAGS)


def run(args: argparse.Namespace) -> int:
    from sunet.operations.config import RemapConfig
    from sunet.operations.remap import remap
    from sunet.options import config_from_args

    config: RemapConfig = config_from_args(RemapConfig, args, FLAGS)
    result = remap(config)
    print(f"{result.plan.mode}: {result.plan.reason}")
    if result.report is not None and result.report.windows_skipped:
        r = result.report
        print(f"ran {r.windows - r.windows_skipped} of {r.windows} windows; the rest were kept")
    if result.version is not None:
        print(f"wrote {result.version.path}; latest -> {result.version.name}")
        if result.changes_md is not None:
            print(f"changes: {result.changes_md}")
    return 0
