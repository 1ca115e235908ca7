"""Colour arithmetic shared by the synthetic city's looks and the training augmentation.

In YIQ (luma and two chroma axes) saturation is a scale of the chroma and a hue change a rotation
of it, which is all either needs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FROM_YIQ", "TO_YIQ", "hue_saturation"]

TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
FROM_YIQ = np.linalg.inv(TO_YIQ)


def hue_saturation(rgb: np.ndarray, turn: float, saturation: float) -> np.ndarray:
    """``(..., 3)`` RGB with the hue turned by ``turn`` radians and the chroma scaled."""
    yiq = np.asarray(rgb, dtype=np.float64) @ TO_YIQ.T
    c, s = np.cos(turn), np.sin(turn)
    i, q = yiq[..., 1].copy(), yiq[..., 2].copy()
    yiq[..., 1] = saturation * (i * c - q * s)
    yiq[..., 2] = saturation * (i * s + q * c)
    return yiq @ FROM_YIQ.T
