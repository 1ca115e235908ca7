"""Training SU-Net: patch-store data, augmentation, losses, GradNorm, trainer, DDP."""

from sunet.training.config import TrainConfig
from sunet.training.data import MixedBatchSampler, SplitData, load_split
from sunet.training.gradnorm import GradNorm
from sunet.training.trainer import Trainer, train

__all__ = [
    "GradNorm",
    "MixedBatchSampler",
    "SplitData",
    "TrainConfig",
    "Trainer",
    "load_split",
    "train",
]
