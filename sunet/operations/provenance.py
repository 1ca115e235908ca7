"""Which model to map with: the one given, one trained earlier on the same labels, or a new one.

A model depends on its training labels and on how they were tiled, not on every scene: new
imagery is remapped with the model in hand, while new or edited labels (or a new patch size,
purity threshold ...) call for training again. :func:`labels_key` condenses exactly those
inputs: the SHA-256 of the label file's bytes and the tiling options, minus options that change
only how fast tiling runs. A bundle trained by the pipeline gets ``provenance.json`` beside it
recording the key; trained bundles live at ``MODELS/<key[:16]>/``, so a later run with the same
labels finds its model by name, and a run that changes the labels trains into a new folder without
touching the old model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sunet.atomic import write_text_atomic
from sunet.hashing import canonical_json, file_hash, hasher

__all__ = ["PROVENANCE_JSON", "ModelChoice", "choose_model", "labels_key", "record_provenance"]

PROVENANCE_JSON = "provenance.json"
# Tiling options that change how fast the store is made, not what is in it.
_RUNTIME_TILING = ("workers",)


def labels_key(labels: str | os.PathLike[str], tiling: dict[str, Any]) -> str:
    """SHA-256 (hex) of the label file's bytes and the tiling options (JSON, sorted keys)."""
    options = {k: v for k, v in tiling.items() if k not in _RUNTIME_TILING}
    digest = hasher("sha256")
    digest.update(file_hash(labels).encode())
    digest.update(canonical_json(options).encode())
    return digest.hexdigest()


def recorded_key(bundle: str | os.PathLike[str]) -> str | None:
    """The labels key recorded beside a bundle, or None if it has no record."""
    f = Path(bundle).with_name(PROVENANCE_JSON)
    if not f.is_file():
        return None
    key = json.loads(f.read_text(encoding="utf-8")).get("labels_key")
    return str(key) if key else None


def record_provenance(
    bundle: str | os.PathLike[str], key: str, labels: str | os.PathLike[str], tiling: dict[str, Any]
) -> Path:
    """Write ``provenance.json`` beside ``bundle``: the labels key and what it was made from."""
    doc = {"labels_key": key, "labels": str(Path(labels).resolve()), "tiling": tiling}
    return write_text_atomic(
        Path(bundle).with_name(PROVENANCE_JSON), json.dumps(doc, indent=1, default=str) + "\n"
    )


@dataclass(frozen=True)
class ModelChoice:
    """``bundle`` to map with, or None when one must be trained (into ``train_dir``); ``reason``
    says why, in words."""

    bundle: Path | None
    train_dir: Path
    reason: str


def choose_model(
    given: Path | None, models_dir: Path, key: str | None, bundle_name: str
) -> ModelChoice:
    """Decide between the given bundle, an earlier trained one, and training.

    Args:
        given: a bundle the user named (None: none).
        models_dir: where the pipeline keeps the bundles it trains.
        key: :func:`labels_key` of the current labels, or None when there are no labels (then a
            model must be given).
        bundle_name: file name of a trained bundle in its run folder.

    Raises:
        FileNotFoundError: a given bundle that does not exist.
        ValueError: neither a model nor labels to train one.
    """
    if given is not None and not Path(given).is_file():
        raise FileNotFoundError(f"{given}: model bundle not found")
    if key is None:
        if given is None:
            raise ValueError("no model given and no labels to train one: set 'model' or 'labels'")
        return ModelChoice(given, models_dir, "model given (no labels to compare with)")
    train_dir = models_dir / key[:16]
    if given is not None:
        recorded = recorded_key(given)
        if recorded is None:
            return ModelChoice(given, train_dir, "model given (it records no training labels)")
        if recorded == key:
            return ModelChoice(given, train_dir, "model given, trained on these labels")
        reason = f"labels or tiling changed since {given} was trained"
    else:
        reason = "no model given"
    earlier = train_dir / bundle_name
    if earlier.is_file() and recorded_key(earlier) == key:
        return ModelChoice(
            earlier, train_dir, f"{reason}; reusing the model trained on these labels"
        )
    return ModelChoice(None, train_dir, f"{reason}; training on these labels")
