"""``lcz-map``: the command line, a thin layer over the library.

Each stage keeps its command in its own module (``sunet/<stage>/command.py``) exposing
``add_parser(subparsers)`` and ``run(args) -> int``; this file only dispatches. A stage is
imported only when its command is chosen, so that ``lcz-map synth`` or ``lcz-map tile`` does not
pay for importing torch.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

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
    "parameters": ("sunet.analysis.command", "urban canopy parameters from a map's abundances"),
    "analyse": ("sunet.analysis.analyse_command", "per-district report of a map (HTML, CSV, PNG)"),
}


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def version() -> str:
    """The installed package's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("sunet-lcz")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _summary_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lcz-map",
        description="Local Climate Zone mapping from very-high-resolution imagery with SU-Net.",
        epilog="Run 'lcz-map COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"lcz-map {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        sub.add_parser(name, help=summary, add_help=False)
    return parser


# Commands that write an output folder under a lock (sunet.locks): they take --wait.
WRITERS = ("tile", "train", "map", "remap", "parameters", "analyse")


def build_parser(command: str) -> tuple[argparse.ArgumentParser, ModuleType]:
    """The parser holding only ``command``'s subparser, and that command's module; every command
    takes ``--debug`` (a traceback instead of the one-line error), writers ``--wait``."""
    module = importlib.import_module(COMMANDS[command][0])
    parser = argparse.ArgumentParser(prog="lcz-map")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    module.add_parser(sub)
    own = sub.choices[command]
    own.add_argument("--debug", action="store_true", help="on an error, show the traceback too")
    if command in WRITERS:
        own.add_argument(
            "--wait",
            action="store_true",
            help="if another run is writing the same output, wait for it instead of failing",
        )
    return parser, module


# errno -> what it means for an output path, in words
_OS_PROBLEMS = {
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "is a folder, where a file is expected",
    errno.EEXIST: "already exists",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENAMETOOLONG: "path too long",
    errno.ENOENT: "no such file or folder",
}


def os_error_line(error: OSError) -> str:
    """One line for an OS error: the path(s) and the problem in words."""
    problem = _OS_PROBLEMS.get(error.errno or -1) or (error.strerror or type(error).__name__)
    if error.errno == errno.EEXIST and error.filename and Path(error.filename).is_file():
        problem = "is a file, where a folder is needed"
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    if not paths:
        return f"{problem} ({error})" if error.strerror is None else problem
    return f"{' -> '.join(paths)}: {problem}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        _summary_parser().parse_args(argv)  # prints help or the usage error, and exits
        return 2
    # OpenMP threads that spin while waiting collapse when the CPU is shared with other work
    # (README "Results"); sleeping waits cost little on a quiet machine. OpenMP reads this once,
    # when torch loads, so it is set before any stage import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser, module = build_parser(argv[0])
    args = parser.parse_args(argv)
    from sunet.locks import set_waiting

    set_waiting(bool(getattr(args, "wait", False)))
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f"lcz-map {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`lcz-map ... | head`): the work is done, nothing more to say.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stdout must stay open until exit)
        return 0
    except Exception as e:
        line = error_line(e)
        if isinstance(e, OSError) and e.errno is None and not isinstance(e, FileNotFoundError):
            # GDAL's own errors (a failed write) reach Python as a vague "Read failed" or
            # "Write failed": name the output folder and the cause GDAL reported.
            line = explain_io_failure(getattr(args, "out", None)) or line
        if line is None:
            raise  # not a kind of error the user can fix from a message: the traceback
        if args.debug:
            traceback.print_exc()
        print(f"lcz-map {args.command}: error: {line}", file=sys.stderr)
        return 2


def explain_io_failure(out: object) -> str | None:
    """One line for a vague I/O failure (GDAL's "Write failed"/"Read failed" carries no errno)
    from the state of the output's file system: read-only, or full."""
    if out is None:
        return None
    path = Path(str(out)).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        fs = os.statvfs(path)
    except OSError:
        return None
    if fs.f_flag & os.ST_RDONLY:
        return f"{out}: read-only file system"
    if fs.f_bavail * fs.f_frsize < 1 << 20:
        return f"{out}: no space left on device (while writing rasters)"
    return None


def error_line(e: Exception) -> str | None:
    """The one line for an error the user can act on (bad option, bad input, a busy or faulty
    output path), or None for anything else."""
    from pydantic import ValidationError

    from sunet.locks import FolderBusyError
    from sunet.options import option_errors

    if isinstance(e, ValidationError):
        return option_errors(e)  # a config built in the library from the user's options
    if isinstance(e, FileNotFoundError) and e.errno is not None and e.filename is not None:
        return os_error_line(e)  # raised by the OS, not by the library's own checks
    if isinstance(e, CliError | FileNotFoundError | ValueError | FolderBusyError):
        return str(e)  # library errors carry the offending file and the problem in one line
    if isinstance(e, OSError):
        return os_error_line(e)
    return None


if __name__ == "__main__":
    sys.exit(main())
