"""What a run trains (:class:`Learner`) and where it starts (:func:`build_learner`).

The learner is the network with everything whose state moves with it: GradNorm's task weights,
the running weight average, AdamW and the augmenter's random generator. A run starts from one of
three points: its own checkpoint (``--resume``: everything as it was saved), a model bundle
(fine-tuning: the bundle's weights, normalisation and task weights), or fresh weights
(optionally an ImageNet backbone) normalised with the training split's band statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sunet.bundle import Bundle
from sunet.model import SUNet, load_pretrained_backbone
from sunet.training.augment import Augmenter
from sunet.training.checkpoint import Checkpoint, set_rng_state
from sunet.training.config import TrainConfig
from sunet.training.data import SplitData, band_statistics
from sunet.training.ema import WeightAverage
from sunet.training.gradnorm import GradNorm
from sunet.training.settings import Settings
from sunet.training.state import RunState

__all__ = ["Learner", "build_learner", "build_optimizer"]


@dataclass
class Learner:
    """The parts of a run that learn, on the run's device.

    Attributes:
        model: the network trained (not a DDP wrapper).
        gradnorm: the task weights (fixed at one each when ``loss_weights`` is ``fixed``).
        average: the running average of the weights, or None (``weight_average`` 0).
        optimizer: AdamW over ``model``'s parameters.
        augmenter: this process's augmentation, or None (``augment`` off).
    """

    model: SUNet
    gradnorm: GradNorm
    average: WeightAverage[SUNet] | None
    optimizer: torch.optim.AdamW
    augmenter: Augmenter | None

    @property
    def evaluated(self) -> SUNet:
        """The weights validated and kept: the running average when there is one."""
        return self.average.model if self.average is not None else self.model

    def state_dicts(self) -> dict[str, Any]:
        """The optimiser, GradNorm and average states, as a checkpoint saves them."""
        saved = {
            "optimizer": self.optimizer.state_dict(),
            "gradnorm": self.gradnorm.state_dict(),
            "gradnorm_optimizer": self.gradnorm.optimizer.state_dict(),
        }
        if self.average is not None:
            saved["weight_average"] = self.average.state_dict()
        return saved

    def augment_state(self) -> torch.Tensor:
        """The augmenter's generator state (empty without augmentation)."""
        if self.augmenter is None:
            return torch.zeros(0, dtype=torch.uint8)
        return self.augmenter.state()

    def restore(self, checkpoint: Checkpoint, rank: int) -> None:
        """Continue from ``checkpoint`` (weights already loaded): optimiser, GradNorm and average
        states, and process ``rank``'s random states (torch, CUDA, the augmenter's)."""
        extra = checkpoint.extra
        self.optimizer.load_state_dict(extra["optimizer"])
        self.gradnorm.load_state_dict(extra["gradnorm"])
        self.gradnorm.optimizer.load_state_dict(extra["gradnorm_optimizer"])
        if self.average is not None:
            self.average.load_state_dict(extra["weight_average"])
        augment_state = set_rng_state(extra["rng"][rank])
        if self.augmenter is not None:
            self.augmenter.load_state(augment_state)


def build_optimizer(model: SUNet, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW at learning rate ``lr`` and ``weight_decay``, none on 1-D parameters."""
    # No weight decay on norms, biases and Swin's scalar/relative-position parameters.
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups: list[dict[str, Any]] = [{"params": decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)


def build_learner(
    config: TrainConfig,
    settings: Settings,
    train_data: SplitData,
    init: Bundle | None,
    resumed: Checkpoint | None,
    rank: int,
    device: torch.device,
    verbose: bool,
) -> tuple[Learner, RunState]:
    """The learner and the run's state at its start (see the module docstring).

    Args:
        train_data: the training split (its band statistics normalise a fresh run).
        init: the bundle being fine-tuned, or None.
        resumed: the run's own checkpoint to continue, or None.
        rank: this process (its augmenter draws differently from the others').
        verbose: print what the ImageNet weights loaded (rank 0).
    """
    torch.manual_seed(config.seed)  # the initial weights are the same in every process
    model = SUNet(config.arch)
    tasks = config.tasks
    if resumed is not None:
        model.load_state_dict(resumed.model)
        state = RunState.from_json(resumed.state)
    elif init is not None:
        # The bundle's weights with the normalisation they were trained under.
        model.load_state_dict(init.model.state_dict())
        state = RunState(mean=list(init.meta.mean), std=list(init.meta.std))
    else:
        mean, std = band_statistics(train_data)
        note = None
        if config.pretrained is not None:
            note = load_pretrained_backbone(model.backbone, config.pretrained).summary()
            if verbose:
                print(f"pretrained backbone: {note}")
        state = RunState(mean=mean, std=std, pretrained=note)
    model.backbone.freeze(config.freeze_backbone_stages)
    model.to(device)
    gradnorm = GradNorm(len(tasks), config.gradnorm_alpha, config.gradnorm_lr)
    start = init.meta.training.get("task_weights") if init is not None else None
    if start and set(start) == set(tasks):
        # Fine-tuning continues the balance the bundle ended with: equal weights would give
        # the heads' losses ten times the weight they last had, and undo the features.
        gradnorm.start_from([start[t] for t in tasks])
    gradnorm.to(device)
    learner = Learner(
        model=model,
        gradnorm=gradnorm,
        average=WeightAverage(model, config.weight_average) if config.weight_average else None,
        optimizer=build_optimizer(model, settings.lr, settings.weight_decay),
        augmenter=(
            Augmenter(config.seed + 1000 * (rank + 1), appearance=config.appearance)
            if config.augment
            else None
        ),
    )
    if resumed is not None:
        learner.restore(resumed, rank)
    return learner, state
