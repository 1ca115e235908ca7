"""``lcz-map synth``: generate the embedded synthetic city."""

from __future__ import annotations

import argparse
import sys
import time

from sunet.synth.city import generate_city
from sunet.synth.config import SynthConfig

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    defaults = SynthConfig()
    p = subparsers.add_parser(
        "synth",
        help="generate the synthetic city (scenes, labels, districts)",
        description="Generate a synthetic city around Wuhan: EPSG:3857 RGB scenes at about 1 m, "
        "LCZ label polygons and five districts in EPSG:4326, a preview and a manifest.",
    )
    p.add_argument("--out", help="output folder (created; a previous city there is replaced)")
    p.add_argument(
        "--seed", type=int, default=defaults.seed, help="random seed (default %(default)s)"
    )
    p.add_argument(
        "--scenes",
        type=int,
        default=defaults.scenes,
        help="number of scenes, on a near-square grid (default %(default)s)",
    )
    p.add_argument(
        "--size",
        type=int,
        default=defaults.size_px,
        help="scene side in pixels (default %(default)s)",
    )
    p.add_argument(
        "--gsd",
        type=float,
        default=defaults.gsd_m,
        help="ground pixel of the rendering, m (default %(default)s)",
    )
    p.add_argument(
        "--look",
        action="append",
        dest="looks",
        metavar="NAME",
        help="render in this look (a built-in name, 'random' for a new random look per scene, "
        "or a look .json file); repeat it to share the scenes out among several looks "
        "(default: default)",
    )
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
    config = SynthConfig(
        seed=args.seed,
        scenes=args.scenes,
        size_px=args.size,
        gsd_m=args.gsd,
        looks=args.looks or SynthConfig().looks,
    )
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
