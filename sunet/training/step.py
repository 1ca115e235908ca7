"""One optimisation step and the inner loop over an epoch's batches.

A step runs the backbone once over a batch of pure and mixed patches and computes the three
losses (PSC cross-entropy on pure patches, abundance KL on mixed ones, L1 reconstruction on all);
GradNorm (or fixed equal weights) combines them. :func:`train_epoch` is the whole inner loop of
training (gather, augment, normalise, step), shared by the trainer and the throughput benchmark.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from sunet.model import SUNet, normalise
from sunet.training.augment import Augmenter
from sunet.training.data import SplitData
from sunet.training.ema import WeightAverage
from sunet.training.gradnorm import GradNorm, weighted_sum
from sunet.training.losses import abundance_loss, psc_loss, reconstruction_loss

__all__ = ["Batch", "StepRunner", "prepare_batch", "train_epoch"]


@dataclass
class Batch:
    """A training batch on the device. ``x`` (B, 3, S, S) normalised; ``pure`` (B,) bool;
    ``target`` (B,) class index; ``abundances`` (B, 17)."""

    x: torch.Tensor
    pure: torch.Tensor
    target: torch.Tensor
    abundances: torch.Tensor


def prepare_batch(
    data: SplitData,
    rows: np.ndarray,
    mean: list[float],
    std: list[float],
    device: torch.device,
    augmenter: Augmenter | None,
    images: torch.Tensor | None = None,
) -> Batch:
    """Gather (unless ``images`` were read already), augment and normalise ``rows`` of ``data``."""
    if images is None:
        images = data.images(rows)
    images = images.to(device, non_blocking=True)
    x = augmenter(images) if augmenter is not None else images.float()
    return Batch(
        x=normalise(x, mean, std),
        pure=torch.as_tensor(data.pure[rows], device=device),
        target=torch.as_tensor(data.target[rows], device=device),
        abundances=torch.as_tensor(data.abundances[rows], device=device),
    )


@dataclass
class StepRunner:
    """Forward, losses, backward and the updates of one optimisation step.

    ``use_gradnorm``, ``grad_clip``, ``shared_layer``, ``gradnorm_every`` and
    ``abundances_on_pure`` are a run's settings (``TrainConfig.loss_weights == "gradnorm"``,
    ``grad_clip``, ``gradnorm_layer``, ``gradnorm_every``, ``abundances_on_pure``): given
    explicitly, never defaulted here. ``amp_dtype``: the autocast dtype, None = float32.
    """

    model: nn.Module  # SUNet, or DDP around it
    core: SUNet
    optimizer: torch.optim.Optimizer
    gradnorm: GradNorm
    use_gradnorm: bool
    grad_clip: float
    amp_dtype: torch.dtype | None
    shared_layer: Literal["final-norm", "first-stage"]
    gradnorm_every: int
    abundances_on_pure: bool
    world_size: int = 1
    average: WeightAverage | None = None
    shared: list[nn.Parameter] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.shared = self.core.shared_layer_parameters(self.shared_layer)

    @property
    def num_tasks(self) -> int:
        return self.gradnorm.num_tasks

    def _average(self, t: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return t
        t = t.clone()
        dist.all_reduce(t)
        return t / self.world_size

    def losses(self, batch: Batch) -> list[torch.Tensor]:
        """``T`` scalar float32 task losses in the order of ``TrainConfig.tasks``."""
        device_type = batch.x.device.type
        with torch.autocast(
            device_type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            out = self.model(batch.x)
        rec = reconstruction_loss(out.reconstruction, batch.x)
        # Mixed patches train the abundances; pure ones too without the PSC stream, or if asked.
        every = out.psc is None or self.abundances_on_pure
        unmixed = torch.ones_like(batch.pure) if every else ~batch.pure
        abundances = abundance_loss(out.abundances, batch.abundances, unmixed)
        if out.psc is None:
            return [abundances, rec]
        return [psc_loss(out.psc, batch.target, batch.pure), abundances, rec]

    def step(self, batch: Batch, lr: float, index: int = 0) -> torch.Tensor:
        """One update (global step ``index``); returns the detached ``(T,)`` losses (averaged
        over processes). With GradNorm the task weights are updated on every
        ``gradnorm_every``-th step; in between the network trains with the current weights."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        losses = self.losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        update = self.use_gradnorm and index % self.gradnorm_every == 0
        if update:
            norms = self.gradnorm.backward(losses, self.shared, reduce=self._average)
        elif self.use_gradnorm:  # between updates: the current weights
            weighted_sum(self.gradnorm.weights.detach(), losses).backward()
        else:
            sum(losses).backward()  # type: ignore[union-attr]
        if self.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.core.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.average is not None:
            self.average.update()
        mean_losses = self._average(torch.stack(losses).detach())
        if update:
            self.gradnorm.step(mean_losses, norms)
        return mean_losses


def train_epoch(
    runner: StepRunner,
    data: SplitData,
    batches: list[np.ndarray],
    mean: list[float],
    std: list[float],
    augmenter: Augmenter | None,
    lr_at: Callable[[int], float],
    first_step: int = 0,
    stop: Callable[[], bool] | None = None,
    desc: str | None = None,
) -> tuple[torch.Tensor, int, bool]:
    """The inner loop: prepare each batch (gather, augment, normalise) and take one step.

    Args:
        batches: row positions into ``data``, one array per step.
        lr_at: learning rate for a global step number.
        first_step: global step number of the first batch.
        stop: asked before every step; True abandons the epoch.
        desc: progress-bar label (None = no bar).

    Returns:
        ``(loss sums (T,) float64, steps taken, abandoned)``.
    """
    device = next(runner.core.parameters()).device
    sums = torch.zeros(runner.num_tasks, dtype=torch.float64)
    bar = tqdm(batches, desc=desc, disable=desc is None, leave=False)
    done = 0
    # A split too large to cache is read from the store one batch ahead, in a thread (zarr's
    # decompression releases the GIL), so that reading overlaps the step.
    reader = ThreadPoolExecutor(1) if data.cached is None else None
    ahead: Future[torch.Tensor] | None = None
    if reader is not None and batches:
        ahead = reader.submit(data.images, batches[0])
    try:
        for i, rows in enumerate(bar):
            if stop is not None and stop():
                return sums, done, True
            images = ahead.result() if ahead is not None else None
            if reader is not None and i + 1 < len(batches):
                ahead = reader.submit(data.images, batches[i + 1])
            batch = prepare_batch(data, rows, mean, std, device, augmenter, images)
            losses = runner.step(batch, lr_at(first_step + done), first_step + done)
            sums += losses.double().cpu()
            done += 1
            if desc is not None:
                bar.set_postfix(loss=f"{float(losses.sum()):.3f}")
    finally:
        if reader is not None:
            reader.shutdown(wait=True, cancel_futures=True)
    return sums, done, False
