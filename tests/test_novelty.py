"""How unlike its training data an input looks: the profile, the bundle, per-scene scores."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from affine import Affine
from mapping_fixtures import LEFT, TOP, ColourPredictor, lcz_rgb, write_districts, write_scene
from tiny_model import TINY

from sunet.bundle import Predictor, load_bundle, save_bundle
from sunet.mapping import MapConfig, map_districts
from sunet.mapping.novelty import FLAG_RATIO, format_novelty
from sunet.model import SUNet, normalise, resize_uint8
from sunet.model.novelty import FeatureProfile, colour_descriptors

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _patches(n: int, rng: np.random.Generator, palette: np.ndarray) -> torch.Tensor:
    """``n`` uint8 16 x 16 patches mixing two colours of ``palette`` in random blocks."""
    out = np.empty((n, 3, 16, 16), dtype=np.uint8)
    for i in range(n):
        a, b = palette[rng.integers(len(palette), size=2)]
        mask = rng.random((4, 4)).repeat(4, 0).repeat(4, 1) < rng.random()
        out[i] = np.where(mask[None], a[:, None, None], b[:, None, None])
        out[i] = np.clip(out[i] + rng.normal(0, 4, out[i].shape), 0, 255)
    return torch.from_numpy(out)


def test_familiar_inputs_sit_near_one_and_new_colours_far() -> None:
    rng = np.random.default_rng(0)
    familiar = np.array([[60, 110, 50], [150, 140, 130], [200, 190, 170], [70, 80, 90]])
    strange = np.array([[230, 200, 140], [240, 235, 225], [190, 90, 60]])  # sand, chalk, tiles
    train, held, fresh = (_patches(n, rng, familiar) for n in (400, 200, 200))

    # A stand-in for the model's features: the colour descriptor itself plus noise.
    def feats(x: torch.Tensor) -> torch.Tensor:
        return colour_descriptors(x) + 0.05 * torch.randn(
            len(x), 72, generator=torch.Generator().manual_seed(1)
        )

    profile = FeatureProfile.fit(feats(train), colour_descriptors(train), feats(held),
                                 colour_descriptors(held))  # fmt: skip
    assert set(profile.reference) >= {"features_median", "colours_median", "features_q95", "k"}
    near = profile.ratios(feats(fresh), colour_descriptors(fresh)).median(0).values
    assert 0.8 < float(near[0]) < 1.25 and 0.8 < float(near[1]) < 1.25
    other = _patches(200, rng, strange)
    far = profile.ratios(feats(other), colour_descriptors(other)).median(0).values
    assert float(far[1]) > 2 * FLAG_RATIO
    with pytest.raises(ValueError, match="at least 2 patches"):
        FeatureProfile.fit(feats(train[:1]), colour_descriptors(train[:1]))


def test_colour_descriptor_is_a_pair_of_square_rooted_histograms() -> None:
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    d = colour_descriptors(images)
    assert d.shape == (5, 72)
    torch.testing.assert_close((d[:, :64] ** 2).sum(1), torch.ones(5))
    torch.testing.assert_close((d[:, 64:] ** 2).sum(1), torch.ones(5))


def test_bundle_keeps_the_profile_and_the_predictor_measures_with_it(tmp_path: Path) -> None:
    from test_bundle import _meta

    torch.manual_seed(0)
    model = SUNet(TINY).eval()
    images = np.random.default_rng(0).integers(0, 256, (40, 3, 128, 128), dtype=np.uint8)
    plain = save_bundle(tmp_path / "plain.safetensors", model, _meta())
    assert load_bundle(plain).profile is None
    with pytest.raises(ValueError, match="has no feature profile"):
        Predictor(plain).novelty(images)
    small = resize_uint8(torch.from_numpy(images), 64)
    with torch.no_grad():
        feats = model.pooled(normalise(small, _meta().mean, _meta().std))
    profile = FeatureProfile.fit(feats[:30], colour_descriptors(small[:30]), feats[30:],
                                 colour_descriptors(small[30:]))  # fmt: skip
    path = save_bundle(tmp_path / "m.safetensors", model, _meta(), profile)
    loaded = load_bundle(path)
    assert loaded.meta.novelty == profile.reference and loaded.profile is not None
    torch.testing.assert_close(loaded.profile.features, profile.features)
    ratios = Predictor(path, batch_size=7).novelty(images)
    assert ratios.shape == (40, 2) and ratios.dtype == np.float32
    expected = profile.ratios(feats, colour_descriptors(small)).numpy()
    np.testing.assert_allclose(ratios, expected, rtol=1e-4, atol=1e-6)
    assert Predictor(plain).predict_abundances(images).shape == (40, 17)  # loads as before


class _BrightnessModel(ColourPredictor):
    """Both distances = how far a window's mean brightness is from 100, in units of 10."""

    def __init__(self) -> None:
        super().__init__({2: lcz_rgb(2), 17: lcz_rgb(17)})
        self.profile = SimpleNamespace(reference={"features_q95": 1.5, "colours_q95": 1.5})

    def novelty(self, images: np.ndarray) -> np.ndarray:
        d = 1.0 + np.abs(images.reshape(len(images), -1).mean(axis=1) - 100.0) / 10.0
        return np.stack([d, d / 2], axis=1).astype(np.float32)


def test_map_flags_the_scene_unlike_the_training_data(tmp_path: Path) -> None:
    familiar = np.full((3, 256, 256), 100, dtype=np.uint8)
    strange = np.full((3, 256, 256), 220, dtype=np.uint8)
    write_scene(tmp_path / "a_familiar.tif", familiar, Affine(1.0, 0, LEFT, 0, -1.0, TOP))
    write_scene(tmp_path / "b_strange.tif", strange, Affine(1.0, 0, LEFT + 256, 0, -1.0, TOP))
    districts = write_districts(tmp_path / "d.gpkg", {"All": (LEFT, TOP - 256, LEFT + 512, TOP)})
    config = MapConfig(scenes=[tmp_path / "a_familiar.tif", tmp_path / "b_strange.tif"],
                       districts=districts, out=tmp_path / "out", progress=False,
                       novelty_windows=5)  # fmt: skip
    report = map_districts(config, _BrightnessModel())
    by_name = {s.scene: s for s in report.scenes}
    a, b = by_name["a_familiar"], by_name["b_strange"]
    assert (a.feature_ratio, a.colour_ratio, a.unfamiliar_share, a.flagged) == (
        1.0,
        0.5,
        0.0,
        False,
    )
    assert (b.feature_ratio, b.colour_ratio, b.unfamiliar_share, b.flagged) == (
        13.0,
        6.5,
        1.0,
        True,
    )
    assert b.windows == 5
    rows = list(csv.DictReader((tmp_path / "out" / "scene_novelty.csv").open()))
    assert [r["scene"] for r in rows] == ["a_familiar", "b_strange"]
    assert [r["flagged"] for r in rows] == ["False", "True"]
    lines = format_novelty(report.scenes)
    assert lines[0].startswith("likeness to the training data: the 2 scenes' windows lie x7.00")
    assert lines[0].endswith("1 scene(s) above x1.5:")
    assert "b_strange: features x13.00, colours x6.50 (100% of 5 windows" in lines[1]
    assert "consider fine-tuning" in lines[2]
    # A model without a profile (or novelty_windows=0) maps as before, with no scores.
    plain = map_districts(config.model_copy(update={"out": tmp_path / "o2"}),
                          ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)}))  # fmt: skip
    assert plain.scenes == [] and not (tmp_path / "o2" / "scene_novelty.csv").exists()
