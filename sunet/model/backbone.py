"""The shared Swin-V2 backbone and the loading of ImageNet weights from a local file.

One timm Swin-V2 built with ``features_only=True`` gives the four stage outputs (strides 4, 8, 16,
32). timm returns them channels-last, ``(B, H, W, C)``; they are permuted to ``(B, C, H, W)`` here
once. The classifier model's final ``LayerNorm`` is not part of timm's feature extractor; it is
kept as :attr:`SwinV2Backbone.norm` on the last stage so that pretrained weights arrive complete
and so that all three tasks share one last layer (the one GradNorm measures gradients at).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from timm.models.swin_transformer_v2 import checkpoint_filter_fn
from torch import nn

from sunet.model.config import SUNetConfig

__all__ = ["SwinV2Backbone", "PretrainedReport", "load_pretrained_backbone"]


class SwinV2Backbone(nn.Module):
    """timm Swin-V2 feature extractor: ``(B, 3, H, W)`` -> four maps ``(B, C_i, H/s_i, W/s_i)``.

    Attributes:
        body: timm ``FeatureListNet`` over the Swin-V2 stages.
        norm: LayerNorm applied to the last stage (the classifier model's final norm).
        channels: widths ``C_i`` of the four stages, from timm's ``feature_info``.
        reductions: strides ``s_i`` of the four stages (4, 8, 16, 32).
    """

    def __init__(self, config: SUNetConfig) -> None:
        super().__init__()
        self.body: nn.Module = timm.create_model(
            config.backbone,
            pretrained=False,  # weights only ever come from a local file (load_pretrained_backbone)
            features_only=True,
            out_indices=(0, 1, 2, 3),
            **config.timm_kwargs(),
        )
        info: Any = self.body.feature_info  # timm's FeatureInfo
        self.channels: list[int] = list(info.channels())
        self.reductions: list[int] = list(info.reduction())
        self.norm = nn.LayerNorm(self.channels[-1])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.body(x)  # NHWC
        feats[-1] = self.norm(feats[-1])
        return [f.permute(0, 3, 1, 2).contiguous() for f in feats]

    def freeze(self, stages: int) -> int:
        """Keep the patch embedding and the first ``stages`` stages fixed (no gradient); returns
        the number of parameters frozen. ``stages=0`` freezes nothing."""
        if not stages:
            return 0
        parts = [self.body.patch_embed] + [getattr(self.body, f"layers_{i}") for i in range(stages)]
        frozen = 0
        for part in parts:
            for p in part.parameters():
                p.requires_grad_(False)
                frozen += p.numel()
        return frozen

    def shared_layer_parameters(self, where: str) -> list[nn.Parameter]:
        """Parameters of a layer that every task's gradient reaches (GradNorm's ``W``).

        ``"final-norm"``: the norm after the last stage, the last shared layer by position; the
        heads see only its output, but the decoder reads the earlier stages directly.
        ``"first-stage"``: the last layer of the first stage (its last block's closing norm),
        whose output feeds both the later stages and the decoder's finest skip connection, so
        each task's whole gradient into the backbone crosses it.
        """
        if where == "final-norm":
            return list(self.norm.parameters())
        if where == "first-stage":
            stage = getattr(self.body, "layers_0", None)
            if stage is None:
                raise ValueError(f"{type(self.body).__name__} has no first stage 'layers_0'")
            return list(stage.blocks[-1].norm2.parameters())
        raise ValueError(f"unknown shared layer {where!r} (final-norm, first-stage)")


@dataclass
class PretrainedReport:
    """What :func:`load_pretrained_backbone` did: tensors loaded, and keys that did not fit."""

    path: Path
    loaded: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.path.name}: loaded {self.loaded} tensors; "
            f"{len(self.missing)} missing in file, {len(self.unexpected)} unused from file"
            + (f" (e.g. {', '.join(self.unexpected[:3])})" if self.unexpected else "")
        )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors, without unpickling arbitrary objects."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: object = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any decoding error means: not a checkpoint we can read
        raise ValueError(f"{path}: not a readable weights file ({type(e).__name__})") from e
    # timm / original Swin checkpoints wrap the weights in 'model' or 'state_dict'.
    while isinstance(obj, dict) and len(obj) and ("model" in obj or "state_dict" in obj):
        obj = obj.get("model", obj.get("state_dict"))
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: not a weights file (expected a mapping of names to tensors)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _to_backbone_key(key: str) -> str:
    # The classifier model names stages 'layers.N'; timm's feature extractor flattens them to
    # 'layers_N'. The final norm and patch embedding keep their names.
    key = re.sub(r"^layers\.(\d+)\.", r"layers_\1.", key)
    return key if key.startswith("norm.") else f"body.{key}"


def load_pretrained_backbone(backbone: SwinV2Backbone, path: str | Path) -> PretrainedReport:
    """Load ImageNet Swin-V2 weights from a local timm/original checkpoint into ``backbone``.

    Accepts ``.pth``/``.bin`` (read with ``torch.load(weights_only=True)``) and ``.safetensors``.
    Keys are adapted with timm's own ``checkpoint_filter_fn`` (original-Swin layout, patch-embed
    resampling, non-persistent buffers dropped), then mapped onto the feature extractor. The
    classifier head is reported as unused.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a weights file, no backbone tensor in it, or tensors whose shapes do not
            fit the backbone (another Swin-V2 size).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights file not found")
    raw = _read_state_dict(path)
    filtered = checkpoint_filter_fn(raw, backbone.body)
    target = backbone.state_dict()
    names = {_to_backbone_key(k): k for k in filtered}  # backbone key -> key as in the file
    usable = {b: filtered[k] for b, k in names.items() if b in target}
    unexpected = sorted(k for b, k in names.items() if b not in target)
    wrong = [k for k, v in usable.items() if tuple(v.shape) != tuple(target[k].shape)]
    if wrong:
        k = wrong[0]
        raise ValueError(
            f"{path}: {len(wrong)} tensors do not fit this backbone "
            f"(e.g. {k}: file {tuple(usable[k].shape)} vs model {tuple(target[k].shape)}); "
            "is it another Swin-V2 size?"
        )
    if not usable:
        raise ValueError(f"{path}: no Swin-V2 backbone tensors in this file")
    result = backbone.load_state_dict(usable, strict=False)
    return PretrainedReport(
        path=path,
        loaded=len(usable),
        missing=sorted(result.missing_keys),
        unexpected=unexpected,
    )
