"""The model bundle: one ``.safetensors`` file with the weights and everything needed to use them.

The file's safetensors metadata holds one JSON document (:class:`BundleMeta`) under the key
``sunet_bundle``: the architecture, the class table, the per-band normalisation, the patch
geometry (patch size in ground pixels, model input size, GSD, bands, CRS), the metrics measured
on it and a hash of the training index. Loading needs no pickle. Mapping relies only on the
:class:`Predictor` protocol: ``patch_size``, ``gsd``, ``bands``, ``predict_abundances``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import safe_open
from safetensors.torch import save_file

from sunet.atomic import atomic_path
from sunet.geo.raster import Radiometry
from sunet.lcz import CLASSES, NUM_CLASSES
from sunet.model import SUNet, SUNetConfig, normalise, resize_uint8
from sunet.model.novelty import FeatureProfile, colour_descriptors

__all__ = [
    "BUNDLE_FORMAT",
    "Bundle",
    "BundleMeta",
    "Predictor",
    "class_table",
    "load_bundle",
    "read_bundle_meta",
    "save_bundle",
    "update_bundle_metrics",
]

BUNDLE_FORMAT = "sunet-bundle/1"
_META_KEY = "sunet_bundle"


def class_table() -> list[dict[str, Any]]:
    """The 17 classes in output order: ``code``, ``letter``, ``name``, ``colour``."""
    return [
        {"code": c.code, "letter": c.letter, "name": c.name, "colour": c.colour} for c in CLASSES
    ]


class BundleMeta(BaseModel):
    """What a bundle says about its model."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(default=BUNDLE_FORMAT, description="Bundle format and version.")
    preset: str = Field(description="Preset the model was built from.")
    model: SUNetConfig = Field(description="Architecture (rebuilds the network).")
    classes: list[dict[str, Any]] = Field(
        default_factory=class_table, description="Output order: index i = raster code i + 1."
    )
    mean: list[float] = Field(description="Per-band mean, 0-255 scale, of the training split.")
    std: list[float] = Field(description="Per-band standard deviation, 0-255 scale.")
    patch_size: int = Field(description="Patch side in ground pixels (as tiled).")
    input_size: int = Field(description="Model input side, pixels (patches are resized to it).")
    gsd: float = Field(description="Ground sample distance of the patches, metres.")
    bands: list[str] = Field(description="Band names in input order.")
    source_bands: list[int] | None = Field(
        default=None,
        description="1-based scene bands the training patches were read from, in input order "
        "(mapping reads the same unless told otherwise; None: bundles made before it was "
        "recorded, read bands 1, 2, ...).",
    )
    radiometry: Radiometry = Field(
        default_factory=Radiometry,
        description="How scene values became the uint8 the model was trained on (applied to "
        "scenes when mapping).",
    )
    crs: str = Field(description="CRS of the training patch store.")
    crs_convention: str = Field(
        default="patches on a metric CRS grid (auto = the UTM zone of the area) at `gsd` m; "
        "a patch covers patch_size * gsd metres",
        description="How inputs must be gridded for the model to see what it was trained on.",
    )
    index_hash: str = Field(description="sha256 of the training store's index.parquet.")
    metrics: dict[str, Any] = Field(default_factory=dict, description="Measured metrics.")
    novelty: dict[str, float] | None = Field(
        default=None,
        description="Scale of the training-patch profile stored beside the weights (held-out "
        "nearest-patch distances, sunet.model.novelty); None: no profile.",
    )
    training: dict[str, Any] = Field(default_factory=dict, description="How it was trained.")
    created: str = Field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"),
        description="UTC creation time.",
    )


@dataclass
class Bundle:
    """A loaded bundle: the model (eval mode, CPU), its metadata and its training features'
    profile (None in bundles made before profiles existed)."""

    path: Path
    model: SUNet
    meta: BundleMeta
    profile: FeatureProfile | None = None


