"""Validation during training: losses, pure-patch accuracy, mixed-patch abundance MAE.

``val_score = -(CE_psc + KL_abundance)``, minus the unweighted sum of the validation
cross-entropy of the class head on pure patches and the abundance KL divergence on mixed ones
(without the PSC stream: the KL on all patches), drives early stopping and picks the epoch the
bundle keeps. These are proper scoring rules of what OA and MAE measure, and unlike OA on a few
hundred pure patches (one patch = 0.5 point) they do not jump between epochs: selecting on
``OA + 1 - MAE`` kept a mid-run epoch over the final one on the synthetic city, while the final
one was better on the validation losses, the validation MAE and, later, the test split. Unlike
the GradNorm-weighted training loss, the score does not move when the task weights do. OA comes
from the PSC stream, or without it from the abundances' argmax (the paper's pseudo
classification). The full paper metrics are the evaluation stage's job.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sunet.model import SUNet, normalise
from sunet.model.novelty import KEEP, FeatureProfile, colour_descriptors
from sunet.training.data import SplitData
from sunet.training.losses import abundance_loss, psc_loss, reconstruction_loss

__all__ = ["fit_feature_profile", "validate"]


@torch.no_grad()
def validate(
    model: SUNet,
    data: SplitData,
    mean: list[float],
    std: list[float],
    device: torch.device,
    batch_size: int,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Metrics of ``model`` on ``data`` (no augmentation). Keys: ``val_loss_<task>``,
    ``val_oa``, ``val_mae``, ``val_score`` (NaN where the split lacks pure or mixed patches)."""
    was_training = model.training
    model.eval()
    sums = {"psc": 0.0, "abundance": 0.0, "reconstruction": 0.0}
    counts = {"psc": 0, "abundance": 0, "reconstruction": 0}
    correct, n_pure, abs_err, n_mixed = 0, 0, 0.0, 0
    for start in range(0, len(data), batch_size):
        rows = np.arange(start, min(start + batch_size, len(data)))
        x = normalise(data.images(rows).to(device), mean, std)
        pure = torch.as_tensor(data.pure[rows], device=device)
        target = torch.as_tensor(data.target[rows], device=device)
        abund = torch.as_tensor(data.abundances[rows], device=device)
        with torch.autocast(
            device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
        ):
            out = model(x)
        mixed = ~pure
        k_pure, k_mixed = int(pure.sum()), int(mixed.sum())
        if out.psc is not None and k_pure:
            sums["psc"] += float(psc_loss(out.psc, target, pure)) * k_pure
            counts["psc"] += k_pure
        select = mixed if out.psc is not None else torch.ones_like(pure)
        k_sel = int(select.sum())
        if k_sel:
            sums["abundance"] += float(abundance_loss(out.abundances, abund, select)) * k_sel
            counts["abundance"] += k_sel
        sums["reconstruction"] += float(reconstruction_loss(out.reconstruction, x)) * len(rows)
        counts["reconstruction"] += len(rows)
        scores = out.psc if out.psc is not None else out.abundances
        correct += int((scores[pure].argmax(1) == target[pure]).sum())
        n_pure += k_pure
        abs_err += float((out.abundances[mixed] - abund[mixed]).abs().mean(1).sum())
        n_mixed += k_mixed
    model.train(was_training)
    result = {f"val_loss_{k}": (sums[k] / counts[k] if counts[k] else math.nan) for k in sums}
    oa = correct / n_pure if n_pure else math.nan
    mae = abs_err / n_mixed if n_mixed else math.nan
    parts = [result[f"val_loss_{k}"] for k in ("psc", "abundance")]
    parts = [v for v in parts if not math.isnan(v)]
    result.update(val_oa=oa, val_mae=mae, val_score=-sum(parts) if parts else math.nan)
    return result


@torch.no_grad()
def fit_feature_profile(
    model: SUNet,
    train: SplitData,
    held_out: SplitData | None,
    mean: list[float],
    std: list[float],
    device: torch.device,
    batch_size: int,
    max_patches: int = KEEP,
) -> FeatureProfile:
    """The training patches' profile (:mod:`sunet.model.novelty`): features and colour
    descriptors of at most ``max_patches`` evenly spaced training patches, scaled by the
    held-out ones."""
    was_training = model.training
    model.eval()

    def views(data: SplitData) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.linspace(0, len(data) - 1, min(len(data), max_patches)).astype(np.int64)
        feats, colours = [], []
        for start in range(0, len(rows), batch_size):
            images = data.images(rows[start : start + batch_size])
            colours.append(colour_descriptors(images))
            feats.append(model.pooled(normalise(images.to(device), mean, std)).float().cpu())
        return torch.cat(feats), torch.cat(colours)

    try:
        held = views(held_out) if held_out is not None and len(held_out) >= 2 else (None, None)
        return FeatureProfile.fit(*views(train), *held)
    finally:
        model.train(was_training)
