"""``lcz-map synth``: generate the embedded synthetic city."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["FLAGS", "add_parser", "run"]

# Fields whose flag is not their name: `--look winter monsoon` shares the scenes among looks.
FLAGS = {"size_px": "size", "gsd_m": "gsd", "looks": "look"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sunet.options import add_options
    from sunet.synth.config import SynthConfig

    p = subparsers.add_parser(
        "synth",
        help="generate the synthetic city (scenes, labels, districts)",
        description="Generate a synthetic city around Wuhan: EPSG:3857 RGB scenes at about 1 m, "
        "LCZ label polygons and five districts in EPSG:4326, a preview and a manifest.",
    )
    p.add_argument("--out", type=Path, metavar="PATH",
                   help="output folder (created; a previous city there is replaced)")  # fmt: skip
    add_options(p, SynthConfig, flags=FLAGS)
    p.add_argument("--list-looks", action="store_true", help="list the built-in looks and exit")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def run(args: argparse.Namespace) -> int:
    if args.list_looks:
        from sunet.synth.looks import LOOKS, RANDOM

        for name, look in LOOKS.items():
            print(f"{name:16s} {look.summary}")
        print(f"{RANDOM:16s} a new look drawn at random for every scene (domain randomisation)")
        return 0
    if not args.out:
        raise ValueError("--out is required")
    from sunet.options import config_from_args
    from sunet.synth.city import generate_city
    from sunet.synth.config import SynthConfig

    config: SynthConfig = config_from_args(SynthConfig, args, FLAGS)
    start = time.perf_counter()

    def say(msg: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - start:7.1f} s] {msg}", file=sys.stderr)

    manifest = generate_city(config, args.out, progress=say)
    census = manifest.census
    if not args.quiet:
        print(
            f"{args.out}: {len(manifest.scenes)} scenes, {manifest.label_polygons} label polygons, "
            f"{census['pure']} pure / {census['mixed']} mixed 256 m patches, "
            f"{time.perf_counter() - start:.1f} s"
        )
    return 0
