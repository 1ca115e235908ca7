"""How unlike its training data an input is, in the model's own feature space.

The heads of SU-Net read one vector per patch: the pooled last backbone stage ``(B, C)``. A
:class:`FeatureProfile` is the Gaussian of those vectors over the training patches (mean and a
Ledoit-Wolf shrunk covariance, stable with a few thousand patches of a few hundred dimensions); the
novelty of a patch is its Mahalanobis distance to that Gaussian. Distances are judged against the
same distances of held-out patches (the validation split, which the model did not fit): a patch
beyond their 99th percentile looks unlike anything the model was trained on. A scene or city where
many windows do is a domain the model has not seen (another city, season or sensor), and a
candidate for fine-tuning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.covariance import LedoitWolf

__all__ = ["FeatureProfile"]

_MEAN, _PRECISION = "novelty.mean", "novelty.precision"
QUANTILES = (0.5, 0.95, 0.99)


@dataclass
class FeatureProfile:
    """The training features' Gaussian and the held-out distance quantiles.

    Attributes:
        mean: ``(C,)``; precision: ``(C, C)`` inverse of the shrunk covariance.
        reference: ``q50``, ``q95``, ``q99`` of held-out distances, ``fitted`` (patches the
            Gaussian was fitted on) and ``held_out`` (patches behind the quantiles).
    """

    mean: torch.Tensor
    precision: torch.Tensor
    reference: dict[str, float]

    @classmethod
    def fit(cls, train: torch.Tensor, held_out: torch.Tensor | None = None) -> FeatureProfile:
        """Fit on training features ``(N, C)``; quantiles from ``held_out`` ``(M, C)`` (the
        training features themselves when there are none)."""
        x = train.detach().double().cpu().numpy()
        if x.shape[0] < 2:
            raise ValueError(f"a feature profile needs at least 2 patches, got {x.shape[0]}")
        lw = LedoitWolf(assume_centered=False).fit(x)
        profile = cls(
            mean=torch.as_tensor(lw.location_, dtype=torch.float32),
            precision=torch.as_tensor(lw.precision_, dtype=torch.float32),
            reference={},
        )
        ref = held_out if held_out is not None and len(held_out) >= 2 else train
        d = profile.distances(ref).numpy()
        profile.reference = {f"q{round(q * 100)}": float(np.quantile(d, q)) for q in QUANTILES}
        profile.reference.update(fitted=float(len(x)), held_out=float(len(ref)))
        return profile

    def distances(self, features: torch.Tensor) -> torch.Tensor:
        """Mahalanobis distances ``(B,)`` (float32, CPU) of features ``(B, C)``."""
        z = features.detach().float().cpu() - self.mean
        return torch.einsum("bi,ij,bj->b", z, self.precision, z).clamp_min(0).sqrt()

    def tensors(self) -> dict[str, torch.Tensor]:
        """For storing beside the weights in a bundle."""
        return {_MEAN: self.mean.contiguous(), _PRECISION: self.precision.contiguous()}

    @staticmethod
    def split(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(model weights, profile tensors)`` from a bundle's tensors."""
        profile = {k: tensors[k] for k in (_MEAN, _PRECISION) if k in tensors}
        weights = {k: v for k, v in tensors.items() if k not in profile}
        return weights, profile

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, torch.Tensor], reference: dict[str, float] | None
    ) -> FeatureProfile | None:
        """The profile stored in a bundle, or None (bundles made before profiles existed)."""
        if _MEAN not in tensors or _PRECISION not in tensors or not reference:
            return None
        return cls(tensors[_MEAN].float(), tensors[_PRECISION].float(), dict(reference))
