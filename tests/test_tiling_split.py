"""Spatial-block splits and sampling (pure functions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sunet.tiling.split import assign_blocks, block_ids, sample_kinds


def _grid(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An n x n field of cells with common classes and a few rare ones in patches."""
    rng = np.random.default_rng(seed)
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    dominant = rng.choice([2, 6, 11, 14], size=(n, n), p=[0.4, 0.3, 0.2, 0.1])
    dominant[0:2, 0:2] = 17  # a rare class in exactly 3 blocks (block = 2)
    dominant[10:12, 20:22] = 17
    dominant[20:22, 4:6] = 17
    dominant[6:8, 6:8] = 8  # a class in 2 blocks only: cannot reach all three splits
    dominant[16:18, 12:14] = 8
    return rows.ravel(), cols.ravel(), dominant.ravel()


def test_blocks_group_neighbouring_cells() -> None:
    rows = np.array([-3, -3, -2, -1, 0, 0, 5])
    cols = np.array([0, 1, 1, 3, 0, 4, 4])
    ids = block_ids(rows, cols, 2)
    assert ids[0] == ids[1] and ids[2] != ids[1]  # rows -3 and -2 fall in blocks -2 and -1
    assert ids[4] != ids[5] and len(set(ids)) == 6


def test_splits_follow_the_ratio_and_cover_every_class_the_data_allows() -> None:
    rows, cols, dominant = _grid()
    blocks = block_ids(rows, cols, 2)
    split = assign_blocks(blocks, dominant, (4, 1, 1), seed=0)
    frame = pd.DataFrame({"block": blocks, "split": split, "dominant": dominant})
    assert (frame.groupby("block")["split"].nunique() == 1).all()
    shares = frame["split"].value_counts(normalize=True)
    assert abs(shares["train"] - 4 / 6) < 0.05
    assert abs(shares["val"] - 1 / 6) < 0.05 and abs(shares["test"] - 1 / 6) < 0.05
    for code in (2, 6, 11, 14, 17):
        assert set(frame.loc[frame["dominant"] == code, "split"]) == {"train", "val", "test"}, code
    assert len(set(frame.loc[frame["dominant"] == 8, "split"])) == 2


def test_splits_are_deterministic_for_a_seed() -> None:
    rows, cols, dominant = _grid()
    blocks = block_ids(rows, cols, 2)
    a = assign_blocks(blocks, dominant, (4, 1, 1), seed=3)
    assert (a == assign_blocks(blocks, dominant, (4, 1, 1), seed=3)).all()
    assert (a != assign_blocks(blocks, dominant, (4, 1, 1), seed=4)).any()


def test_sampling_keeps_split_proportions() -> None:
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "kind": rng.choice(["pure", "mixed"], size=n),
            "split": rng.choice(["train", "val", "test"], size=n, p=[4 / 6, 1 / 6, 1 / 6]),
        }
    )
    keep = sample_kinds(frame, {"mixed": 120, "pure": None}, seed=1)
    kept = frame[keep]
    assert (kept["kind"] == "mixed").sum() == 120
    assert (kept["kind"] == "pure").sum() == (frame["kind"] == "pure").sum()
    mixed = frame[frame["kind"] == "mixed"]["split"].value_counts(normalize=True)
    sampled = kept[kept["kind"] == "mixed"]["split"].value_counts(normalize=True)
    assert (abs(mixed - sampled) < 0.01).all()
    assert (keep == sample_kinds(frame, {"mixed": 120, "pure": None}, seed=1)).all()
