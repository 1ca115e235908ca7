"""Augmentation for top-down imagery: the eight flips/rotations of a square, and radiometry.

Overhead patches have no "up": every element of the dihedral group D4 (four 90-degree rotations,
each with or without a flip) is an equally valid view, and costs no interpolation.

Two radiometric strengths (``appearance``):

* ``mild`` (brightness and contrast +-10 %, per-band gain +-3 %): colour carries class
  information (vegetation, water, bare soil), and a model that only ever maps the imagery it was
  trained on gains nothing from more.
* ``looks``: spans what differs between cities, seasons and sensors (``lcz-map synth --look``):
  brightness and contrast +-30 %, per-band gain +-10 %, display gamma 0.65-1.55, saturation
  0.6-1.5 and a hue turn of up to +-17 degrees, haze, sensor blur or export sharpening, noise and
  JPEG compression. What it leaves out, on purpose: scale. Tiling and mapping resample every scene
  to the model's ground pixel, so a sensor's ground resolution reaches the model as blur (which is
  augmented), never as a change of object size; random crops would also falsify the abundances of
  mixed patches.

Random numbers come from the augmenter's own CPU generator, so that its state can be saved in a
checkpoint and the same draws happen on CPU and GPU.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image

from sunet.colour import FROM_YIQ, TO_YIQ
from sunet.training.config import APPEARANCES, Appearance

__all__ = ["Augmenter"]

# RGB <-> YIQ (sunet.colour): saturation is a scale of the chroma, a hue change a rotation.
_TO_YIQ = torch.as_tensor(TO_YIQ, dtype=torch.float32)
_FROM_YIQ = torch.as_tensor(FROM_YIQ, dtype=torch.float32)
_HAZE = torch.tensor([186.0, 192.0, 202.0])


class Augmenter:
    """Random D4 transform and radiometric jitter of uint8 ``(B, C, H, W)`` square patches.

    Args:
        seed: generator seed.
        appearance: ``mild`` or ``looks`` (see the module docstring; a run's value is
            ``TrainConfig.appearance``); ``looks`` sets the three ranges below to 0.3, 0.3 and
            0.1 unless they are given.
        brightness: maximum relative brightness change.
        contrast: maximum relative contrast change.
        band_gain: maximum relative per-band gain change.
    """

    def __init__(
        self,
        seed: int,
        appearance: Appearance,
        brightness: float | None = None,
        contrast: float | None = None,
        band_gain: float | None = None,
    ) -> None:
        if appearance not in APPEARANCES:
            raise ValueError(f"appearance must be one of {APPEARANCES}, got {appearance!r}")
        looks = appearance == "looks"
        self.generator = torch.Generator().manual_seed(seed)
        self.brightness = brightness if brightness is not None else (0.3 if looks else 0.1)
        self.contrast = contrast if contrast is not None else (0.3 if looks else 0.1)
        self.band_gain = band_gain if band_gain is not None else (0.1 if looks else 0.03)
        self.appearance = appearance

    def _uniform(self, shape: tuple[int, ...], scale: float) -> torch.Tensor:
        return (torch.rand(shape, generator=self.generator) * 2 - 1) * scale

    def _between(self, b: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand((b, 1, 1, 1), generator=self.generator)

    def _chance(self, b: int, p: float) -> torch.Tensor:
        return torch.rand((b,), generator=self.generator) < p

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
        out = (out * gain.to(x.device)).clamp_(0, 255)
        if self.appearance == "looks":
            out = self._looks(out)
        return out

    def _looks(self, x: torch.Tensor) -> torch.Tensor:
        """The look-spanning part, on float ``(B, C, H, W)`` 0-255."""
        b, c = x.shape[:2]
        dev = x.device
        gamma = torch.exp(self._between(b, math.log(0.65), math.log(1.55))).to(dev)
        x = 255.0 * (x / 255.0).clamp_(0, 1).pow(gamma)
        sat = self._between(b, 0.6, 1.5).to(dev)
        turn = self._between(b, -0.3, 0.3).to(dev)
        if c == 3:
            yiq = torch.einsum("ij,bjhw->bihw", _TO_YIQ.to(dev), x)
            i, q = yiq[:, 1:2], yiq[:, 2:3]
            cos, sin = torch.cos(turn), torch.sin(turn)
            yiq = torch.cat([yiq[:, :1], sat * (i * cos - q * sin), sat * (i * sin + q * cos)], 1)
            x = torch.einsum("ij,bjhw->bihw", _FROM_YIQ.to(dev), yiq)
        haze = self._between(b, 0.0, 0.3) * self._chance(b, 0.5)[:, None, None, None]
        if c == 3:
            x = x * (1 - haze.to(dev)) + _HAZE.to(dev)[None, :, None, None] * haze.to(dev)
        # Sensor blur (a coarser or softer sensor) or export sharpening, one or the other.
        blurred = self._chance(b, 0.35)
        sharpened = self._chance(b, 0.2) & ~blurred
        sigma = float(self._between(1, 0.5, 1.3))
        amount = self._between(b, 0.3, 1.0).to(dev)
        touched = (blurred | sharpened).nonzero().flatten().to(dev)
        if touched.numel():
            part = x.index_select(0, touched)
            soft = _gaussian(part, sigma)
            sharp = part + amount.index_select(0, touched) * (part - soft)
            keep_soft = blurred.to(dev).index_select(0, touched)[:, None, None, None]
            x[touched] = torch.where(keep_soft, soft, sharp)
        noise = self._between(b, 0.0, 6.0)
        x = x + torch.randn(x.shape, generator=self.generator).mul_(noise).to(dev)
        x = x.clamp_(0, 255)
        jpeg = self._chance(b, 0.25).nonzero().flatten().tolist()
        if jpeg and c in (1, 3):
            quality = torch.randint(30, 91, (len(jpeg),), generator=self.generator).tolist()
            for j, qual in zip(jpeg, quality, strict=True):
                x[j] = torch.from_numpy(_jpeg(x[j].round().to(torch.uint8).cpu().numpy(), qual))
        return x

    def state(self) -> torch.Tensor:
        """The generator state (a uint8 tensor) for checkpoints."""
        return self.generator.get_state()

    def load_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """uint8 ``(C, H, W)`` through JPEG compression at ``quality`` and back, as float32."""
    mode = "RGB" if image.shape[0] == 3 else "L"
    pixels = np.moveaxis(image, 0, -1) if mode == "RGB" else image[0]
    buf = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(buf, format="JPEG", quality=quality)
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32)
    return np.moveaxis(out, -1, 0) if mode == "RGB" else out[None]


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)``, edges repeated. Written as weighted sums of
    shifted slices: on CPU that is much faster than a grouped convolution."""
    radius = max(1, math.ceil(2.5 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    weights = (kernel / kernel.sum()).tolist()
    for dim in (-1, -2):
        n = x.shape[dim]
        padded = torch.cat(
            [x.narrow(dim, 0, 1).expand_as(x.narrow(dim, 0, radius)), x,
             x.narrow(dim, n - 1, 1).expand_as(x.narrow(dim, 0, radius))], dim
        )  # fmt: skip
        out = padded.narrow(dim, 0, n) * weights[0]
        for k in range(1, 2 * radius + 1):
            out += padded.narrow(dim, k, n) * weights[k]
        x = out
    return x
