"""How unlike its training data an input is: nearest training patches, in two views.

A model mapping a city it was not trained on rarely knows it: its outputs stay confident and its
features fall among familiar ones, and a Gaussian of the training features hardly moves for
looks the model maps at half its usual agreement (README "Map districts"). What does separate them is the distance of a window
to its nearest training patches (the ``k``-th nearest, ``k`` = :data:`K`) in two views:

* **features**: the pooled last backbone stage the heads read, L2-normalised (cosine distance);
  it catches what the model itself sees differently (leafless trees, for instance);
* **colours**: a joint 4x4x4 colour histogram with a histogram of luminance gradients, as
  square roots (Hellinger geometry), on the uint8 image the model receives; it catches other
  materials, radiometry and sensors (+50-70 %) that the features absorb.

A :class:`FeatureProfile` keeps both views of up to :data:`KEEP` training patches and the
median k-distance of the held-out (validation) patches. :meth:`FeatureProfile.ratios` gives each
input's distances over those medians: about 1 for imagery like the training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["K", "KEEP", "FeatureProfile", "colour_descriptors"]

K = 10  # the k-th nearest training patch
KEEP = 1024  # training patches kept per view
_FEATURES, _COLOURS = "novelty.features", "novelty.colours"


def colour_descriptors(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` (model input) -> ``(B, 72)``: joint 4x4x4 colour histogram of the
    first three bands and an 8-bin histogram of horizontal luminance steps (0-64), each summing
    to 1, square-rooted."""
    x = images.float()
    rgb = x[:, :3] if x.shape[1] >= 3 else x[:, :1].expand(-1, 3, -1, -1)
    q = (rgb / 64).clamp(0, 3).long()
    bins = (q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2]).flatten(1)
    colour = torch.zeros(x.shape[0], 64, device=x.device).scatter_add_(
        1, bins, torch.ones_like(bins, dtype=torch.float32)
    )
    lum = rgb.mean(1)
    steps = (lum[:, :, 1:] - lum[:, :, :-1]).abs().flatten(1).clamp(max=63.99)
    edges = torch.zeros(x.shape[0], 8, device=x.device).scatter_add_(
        1, (steps / 8).long(), torch.ones_like(steps)
    )
    colour = colour / colour.sum(1, keepdim=True)
    edges = edges / edges.sum(1, keepdim=True).clamp_min(1)
    return torch.cat([colour, edges], 1).sqrt()


def _kth(queries: torch.Tensor, refs: torch.Tensor, cosine: bool) -> torch.Tensor:
    d = 1 - queries @ refs.T if cosine else torch.cdist(queries, refs)
    return d.topk(min(K, refs.shape[0]), dim=1, largest=False).values[:, -1]


@dataclass
class FeatureProfile:
    """Training patches in two views, and the held-out medians that scale distances.

    Attributes:
        features: ``(N, C)`` L2-normalised pooled features of training patches.
        colours: ``(N, 72)`` :func:`colour_descriptors` of the same patches.
        reference: ``features_median``, ``colours_median`` (held-out k-distances),
            ``features_q95``, ``colours_q95`` (held-out q95 as a share of the median), ``k``,
            ``fitted`` and ``held_out`` (patch counts).
    """

    features: torch.Tensor
    colours: torch.Tensor
    reference: dict[str, float]

    @classmethod
    def fit(
        cls,
        features: torch.Tensor,
        colours: torch.Tensor,
        held_features: torch.Tensor | None = None,
        held_colours: torch.Tensor | None = None,
    ) -> FeatureProfile:
        """From training features ``(N, C)`` and descriptors ``(N, 72)``; the medians come from
        held-out ones (else from the training patches, leaving each one's own match out)."""
        if features.shape[0] < 2:
            raise ValueError(f"a feature profile needs at least 2 patches, got {features.shape[0]}")
        keep = torch.linspace(0, features.shape[0] - 1, min(features.shape[0], KEEP)).long()
        profile = cls(
            F.normalize(features.float().cpu()[keep], dim=1), colours.float().cpu()[keep], {}
        )
        if held_features is None or held_colours is None or held_features.shape[0] < 2:
            # No held-out patches: the training patches themselves, one neighbour further.
            fd = (
                (1 - profile.features @ profile.features.T)
                .topk(min(K + 1, len(keep)), dim=1, largest=False)
                .values[:, -1]
            )
            cd = (
                torch.cdist(profile.colours, profile.colours)
                .topk(min(K + 1, len(keep)), dim=1, largest=False)
                .values[:, -1]
            )
            held = len(keep)
        else:
            fd = _kth(F.normalize(held_features.float().cpu(), dim=1), profile.features, True)
            cd = _kth(held_colours.float().cpu(), profile.colours, False)
            held = held_features.shape[0]
        fm, cm = float(fd.median().clamp_min(1e-6)), float(cd.median().clamp_min(1e-6))
        profile.reference = {
            "k": float(K),
            "features_median": fm,
            "colours_median": cm,
            "features_q95": float(fd.quantile(0.95)) / fm,
            "colours_q95": float(cd.quantile(0.95)) / cm,
            "fitted": float(len(keep)),
            "held_out": float(held),
        }
        return profile

    def ratios(self, features: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
        """``(B, 2)``: each input's k-distance to the training patches over the held-out
        median, in the feature view and the colour view (about 1 for familiar imagery)."""
        fd = _kth(F.normalize(features.detach().float().cpu(), dim=1), self.features, True)
        cd = _kth(colours.detach().float().cpu(), self.colours, False)
        return torch.stack(
            [fd / self.reference["features_median"], cd / self.reference["colours_median"]], 1
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        """For storing beside the weights in a bundle."""
        return {_FEATURES: self.features.contiguous(), _COLOURS: self.colours.contiguous()}

    @staticmethod
    def split(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(model weights, profile tensors)`` from a bundle's tensors (tensors of earlier
        profiles, ``novelty.*``, are set aside too)."""
        profile = {k: v for k, v in tensors.items() if k.startswith("novelty.")}
        weights = {k: v for k, v in tensors.items() if k not in profile}
        return weights, profile

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, torch.Tensor], reference: dict[str, float] | None
    ) -> FeatureProfile | None:
        """The profile stored in a bundle, or None (bundles without one, or with an earlier
        kind of profile)."""
        if _FEATURES not in tensors or _COLOURS not in tensors or not reference:
            return None
        if "features_median" not in reference:
            return None
        return cls(tensors[_FEATURES].float(), tensors[_COLOURS].float(), dict(reference))
