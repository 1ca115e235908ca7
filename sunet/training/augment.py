"""Augmentation for top-down imagery: the eight flips/rotations of a square, mild radiometry.

Overhead patches have no "up": every element of the dihedral group D4 (four 90-degree rotations,
each with or without a flip) is an equally valid view, and costs no interpolation. Radiometric
jitter is kept mild (brightness and contrast +-10 %, per-band gain +-3 %) because colour carries
class information (vegetation, water, bare soil).

Random numbers come from the augmenter's own CPU generator, so that its state can be saved in a
checkpoint and the same draws happen on CPU and GPU.
"""

from __future__ import annotations

import torch

__all__ = ["Augmenter"]


class Augmenter:
    """Random D4 transform and radiometric jitter of uint8 ``(B, C, H, W)`` square patches.

    Args:
        seed: generator seed.
        brightness: maximum relative brightness change.
        contrast: maximum relative contrast change.
        band_gain: maximum relative per-band gain change.
    """

    def __init__(
        self,
        seed: int,
        brightness: float = 0.1,
        contrast: float = 0.1,
        band_gain: float = 0.03,
    ) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.brightness = brightness
        self.contrast = contrast
        self.band_gain = band_gain

    def _uniform(self, shape: tuple[int, ...], scale: float) -> torch.Tensor:
        return (torch.rand(shape, generator=self.generator) * 2 - 1) * scale

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, C, H, W)`` -> float32 on the 0-255 scale, same shape and device."""
        b, c = images.shape[:2]
        rot = torch.randint(0, 4, (b,), generator=self.generator)
        flip = torch.randint(0, 2, (b,), generator=self.generator)
        gain = (
            1
            + self._uniform((b, 1, 1, 1), self.brightness)
            + self._uniform((b, c, 1, 1), self.band_gain)
        )
        stretch = 1 + self._uniform((b, 1, 1, 1), self.contrast)
        x = images.float()
        out = torch.empty_like(x)
        # Group the batch by transform: eight vectorised ops instead of one per patch.
        for k in range(4):
            for f in range(2):
                sel = ((rot == k) & (flip == f)).nonzero().flatten().to(x.device)
                if sel.numel():
                    part = x.index_select(0, sel)
                    if f:
                        part = part.flip(-1)
                    out[sel] = torch.rot90(part, k, dims=(-2, -1))
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * stretch.to(x.device) + mean
        return (out * gain.to(x.device)).clamp_(0, 255)

    def state(self) -> torch.Tensor:
        """The generator state (a uint8 tensor) for checkpoints."""
        return self.generator.get_state()

    def load_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)
