"""Fine-tuning from a model bundle (``init_from``): the checks, the replayed patches, the record.

A bundle is fine-tuned only on stores it reads the same way it was trained (bands, patch size,
GSD, radiometry). With ``replay``, patches of what the bundle learnt from are mixed into the new
ones, so that a few polygons of a new city add to what the model knew instead of replacing it.
The bundle it started from is recorded in the new bundle (:func:`init_record`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from sunet.bundle import Bundle
from sunet.hashing import file_hash
from sunet.patch_store import PatchStore
from sunet.training.data import SplitData, load_split

__all__ = ["check_fine_tune", "init_record", "with_replay"]


def check_fine_tune(init: Bundle, store: PatchStore) -> None:
    """Refuse to fine-tune a bundle on a store it cannot read the same way it was trained."""
    meta, problems = init.meta, []
    if list(meta.bands) != list(store.bands):
        problems.append(f"bands {meta.bands} vs the store's {store.bands}")
    elif meta.source_bands is not None and list(meta.source_bands) != store.source_bands:
        problems.append(
            f"scene bands {meta.source_bands} vs the store's {store.source_bands} (--bands)"
        )
    if meta.patch_size != store.patch_size:
        problems.append(f"patch size {meta.patch_size} vs the store's {store.patch_size} px")
    if not math.isclose(meta.gsd, store.gsd, rel_tol=1e-6):
        problems.append(f"GSD {meta.gsd:g} vs the store's {store.gsd:g} m")
    if meta.radiometry != store.radiometry:
        problems.append(
            f"radiometry {meta.radiometry.model_dump()} vs the store's "
            f"{store.radiometry.model_dump()} (tile with the same --stretch/--scale-range)"
        )
    if problems:
        raise ValueError(f"{init.path}: cannot fine-tune on {store.path}: {'; '.join(problems)}")


def with_replay(
    init: Bundle,
    new: SplitData,
    replay: Path,
    ratio: float,
    seed: int,
    cache_max_bytes: float,
) -> tuple[SplitData, int]:
    """``new`` followed by a seeded random draw of ``ratio`` train patches of the ``replay``
    store per new patch (all of them when it holds fewer).

    Returns:
        The joined split and the number of replayed patches.

    Raises:
        ValueError: the bundle cannot read the replay store, or its train split is empty.
    """
    store = PatchStore(replay)
    check_fine_tune(init, store)
    source = load_split(store, "train", new.input_size, cache_max_bytes)
    if len(source) == 0:
        raise ValueError(f"{store.index_path}: no patches in the train split to replay")
    count = min(len(source), max(1, round(ratio * len(new))))
    rows = np.sort(np.random.default_rng(seed).permutation(len(source))[:count])
    return new.join(source.take(rows)), count


def init_record(init: Bundle) -> dict[str, Any]:
    """What a fine-tuned model started from, as its bundle records it."""
    meta = init.meta
    return {
        "path": str(Path(init.path).resolve()),
        "sha256": file_hash(Path(init.path), tagged=True),
        "preset": meta.preset,
        "index_hash": meta.index_hash,
        "created": meta.created,
        "init_from": meta.training.get("init_from"),
    }