def _not_a_bundle(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: not an SU-Net model bundle ({why})")


def _write(path: Path, tensors: Mapping[str, torch.Tensor], meta: BundleMeta) -> Path:
    with atomic_path(path) as tmp:
        save_file(dict(tensors), str(tmp), metadata={_META_KEY: meta.model_dump_json()})
        # safetensors creates files owner-only; a bundle is meant to be shared like any output.
        os.chmod(tmp, 0o644)
    return path


def save_bundle(
    path: str | os.PathLike[str],
    model: SUNet,
    meta: BundleMeta,
    profile: FeatureProfile | None = None,
) -> Path:
    """Write ``model``'s weights, ``meta`` and the feature ``profile`` to ``path`` atomically;
    returns the path."""
    if model.config != meta.model:
        raise ValueError(f"{path}: the model's config differs from meta.model")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if profile is not None:
        state.update(profile.tensors())
        meta = meta.model_copy(update={"novelty": profile.reference})
    return _write(Path(path), state, meta)


def read_bundle_meta(path: str | os.PathLike[str]) -> BundleMeta:
    """A bundle's metadata only (reads the header, not the weights)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model bundle not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except Exception as e:
        raise _not_a_bundle(path, f"unreadable safetensors: {type(e).__name__}") from e
    if _META_KEY not in header:
        raise _not_a_bundle(path, f"no '{_META_KEY}' metadata")
    try:
        return BundleMeta.model_validate_json(header[_META_KEY])
    except ValidationError as e:
        raise _not_a_bundle(path, f"invalid metadata: {e.error_count()} error(s)") from e


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    except Exception as e:
        raise _not_a_bundle(path, f"unreadable tensors: {type(e).__name__}") from e


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Load a bundle: the model on CPU in eval mode, and its metadata.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a bundle, or weights that do not fit the stored architecture.
    """
    path = Path(path)
    meta = read_bundle_meta(path)
    weights, extra = FeatureProfile.split(_read_tensors(path))
    model = SUNet(meta.model)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
        raise _not_a_bundle(path, f"weights do not fit its model config: {first}") from e
    model.eval()
    profile = FeatureProfile.from_tensors(extra, meta.novelty)
    return Bundle(path=path, model=model, meta=meta, profile=profile)


def update_bundle_metrics(path: str | os.PathLike[str], metrics: Mapping[str, Any]) -> BundleMeta:
    """Merge ``metrics`` into the bundle's ``metrics`` (same keys are replaced), atomically.

    ``metrics`` must be JSON-serialisable (numbers, strings, lists, dicts).
    """
    path = Path(path)
    meta = read_bundle_meta(path)
    try:
        json.dumps(dict(metrics), allow_nan=True)
    except TypeError as e:
        raise ValueError(f"{path}: metrics are not JSON-serialisable ({e})") from e
    meta = meta.model_copy(update={"metrics": {**meta.metrics, **dict(metrics)}})
    _write(path, _read_tensors(path), meta)
    return meta


# Views test-time augmentation can average (see Predictor).
TTA_VIEWS = (1, 4, 8)


class Predictor:
    """Inference on uint8 patches with a bundle's model and normalisation.

    Args:
        bundle: a :class:`Bundle` or the path of a bundle file.
        device: ``None`` or ``"auto"`` = CUDA when available, else CPU.
        batch_size: patches per forward pass.
        tta: test-time augmentation, the number of views averaged: 1 (none), 4 (the four
            90-degree rotations) or 8 (those and their mirror images, the dihedral group D4
            that training augments with). Costs ``tta`` forward passes per patch.
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str],
        device: str | torch.device | None = None,
        batch_size: int = 64,
        tta: int = 1,
    ) -> None:
        if tta not in TTA_VIEWS:
            raise ValueError(f"tta must be one of {TTA_VIEWS}, got {tta}")
        self.tta = tta
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.meta = self.bundle.meta
        if device is None or device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model = self.bundle.model.to(self.device).eval()
        self.batch_size = batch_size

    @property
    def patch_size(self) -> int:
        """Expected patch side in ground pixels (at :attr:`gsd`)."""
        return self.meta.patch_size

    @property
    def gsd(self) -> float:
        """Ground sample distance the model was trained at, metres."""
        return self.meta.gsd

    @property
    def bands(self) -> list[str]:
        return list(self.meta.bands)

    @property
    def radiometry(self) -> Radiometry:
        """How scenes must be scaled to uint8 for this model (as they were for its training)."""
        return self.meta.radiometry

    @property
    def source_bands(self) -> list[int] | None:
        """The scene bands its training patches came from (None when not recorded)."""
        return list(self.meta.source_bands) if self.meta.source_bands is not None else None

    @property
    def input_size(self) -> int:
        return self.meta.input_size

    def _check(self, images: np.ndarray) -> None:
        want = (len(self.meta.bands), self.patch_size, self.patch_size)
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
            raise ValueError(
                f"expected a uint8 numpy array, got {getattr(images, 'dtype', type(images))}"
            )
        if images.ndim != 4 or tuple(images.shape[1:]) != want:
            raise ValueError(
                f"expected images of shape (B, {', '.join(map(str, want))}), got {images.shape}"
            )

    @torch.inference_mode()
    def _run(self, images: np.ndarray, stream: str) -> np.ndarray:
        self._check(images)
        out = np.empty((images.shape[0], NUM_CLASSES), dtype=np.float32)
        forward = self.model.forward_psc if stream == "psc" else self.model.forward_abundances
        for start in range(0, images.shape[0], self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + self.batch_size]))
            x = normalise(resize_uint8(x, self.input_size).to(self.device), self.meta.mean,
                          self.meta.std)  # fmt: skip
            probs = forward(x)
            for view in range(1, self.tta):
                flipped = x.flip(-1) if view >= 4 else x
                probs = probs + forward(torch.rot90(flipped, view % 4, dims=(-2, -1)))
            out[start : start + len(x)] = (probs.float() / self.tta).cpu().numpy()
        return out

    def predict_abundances(self, images: np.ndarray) -> np.ndarray:
        """MSU abundances: uint8 ``(B, bands, P, P)`` -> float32 ``(B, 17)`` (>= 0, rows sum 1)."""
        return self._run(images, "abundance")

    @property
    def profile(self) -> FeatureProfile | None:
        """The training features' profile (None for bundles without one)."""
        return self.bundle.profile

    @torch.inference_mode()
    def novelty(self, images: np.ndarray) -> np.ndarray:
        """How unlike the training patches each image is: uint8 ``(B, bands, P, P)`` -> float32
        ``(B, 2)``, the distance to the nearest training patches over the held-out median, in the
        feature view and the colour view (:mod:`sunet.model.novelty`; about 1 when familiar).

        Raises:
            ValueError: the bundle carries no feature profile.
        """
        if self.profile is None:
            raise ValueError(f"{self.bundle.path}: this bundle has no feature profile")
        self._check(images)
        out = np.empty((images.shape[0], 2), dtype=np.float32)
        for start in range(0, images.shape[0], self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + self.batch_size]))
            x = resize_uint8(x, self.input_size)
            features = self.model.pooled(
                normalise(x.to(self.device), self.meta.mean, self.meta.std)
            )
            ratios = self.profile.ratios(features, colour_descriptors(x))
            out[start : start + len(x)] = ratios.numpy()
        return out

    def predict_classes(self, images: np.ndarray) -> np.ndarray:
        """PSC class probabilities: uint8 ``(B, bands, P, P)`` -> float32 ``(B, 17)``.

        Raises:
            ValueError: the bundle's model has no PSC stream (trained with pure_stream=False).
        """
        if self.model.psc_head is None:
            raise ValueError(
                f"{self.bundle.path}: this model has no PSC stream (pure_stream=False)"
            )
        return self._run(images, "psc")
