"""Per-patch spectral and texture features for the WUDAPT-style random-forest baseline.

WUDAPT (Bechtel et al. 2015, 2019) classifies LCZs with a random forest on per-pixel spectral
bands and simple derived layers. Our imagery is RGB at ~1 m, so the analogue is a feature vector
per patch: band statistics, a vegetation-like index, edge density, local variance at three
scales and grey-level co-occurrence statistics. All are computed for a whole batch at once in
numpy; scikit-image's ``graycomatrix`` would give the same co-occurrence figures, one patch at a
time, and is not a dependency of this project, so the co-occurrence counts are a ``bincount``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FEATURE_NAMES", "patch_features"]

_PERCENTILES = (10, 50, 90)
_BLOCK_FRACTIONS = (32, 8, 2)  # block side = patch side / fraction: fine, medium, coarse
_GLCM_LEVELS = 8
_EPS = 1e-6


def _names() -> list[str]:
    names = []
    for band in "rgb":
        names += [f"{band}_mean", f"{band}_std"] + [f"{band}_p{q}" for q in _PERCENTILES]
    names += ["brightness_std", "gr_index_mean", "gr_index_std", "gr_index_green_share"]
    names += ["exg_mean", "exg_std", "br_index_mean"]
    names += ["gradient_mean", "gradient_std", "edge_density_low", "edge_density_high"]
    for f in _BLOCK_FRACTIONS:
        names += [f"local_var_1_{f}_mean", f"local_var_1_{f}_std"]
    names += [
        "glcm_contrast",
        "glcm_homogeneity",
        "glcm_energy",
        "glcm_entropy",
        "glcm_correlation",
    ]
    return names


FEATURE_NAMES: tuple[str, ...] = tuple(_names())


def _block_variance(gray: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over blocks of the within-block variance of ``gray`` (B, P, P)."""
    b, p, _ = gray.shape
    side = max(2, min(side, p))
    n = p // side
    g = gray[:, : n * side, : n * side].reshape(b, n, side, n, side)
    var = g.var(axis=(2, 4))
    return var.mean(axis=(1, 2)), var.std(axis=(1, 2))


def _glcm(gray: np.ndarray) -> np.ndarray:
    """Contrast, homogeneity, energy, entropy, correlation of the symmetric co-occurrence
    matrix of ``gray`` (B, P, P) in [0, 1], quantised to 8 levels, averaged over the
    horizontal and vertical one-pixel offsets. Returns ``(B, 5)``."""
    b = gray.shape[0]
    levels = _GLCM_LEVELS
    q = np.minimum((gray * levels).astype(np.int64), levels - 1)
    base = (np.arange(b) * levels * levels)[:, None]
    counts = np.zeros((b, levels * levels))
    for a, c in ((q[:, :, :-1], q[:, :, 1:]), (q[:, :-1, :], q[:, 1:, :])):
        for first, second in ((a, c), (c, a)):  # both orders: a symmetric matrix
            idx = (first * levels + second).reshape(b, -1) + base
            counts += np.bincount(idx.ravel(), minlength=b * levels * levels).reshape(b, -1)
    p = (counts / counts.sum(axis=1, keepdims=True)).reshape(b, levels, levels)
    i = np.arange(levels)[:, None].astype(np.float64)
    j = np.arange(levels)[None, :].astype(np.float64)
    contrast = (p * (i - j) ** 2).sum(axis=(1, 2))
    homogeneity = (p / (1.0 + np.abs(i - j))).sum(axis=(1, 2))
    energy = (p**2).sum(axis=(1, 2))
    entropy = -(p * np.log(p + _EPS)).sum(axis=(1, 2))
    mu = (p * i).sum(axis=(1, 2))  # symmetric: the same for rows and columns
    var = (p * (i - mu[:, None, None]) ** 2).sum(axis=(1, 2))
    cov = (p * (i - mu[:, None, None]) * (j - mu[:, None, None])).sum(axis=(1, 2))
    correlation = np.where(var > _EPS, cov / np.maximum(var, _EPS), 1.0)
    return np.stack([contrast, homogeneity, energy, entropy, correlation], axis=1)


def patch_features(images: np.ndarray) -> np.ndarray:
    """Feature vectors of a batch of patches.

    Args:
        images: uint8 ``(B, 3, P, P)`` RGB patches (0-255).

    Returns:
        float32 ``(B, len(FEATURE_NAMES))``, in the order of :data:`FEATURE_NAMES`; reflectances
        are scaled to [0, 1].
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images (B, 3, P, P), got {images.shape}")
    x = images.astype(np.float32) / 255.0
    b, _, p, _ = x.shape
    flat = x.reshape(b, 3, -1)
    cols = []
    pct = np.percentile(flat, _PERCENTILES, axis=2)  # (3 percentiles, B, 3 bands)
    for k in range(3):
        cols += [flat[:, k].mean(axis=1), flat[:, k].std(axis=1)] + [pct[i, :, k] for i in range(3)]
    r, g, bl = x[:, 0], x[:, 1], x[:, 2]
    gray = x.mean(axis=1)
    cols.append(gray.reshape(b, -1).std(axis=1))
    gr = (g - r) / (g + r + _EPS)
    cols += [gr.mean(axis=(1, 2)), gr.std(axis=(1, 2)), (gr > 0.05).mean(axis=(1, 2))]
    exg = (2 * g - r - bl) / (r + g + bl + _EPS)
    cols += [exg.mean(axis=(1, 2)), exg.std(axis=(1, 2))]
    cols.append(((bl - r) / (bl + r + _EPS)).mean(axis=(1, 2)))
    gx = gray[:, :-1, 1:] - gray[:, :-1, :-1]
    gy = gray[:, 1:, :-1] - gray[:, :-1, :-1]
    grad = np.sqrt(gx**2 + gy**2)
    cols += [grad.mean(axis=(1, 2)), grad.std(axis=(1, 2))]
    cols += [(grad > 0.05).mean(axis=(1, 2)), (grad > 0.15).mean(axis=(1, 2))]
    for f in _BLOCK_FRACTIONS:
        cols += list(_block_variance(gray, p // f))
    feats = np.concatenate([np.stack(cols, axis=1), _glcm(gray)], axis=1)
    return feats.astype(np.float32)
