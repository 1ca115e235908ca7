"""Deterministic randomness for the synthetic city: integer hashing and periodic texture fields.

Everything the renderer draws must be a pure function of position (layout metres or global mosaic
pixel indices) and the city seed, so that two overlapping scenes, or two strips of one scene, show
exactly the same ground. Two tools give that without any per-pixel Python:

* :func:`hash_ints` mixes integer lattice coordinates (a lot, a tree cell, a pond) into a 32-bit
  key; :class:`AttributeTable` turns a key into any number of independent uniform numbers by
  indexing a seeded table (one gather per attribute instead of re-hashing).
* :class:`TextureBank` holds a few seeded periodic noise tiles of different grain, each mapped to a
  uniform distribution so that ``field < q`` selects a share ``q`` of the ground. A field is read
  at global pixel indices with a per-use offset, so one tile serves many independent fields.

Hashing and the smooth lattice noise used on plan vertices are written by hand (a few vectorised
integer operations); no library offers position-keyed, window-independent noise of this kind.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, special

__all__ = ["AttributeTable", "TextureBank", "hash_ints", "unit", "value_noise"]

_M1 = np.uint32(0x7FEB352D)
_M2 = np.uint32(0x846CA68B)
_GOLDEN = np.uint32(0x9E3779B9)


def _mix32(h: np.ndarray) -> np.ndarray:
    # "lowbias32" integer finaliser: every input bit affects every output bit.
    h = h ^ (h >> np.uint32(16))
    h = h * _M1
    h = h ^ (h >> np.uint32(15))
    h = h * _M2
    return h ^ (h >> np.uint32(16))


# Odd multipliers that spread lattice coordinates over the 32-bit range before mixing.
_SPREAD = tuple(
    np.uint32(m) for m in (0x8DA6B343, 0xD8163841, 0xCB1AB31F, 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D)
)


def hash_ints(*parts: np.ndarray | int, salt: int) -> np.ndarray:
    """A well-mixed ``uint32`` key of integer arrays (broadcast together) and a ``salt``.

    Parts are spread by distinct odd multipliers, summed (wrapping) and mixed twice, which is
    one pass over the pixels instead of one per part. Negative integers wrap modulo 2**32.
    """
    if len(parts) > len(_SPREAD):
        raise ValueError(f"hash_ints takes at most {len(_SPREAD)} parts")
    with np.errstate(over="ignore"):  # 0-d arrays warn on the intended uint32 wrap-around
        h = np.asarray(_mix32(np.asarray(np.uint32(salt & 0xFFFFFFFF))))
        for p, m in zip(parts, _SPREAD, strict=False):
            q = np.asarray(p)
            if q.dtype.kind == "f":
                q = q.astype(np.int32)  # lattice indices; float -> unsigned would be undefined
            if q.dtype != np.uint32:
                q = q.astype(np.uint32)  # integer casts wrap modulo 2**32
            h = h + q * m
        h = _mix32(_mix32(h))
    return np.asarray(h, dtype=np.uint32)


def unit(h: np.ndarray) -> np.ndarray:
    """Map ``uint32`` keys to uniform ``float32`` numbers in ``[0, 1)`` (24-bit resolution)."""
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def value_noise(x: np.ndarray, y: np.ndarray, salt: int) -> np.ndarray:
    """Smooth lattice noise in ``[-1, 1]`` with unit lattice spacing (scale ``x``/``y`` first).

    Meant for a modest number of points (polygon vertices, zone centroids), not whole scenes.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ix = np.floor(x)
    iy = np.floor(y)
    fx = x - ix
    fy = y - iy
    sx = fx * fx * (3.0 - 2.0 * fx)
    sy = fy * fy * (3.0 - 2.0 * fy)
    ix = ix.astype(np.int64)
    iy = iy.astype(np.int64)

    def corner(dx: int, dy: int) -> np.ndarray:
        return unit(hash_ints(ix + dx, iy + dy, salt=salt)).astype(np.float64) * 2.0 - 1.0

    top = corner(0, 0) * (1 - sx) + corner(1, 0) * sx
    bottom = corner(0, 1) * (1 - sx) + corner(1, 1) * sx
    return top * (1 - sy) + bottom * sy


class AttributeTable:
    """Independent uniform attributes of hashed objects (lots, trees, ponds, cars).

    ``table.get(keys, k)`` is attribute ``k`` (``0 <= k < n_attributes``) of every key; the same key
    always gives the same attributes, different ``k`` are independent.
    """

    def __init__(self, seed: int, n_attributes: int = 16, size_log2: int = 16) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA771]))
        self._mask = np.uint32((1 << size_log2) - 1)
        self._values = rng.random((n_attributes, 1 << size_log2), dtype=np.float32)

    @property
    def n_attributes(self) -> int:
        return int(self._values.shape[0])

    def get(self, keys: np.ndarray, k: int) -> np.ndarray:
        """Attribute ``k`` of ``keys`` (``uint32``), uniform ``float32`` in ``[0, 1)``."""
        # A second mix per attribute decorrelates keys that collide in the low bits.
        idx = (keys ^ (keys >> np.uint32(16 + (k % 7)))) & self._mask
        return self._values[k][idx]


# Grain of each tile: Gaussian low-pass sigma in pixels (0 = white noise) and tile side (power of 2).
_TILES: dict[str, tuple[float, int]] = {
    "grain": (0.0, 1024),
    "fine": (1.2, 1024),
    "small": (4.0, 1024),
    "medium": (14.0, 1024),
    "large": (60.0, 2048),
}


class TextureBank:
    """Seeded periodic noise tiles, each with a uniform ``[0, 1)`` marginal distribution.

    Fields are read at global mosaic pixel indices (``rows``, ``cols``), so that every scene cut
    from the mosaic sees the same texture at the same ground position. ``scale`` stretches a field
    (``scale=4`` on ``"large"`` gives blobs of a few hundred metres).
    """

    def __init__(self, seed: int) -> None:
        self._tiles: dict[str, np.ndarray] = {}
        for i, (name, (sigma, side)) in enumerate(_TILES.items()):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E47, i]))
            white = rng.standard_normal((side, side)).astype(np.float32)
            if sigma > 0:
                freq = np.fft.fftfreq(side).astype(np.float32)
                gain = np.exp(
                    -2.0 * (np.pi * sigma) ** 2 * (freq[:, None] ** 2 + freq[None, :] ** 2)
                )
                white = fft.ifft2(fft.fft2(white) * gain).real.astype(np.float32)
            white = (white - white.mean()) / max(float(white.std()), 1e-12)
            self._tiles[name] = special.ndtr(white).astype(np.float32)

    def sample(
        self, name: str, salt: int, rows: np.ndarray, cols: np.ndarray, scale: int = 1
    ) -> np.ndarray:
        """Field ``name`` at pixel indices (broadcastable ``rows``/``cols``, ints), ``float32``.

        ``salt`` picks an offset into the periodic tile, so different salts give independent-looking
        fields from one tile.
        """
        tile = self._tiles[name]
        side = tile.shape[0]
        h = int(hash_ints(salt, salt=0x5EED))
        oy, ox = h & 0xFFFF, (h >> 16) & 0xFFFF
        r = (np.floor_divide(rows, scale) + oy) & (side - 1)
        c = (np.floor_divide(cols, scale) + ox) & (side - 1)
        return tile[r, c]
