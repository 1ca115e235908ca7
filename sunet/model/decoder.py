"""MSU-Net's decoder: a UperNet (PPM + FPN) that reconstructs the image from the abundances.

Why and how the abundances condition the decoder
-------------------------------------------------
SU-Net borrows autoencoder unmixing (Palsson et al. 2018): the encoder infers abundances, the
decoder rebuilds the input from them, so that the abundances are pushed to explain the image.
In a linear unmixing autoencoder the decoder's weights *are* the endmember spectra and the
reconstruction is their abundance-weighted sum. Here the "endmembers" are scenes, not spectra,
so each class gets a learned endmember embedding ``E_k`` (``decoder_channels`` wide), and the
abundance-weighted mixture ``m = sum_k a_k E_k`` (the linear mixing model, in feature space) is
what the decoder knows about the scene's composition.

``m`` enters through FiLM (feature-wise affine modulation, ``f * (1 + gamma(m)) + beta(m)``) at
two places:

* the deepest stage, before the Pyramid Pooling Module: the global context UperNet pools from the
  bottleneck is the abundance mixture's context;
* the fused 1/4-resolution map, just before the reconstruction head: every output pixel is
  modulated by the mixture, including what came through the skip connections.

The skip connections (FPN laterals from stages 1-3) stay, as in UperNet and the paper: they
carry the *where* (edges, layout) that a per-patch abundance vector cannot, while the abundances
carry the *what*. Without the second FiLM the decoder could rebuild the image from the skips
alone and ignore the abundances.

The PPM + FPN itself is segmentation-models-pytorch's ``UPerNetDecoder``, used unchanged; it is
built from the backbone's ``feature_info`` channels and returns 1/4 resolution, which a small head
upsamples to the full input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from segmentation_models_pytorch.decoders.upernet.decoder import UPerNetDecoder
from torch import nn

__all__ = ["FiLM", "AbundanceConditionedUPerNet"]


class FiLM(nn.Module):
    """``f * (1 + gamma(m)) + beta(m)`` with per-channel ``gamma, beta`` from a vector ``m``."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cond_dim, 2 * channels)

    def forward(self, feature: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``feature`` (B, C, H, W), ``cond`` (B, D) -> (B, C, H, W)."""
        gamma, beta = self.proj(cond).to(feature.dtype)[:, :, None, None].chunk(2, dim=1)
        return feature * (1 + gamma) + beta


class AbundanceConditionedUPerNet(nn.Module):
    """UperNet decoder conditioned on abundances, reconstructing a ``out_chans`` image.

    Args:
        encoder_channels: the backbone's four stage widths (timm ``feature_info.channels()``).
        num_classes: abundance length (17).
        decoder_channels: UperNet width; also the endmember embedding width.
        out_chans: reconstructed bands (3).
    """

    def __init__(
        self,
        encoder_channels: list[int],
        num_classes: int,
        decoder_channels: int,
        out_chans: int = 3,
    ) -> None:
        super().__init__()
        if len(encoder_channels) != 4:
            raise ValueError(f"expected four encoder stages, got {len(encoder_channels)}")
        self.endmembers = nn.Parameter(torch.randn(num_classes, decoder_channels) * 0.5)
        self.film_bottleneck = FiLM(decoder_channels, encoder_channels[-1])
        # smp counts stages from full resolution: [input (1), 1/2 (absent, 0), 1/4, ..., 1/32].
        self.upernet = UPerNetDecoder(
            encoder_channels=[out_chans, 0, *encoder_channels],
            encoder_depth=5,
            decoder_channels=decoder_channels,
        )
        self.film_output = FiLM(decoder_channels, decoder_channels)
        mid = max(decoder_channels // 2, 8)
        # Both convolutions run at 1/4 resolution and only the ``out_chans`` result is upsampled:
        # a 3-channel convolution at full resolution was ~25 % of a cpu-small training step.
        self.head = nn.Sequential(
            nn.Conv2d(decoder_channels, mid, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(mid, out_chans, 3, padding=1),
            nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False),
        )
        # Channels-last convolution weights make oneDNN run the decoder's convolutions in NHWC,
        # faster on CPU with the same results (benchmarks/train_throughput.py); bundles and
        # checkpoints store contiguous copies.
        self.to(memory_format=torch.channels_last)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:  # type: ignore[override]
        # Bundles written before the head's upsampling moved last name its second conv 'head.3'.
        old = f"{prefix}head.3."
        for key in [k for k in state_dict if k.startswith(old)]:
            state_dict[f"{prefix}head.2." + key[len(old) :]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args)  # type: ignore[arg-type]

    def mixture(self, abundances: torch.Tensor) -> torch.Tensor:
        """The linear mixing model in feature space: (B, K) abundances -> (B, decoder_channels)."""
        return abundances.to(self.endmembers.dtype) @ self.endmembers

    def forward(self, features: list[torch.Tensor], abundances: torch.Tensor) -> torch.Tensor:
        """Reconstruct the image.

        Args:
            features: four maps ``(B, C_i, H/s_i, W/s_i)``, strides 4, 8, 16, 32.
            abundances: ``(B, K)``, non-negative, summing to one.

        Returns:
            ``(B, out_chans, H, W)`` in the normalised units of the model input.
        """
        m = self.mixture(abundances)
        *skips, deepest = features
        deepest = self.film_bottleneck(deepest, m)
        fused = self.upernet([features[0], None, *skips, deepest])  # (B, C, H/4, W/4)
        fused = self.film_output(fused, m)
        out = self.head(fused)
        size = (features[0].shape[-2] * 4, features[0].shape[-1] * 4)
        if out.shape[-2:] != size:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out
