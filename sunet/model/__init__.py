"""SU-Net: Swin-V2 backbone, PSC head, MSU abundance head, abundance-conditioned UperNet decoder."""

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
