"""SU-Net's three losses (paper, section 3.2), on probabilities rather than logits.

The heads end in ReLU + Softmax, so losses take ``log`` of the clamped probabilities.

* PSC: cross-entropy of the class probabilities on pure patches.
* Abundances: soft-target cross-entropy against the reference abundances, computed as the KL
  divergence ``sum t log(t / a)``: the same gradient as cross-entropy (they differ by the
  targets' entropy, a constant), but zero at a perfect fit, so GradNorm's training rate
  ``L(t) / L(0)`` measures progress rather than the targets' entropy.
* Reconstruction: L1 between the rebuilt and the (normalised, augmented) input.

A loss over an empty selection is an exact zero that keeps the graph, so every parameter still
takes part in backward (data-parallel training requires it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["EPS", "psc_loss", "abundance_loss", "reconstruction_loss"]

EPS = 1e-7


def psc_loss(probs: torch.Tensor, target: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
    """Cross-entropy. ``probs`` (B, K), ``target`` (B,) class index, ``select`` (B,) bool."""
    if not bool(select.any()):
        return probs.sum() * 0.0
    p = probs[select].clamp_min(EPS)
    return F.nll_loss(p.log(), target[select])


def abundance_loss(
    abundances: torch.Tensor, target: torch.Tensor, select: torch.Tensor
) -> torch.Tensor:
    """KL(target || abundances), mean over selected rows. (B, K), (B, K), (B,) bool."""
    if not bool(select.any()):
        return abundances.sum() * 0.0
    a = abundances[select].clamp_min(EPS)
    t = target[select]
    return (t * (t.clamp_min(EPS).log() - a.log())).sum(dim=1).mean()


def reconstruction_loss(reconstruction: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, normalised units. Both ``(B, 3, H, W)``."""
    return F.l1_loss(reconstruction.float(), image.float())
