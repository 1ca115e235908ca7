"""SU-Net: Swin-V2 backbone, PSC head, MSU abundance head, abundance-conditioned UperNet decoder."""

from typing import TYPE_CHECKING

from sunet.lazy import lazy_exports

if TYPE_CHECKING:
    from sunet.model.backbone import PretrainedReport, SwinV2Backbone, load_pretrained_backbone
    from sunet.model.config import PRESETS, Preset, SUNetConfig, TrainingDefaults, get_preset
    from sunet.model.decoder import AbundanceConditionedUPerNet
    from sunet.model.preprocess import normalise, resize_uint8
    from sunet.model.sunet import SUNet, SUNetOutput

__all__ = [
    "PRESETS",
    "AbundanceConditionedUPerNet",
    "Preset",
    "PretrainedReport",
    "SUNet",
    "SUNetConfig",
    "SUNetOutput",
    "SwinV2Backbone",
    "TrainingDefaults",
    "get_preset",
    "load_pretrained_backbone",
    "normalise",
    "resize_uint8",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PretrainedReport": "sunet.model.backbone",
        "SwinV2Backbone": "sunet.model.backbone",
        "load_pretrained_backbone": "sunet.model.backbone",
        "PRESETS": "sunet.model.config",
        "Preset": "sunet.model.config",
        "SUNetConfig": "sunet.model.config",
        "TrainingDefaults": "sunet.model.config",
        "get_preset": "sunet.model.config",
        "AbundanceConditionedUPerNet": "sunet.model.decoder",
        "normalise": "sunet.model.preprocess",
        "resize_uint8": "sunet.model.preprocess",
        "SUNet": "sunet.model.sunet",
        "SUNetOutput": "sunet.model.sunet",
    },
)
