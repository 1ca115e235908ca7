"""SU-Net: a pure-scene classifier and a mixed-scene unmixer sharing one Swin-V2 backbone.

* PSC stream: backbone -> pooled last stage -> dropout -> linear -> ReLU -> Softmax: class scores
  (ANC, non-negative; ASC, summing to one, as in the paper's eq. 1-2).
* MSU stream: backbone -> pooled last stage -> dropout -> linear -> ReLU -> Softmax: the 17
  abundances; then :class:`~sunet.model.decoder.AbundanceConditionedUPerNet` rebuilds the input
  from the four stages and the abundances.

ReLU before Softmax is the paper's design. It floors every class at ``exp(0)``, so a confident
output needs one large positive logit (``p = e^z / (e^z + 16)`` reaches 0.99 at ``z`` ~ 7.4),
which a linear head reaches easily; losses therefore take the log of the (clamped) probabilities
rather than of logits. Its pitfall is in training: a patch whose logits are all negative gets the
uniform output and *no* gradient, so it can stay there for good (in a toy problem some samples
stayed at 1/17 for the whole run). The forward pass here is exactly ReLU; its backward lets 1 % of the
gradient through below zero (as a leaky ReLU would), which revives such patches without changing
any output.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from sunet.model.backbone import SwinV2Backbone
from sunet.model.config import SUNetConfig
from sunet.model.decoder import AbundanceConditionedUPerNet

__all__ = ["ConstrainedHead", "SUNet", "SUNetOutput", "relu_leaky_grad"]


class _ReLUWithLeakyGrad(torch.autograd.Function):
    """``max(x, 0)`` forward; gradient ``1`` above zero and ``slope`` below (see module doc)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, grad, grad * ctx.slope), None


def relu_leaky_grad(x: torch.Tensor, slope: float = 0.01) -> torch.Tensor:
    """ReLU whose backward pass leaks ``slope`` of the gradient below zero."""
    out: torch.Tensor = _ReLUWithLeakyGrad.apply(x, slope)
    return out


class ConstrainedHead(nn.Module):
    """Pooled features -> ``(B, K)`` non-negative scores summing to one (ReLU, then Softmax)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """``pooled`` (B, C) -> (B, K) probabilities, float32 even under autocast."""
        logits = self.fc(self.dropout(pooled)).float()
        return torch.softmax(relu_leaky_grad(logits), dim=1)


class SUNetOutput(NamedTuple):
    """Everything one training forward pass produces.

    Attributes:
        psc: ``(B, K)`` PSC class probabilities, or ``None`` without the pure stream.
        abundances: ``(B, K)`` MSU abundances (>= 0, sum 1).
        reconstruction: ``(B, 3, H, W)`` rebuilt input, normalised units.
    """

    psc: torch.Tensor | None
    abundances: torch.Tensor
    reconstruction: torch.Tensor


class SUNet(nn.Module):
    """The two-stream network. Input ``x``: float32 ``(B, 3, H, W)``, ``H = W = input_size``,
    normalised per band with the training mean/std (0-255 scale)."""

    def __init__(self, config: SUNetConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = SwinV2Backbone(config)
        width = self.backbone.channels[-1]
        self.psc_head = (
            ConstrainedHead(width, config.num_classes, config.head_dropout)
            if config.pure_stream
            else None
        )
        self.abundance_head = ConstrainedHead(width, config.num_classes, config.head_dropout)
        self.decoder = AbundanceConditionedUPerNet(
            self.backbone.channels, config.num_classes, config.decoder_channels, config.in_chans
        )

    @staticmethod
    def _pool(features: list[torch.Tensor]) -> torch.Tensor:
        return features[-1].mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> SUNetOutput:
        """Both streams over one backbone pass (training; every parameter takes part)."""
        features = self.backbone(x)
        pooled = self._pool(features)
        psc = self.psc_head(pooled) if self.psc_head is not None else None
        abundances = self.abundance_head(pooled)
        reconstruction = self.decoder(features, abundances)
        return SUNetOutput(psc, abundances, reconstruction)

    def forward_psc(self, x: torch.Tensor) -> torch.Tensor:
        """PSC class probabilities ``(B, 17)``.

        Raises:
            ValueError: the model was built without the pure stream.
        """
        if self.psc_head is None:
            raise ValueError("this SU-Net has no PSC stream (trained with pure_stream=False)")
        return self.psc_head(self._pool(self.backbone(x)))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The features both heads read: the pooled last stage, ``(B, C)``."""
        return self._pool(self.backbone(x))

    def forward_abundances(self, x: torch.Tensor) -> torch.Tensor:
        """MSU abundances ``(B, 17)`` only; the decoder is not run."""
        return self.abundance_head(self._pool(self.backbone(x)))

    def forward_msu(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """MSU stream: abundances ``(B, 17)`` and reconstruction ``(B, 3, H, W)``."""
        features = self.backbone(x)
        abundances = self.abundance_head(self._pool(features))
        return abundances, self.decoder(features, abundances)

    def shared_layer_parameters(self, where: str = "final-norm") -> list[nn.Parameter]:
        """GradNorm's ``W`` (see :meth:`SwinV2Backbone.shared_layer_parameters`)."""
        return self.backbone.shared_layer_parameters(where)
