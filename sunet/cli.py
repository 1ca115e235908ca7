"""``lcz-map``: the command line, a thin layer over the library.

Each stage keeps its command in its own module (``sunet/<stage>/command.py``) exposing
``add_parser(subparsers)`` and ``run(args) -> int``; this file only dispatches, and imports a
stage lazily so that ``lcz-map synth`` does not pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

# subcommand -> module with add_parser()/run()
COMMANDS: dict[str, str] = {
    "synth": "sunet.synth.command",
    "tile": "sunet.tiling.command",
    "train": "sunet.training.command",
    "evaluate": "sunet.evaluation.command",
    "info": "sunet.bundle_command",
    "map": "sunet.mapping.command",
    "remap": "sunet.operations.command",
}


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _available() -> dict[str, ModuleType]:
    mods: dict[str, ModuleType] = {}
    for name, path in COMMANDS.items():
        try:
            mods[name] = importlib.import_module(path)
        except ModuleNotFoundError as e:
            # A stage not present in this build is simply not offered; any other missing module is a bug.
            if e.name is None or not path.startswith(e.name):
                raise
    return mods


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(
        prog="lcz-map",
        description="Local Climate Zone mapping from very-high-resolution imagery with SU-Net.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    mods = _available()
    for mod in mods.values():
        mod.add_parser(sub)
    return parser, mods


def main(argv: list[str] | None = None) -> int:
    parser, mods = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(mods[args.command].run(args) or 0)
    except (CliError, FileNotFoundError, ValueError) as e:
        # Library errors carry the offending file and the problem in one line.
        print(f"lcz-map {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lcz-map {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
