"""Train/val/test splits without spatial leakage, and paper-style sampling (pure functions).

Cells are grouped into square spatial blocks of ``block x block`` cells; a block goes to one split
whole, so no two cells of a block (which touch or nearly touch) are ever in different splits.
Blocks are assigned greedily, rarest class first: each block is labelled by the rarest dominant
class it contains (rarity over the whole store), blocks are visited from the rarest upwards (ties
in a seeded random order), and each goes to

1. a split that does not have that class yet (largest target share first), so every class
   reaches every split when it occurs in at least three blocks;
2. otherwise the split furthest below its target share of that class;
3. then the split furthest below its target share of patches overall;

where rules 1 and 2 consider only splits with room for at least half the block (when none has,
rule 3 decides), so that class coverage never costs the 4:1:1 ratio more than half a block.

This is a hand-written greedy rule because no library in the stack splits by spatial groups with
class stratification (scikit-learn's ``StratifiedGroupKFold`` gives folds, not 4:1:1 splits that
guarantee per-class coverage).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sunet.patch_store import SPLITS

__all__ = ["assign_blocks", "block_ids", "sample_kinds"]


def block_ids(rows: np.ndarray, cols: np.ndarray, block: int) -> np.ndarray:
    """Spatial block of each cell: int64 ids numbering the occupied blocks row-major from the
    north-west (``floor(row / block), floor(col / block)``)."""
    br = np.floor_divide(np.asarray(rows, dtype=np.int64), block)
    bc = np.floor_divide(np.asarray(cols, dtype=np.int64), block)
    keys = np.stack([br, bc], axis=1)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def assign_blocks(
    blocks: np.ndarray,
    dominant: np.ndarray,
    ratio: tuple[float, float, float],
    seed: int,
) -> np.ndarray:
    """Split name per patch (object array of ``'train'|'val'|'test'``).

    Args:
        blocks: int ``(N,)`` block id of each patch.
        dominant: int ``(N,)`` dominant class code of each patch.
        ratio: target relative sizes of train, val, test (``TileConfig.split_ratio``).
        seed: orders blocks of equal rarity (``TileConfig.seed``).
    """
    blocks = np.asarray(blocks)
    dominant = np.asarray(dominant)
    if blocks.size == 0:
        return np.asarray([], dtype=object)
    target = np.asarray(ratio, dtype=np.float64) / float(np.sum(ratio))
    classes, dom_idx = np.unique(dominant, return_inverse=True)
    block_list, blk_idx = np.unique(blocks, return_inverse=True)
    per_block = np.zeros((len(block_list), len(classes)), dtype=np.int64)
    np.add.at(per_block, (blk_idx, dom_idx), 1)
    class_total = per_block.sum(axis=0)
    # Rarest class present in each block (ties: the lower class code).
    rarity = np.where(per_block > 0, class_total[None, :], np.iinfo(np.int64).max)
    rarest = np.argmin(rarity, axis=1)
    shuffle = np.random.default_rng(seed).permutation(len(block_list))
    order = shuffle[np.argsort(class_total[rarest[shuffle]], kind="stable")]

    have = np.zeros((len(SPLITS), len(classes)), dtype=np.int64)
    split_of_block = np.zeros(len(block_list), dtype=np.int64)
    active = target > 0
    for b in order:
        c = rarest[b]
        overall_deficit = target * class_total.sum() - have.sum(axis=1)
        room = overall_deficit >= per_block[b].sum() / 2  # at least half the block fits
        missing = (have[:, c] == 0) & room
        class_deficit = target * class_total[c] - have[:, c]
        keys = [
            (bool(missing[s]), bool(room[s]), class_deficit[s], overall_deficit[s], target[s])
            for s in range(len(SPLITS))
        ]
        candidates = [s for s in range(len(SPLITS)) if active[s]]
        s = max(candidates, key=lambda s: keys[s])
        split_of_block[b] = s
        have[s] += per_block[b]
    return np.asarray(SPLITS, dtype=object)[split_of_block[blk_idx]]


def sample_kinds(index: pd.DataFrame, limits: dict[str, int | None], seed: int) -> np.ndarray:
    """Which patches to keep when at most ``limits[kind]`` patches of a kind are wanted.

    Applied after splitting: each split keeps its share of a kind in proportion to its size
    (largest remainders), patches are drawn uniformly with a seeded generator.

    Args:
        index: with columns ``kind`` and ``split``.
        limits: e.g. ``{"mixed": 15000, "pure": 7500}``; ``None`` keeps all of a kind.
        seed: of the draw (``TileConfig.seed``).

    Returns:
        bool ``(N,)`` mask of the patches kept.
    """
    keep = np.ones(len(index), dtype=bool)
    rng = np.random.default_rng(seed)
    for kind in sorted(limits):
        limit = limits[kind]
        of_kind = np.flatnonzero(index["kind"].to_numpy() == kind)
        if limit is None or len(of_kind) <= limit:
            continue
        splits = index["split"].to_numpy()[of_kind]
        sizes = np.asarray([np.count_nonzero(splits == s) for s in SPLITS], dtype=np.float64)
        quota = sizes / sizes.sum() * limit
        take = np.floor(quota).astype(np.int64)
        for s in np.argsort(-(quota - take), kind="stable")[: limit - int(take.sum())]:
            take[s] += 1
        keep[of_kind] = False
        for s, name in enumerate(SPLITS):
            members = of_kind[splits == name]
            keep[rng.choice(members, size=int(take[s]), replace=False)] = True
    return keep
