"""From stored uint8 patches to model input: resize to the model's size, then normalise.

Training and inference both go through these two functions, so that a patch seen by the
:class:`~sunet.bundle.Predictor` is prepared exactly as it was in training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["resize_uint8", "normalise"]


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 ``(B, C, P, P)`` to ``(B, C, size, size)`` uint8 (antialiased bilinear).

    A no-op when ``P == size``. The result is rounded back to uint8 so that training can cache
    resized patches compactly and inference sees the same values.
    """
    if images.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {images.dtype}")
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = F.interpolate(
        images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 or float ``(B, C, H, W)`` on the 0-255 scale -> float32 ``(x - mean) / std`` per band."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=images.device)[None, :, None, None]
    s = torch.as_tensor(std, dtype=torch.float32, device=images.device)[None, :, None, None]
    return (images.float() - m) / s
