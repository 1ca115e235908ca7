"""The tiny SU-Net configuration shared by the model, training and bundle tests."""

from __future__ import annotations

from sunet.model import SUNetConfig

TINY = SUNetConfig(
    embed_dim=16,
    depths=(1, 1, 1, 1),
    num_heads=(1, 1, 2, 2),
    input_size=64,
    decoder_channels=16,
)
