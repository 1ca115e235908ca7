"""``lcz-map``: the command line, a thin layer over the library.

Each stage keeps its command in its own module (``sunet/<stage>/command.py``) exposing
``add_parser(subparsers)`` and ``run(args) -> int``; this file only dispatches. A stage is
imported only when its command is chosen, so that ``lcz-map synth`` or ``lcz-map tile`` does not
pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

# subcommand -> (module with add_parser()/run(), one-line summary for `lcz-map --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("sunet.synth.command", "generate the synthetic city (scenes, labels, districts)"),
    "tile": ("sunet.tiling.command", "cut scenes and label polygons into a patch store"),
    "train": ("sunet.training.command", "train SU-Net on a patch store"),
    "evaluate": ("sunet.evaluation.command", "evaluate a model bundle with the paper's metrics"),
    "assess": ("sunet.evaluation.assess_command", "assess a map against reference polygons"),
    "baselines": ("sunet.evaluation.baselines_command", "compare SU-Net with baselines"),
    "info": ("sunet.bundle_command", "print a model bundle's metadata"),
    "map": ("sunet.mapping.command", "map district LCZ abundances from scenes"),
    "remap": ("sunet.operations.command", "remap when new imagery arrives (map versions)"),
    "suggest": ("sunet.mapping.suggest_command", "suggest where to label next"),
}


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _summary_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lcz-map",
        description="Local Climate Zone mapping from very-high-resolution imagery with SU-Net.",
        epilog="Run 'lcz-map COMMAND --help' for the options of a command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        sub.add_parser(name, help=summary, add_help=False)
    return parser


def option_errors(error: ValidationError) -> str:
    """One line for all problems of a config: ``--min-labelled: Input should be ...; ...``."""
    problems = []
    for err in error.errors():
        where = ".".join(str(x) for x in err["loc"]) or "config"
        problems.append(f"--{where.replace('_', '-')}: {err['msg']}")
    return "; ".join(problems)


def build_parser(command: str) -> tuple[argparse.ArgumentParser, ModuleType]:
    """The parser holding only ``command``'s subparser, and that command's module."""
    module = importlib.import_module(COMMANDS[command][0])
    parser = argparse.ArgumentParser(prog="lcz-map")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    module.add_parser(sub)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        _summary_parser().parse_args(argv)  # prints help or the usage error, and exits
        return 2
    # OpenMP threads that spin while waiting collapse when the CPU is shared with other work
    # (cpu-small training measured 3 -> 20 img/s on 2 busy cores); sleeping waits cost little on a
    # quiet machine. OpenMP reads this once, when torch loads, so it is set before any stage import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser, module = build_parser(argv[0])
    args = parser.parse_args(argv)
    from pydantic import ValidationError

    try:
        return int(module.run(args) or 0)
    except ValidationError as e:
        # A stage's typed config rejected an option: name it as the user typed it, on one line.
        print(f"lcz-map {args.command}: error: {option_errors(e)}", file=sys.stderr)
        return 2
    except (CliError, FileNotFoundError, ValueError) as e:
        # Library errors carry the offending file and the problem in one line.
        print(f"lcz-map {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lcz-map {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`lcz-map ... | head`): the work is done, nothing more to say.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stdout must stay open until exit)
        return 0


if __name__ == "__main__":
    sys.exit(main())
