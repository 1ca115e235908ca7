"""``lcz-map info FILE``: what a model bundle holds (preset, classes, statistics, metrics, hash)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run", "describe"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "info",
        help="describe a model bundle",
        description="Print a model bundle's preset, architecture, classes, normalisation, "
        "patch geometry, training summary, metrics and training-data hash.",
    )
    p.add_argument("file", type=Path, help="model bundle (.safetensors)")
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def describe(path: Path) -> str:
    """A human-readable summary of the bundle at ``path`` (reads the header only).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an SU-Net model bundle.
    """
    from sunet.bundle import read_bundle_meta

    meta = read_bundle_meta(path)
    m = meta.model
    arch = ", ".join(
        f"{k}={v}"
        for k, v in (("embed_dim", m.embed_dim), ("depths", m.depths), ("num_heads", m.num_heads))
        if v is not None
    )
    lines = [
        f"SU-Net model bundle: {path} ({path.stat().st_size / 1e6:.1f} MB, {meta.format})",
        f"preset:        {meta.preset}",
        f"backbone:      {m.backbone}" + (f" ({arch})" if arch else ""),
        f"streams:       {'PSC + MSU' if m.pure_stream else 'MSU only (no PSC stream)'}; "
        f"decoder {m.decoder_channels} channels; dropout {m.head_dropout}",
        f"input:         {meta.input_size} px model input from {meta.patch_size} px patches "
        f"at {meta.gsd:g} m ({meta.patch_size * meta.gsd:g} m on the ground)",
        f"bands:         {', '.join(meta.bands)}"
        + (
            f" (scene bands {', '.join(map(str, meta.source_bands))})"
            if meta.source_bands is not None
            else ""
        ),
        f"CRS:           {meta.crs} ({meta.crs_convention})",
        f"normalisation: mean {_fmt(meta.mean)}, std {_fmt(meta.std)} (0-255 scale)",
        f"radiometry:    {_fmt(meta.radiometry.model_dump())} (scene values -> uint8, also "
        "when mapping)",
        "novelty:       "
        + (
            f"profile of {int(meta.novelty.get('fitted', 0))} training patches (features and "
            f"colours; scaled by {int(meta.novelty.get('held_out', 0))} held-out patches)"
            if meta.novelty and "features_median" in meta.novelty
            else "no feature profile (map cannot score scenes)"
        ),
        f"classes:       {len(meta.classes)} (output i = raster code i + 1): LCZ "
        + " ".join(str(c["letter"]) for c in meta.classes),
        f"training data: {meta.index_hash}",
        f"created:       {meta.created}",
    ]
    if meta.training:
        lines.append("training:")
        lines += [f"  {k}: {_fmt(v)}" for k, v in meta.training.items()]
    if meta.metrics:
        lines.append("metrics:")
        lines += [f"  {k}: {_fmt(v)}" for k, v in meta.metrics.items()]
    else:
        lines.append("metrics:       none yet (lcz-map evaluate adds them)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.json:
        from sunet.bundle import read_bundle_meta

        print(json.dumps(read_bundle_meta(args.file).model_dump(mode="json"), indent=2))
    else:
        print(describe(args.file))
    return 0
