"""Training SU-Net: patch-store data, augmentation, losses, GradNorm, trainer, DDP."""

from typing import TYPE_CHECKING

from sunet.lazy import lazy_exports

if TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TrainConfig": "sunet.training.config",
        "MixedBatchSampler": "sunet.training.data",
        "SplitData": "sunet.training.data",
        "load_split": "sunet.training.data",
        "GradNorm": "sunet.training.gradnorm",
        "Trainer": "sunet.training.trainer",
        "train": "sunet.training.trainer",
    },
)
