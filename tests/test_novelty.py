"""How unlike its training data an input looks: the feature profile, the bundle, per-scene scores."""

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
from sunet.mapping.novelty import FLAG_SHARE, format_novelty
from sunet.model import SUNet, normalise, resize_uint8
from sunet.model.novelty import FeatureProfile

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_held_out_data_sits_inside_and_shifted_data_outside() -> None:
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(16, 16, generator=g)
    train = torch.randn(2000, 16, generator=g) @ mix
    held = torch.randn(1000, 16, generator=g) @ mix
    profile = FeatureProfile.fit(train, held)
    assert set(profile.reference) == {"q50", "q95", "q99", "fitted", "held_out"}
    fresh = torch.randn(2000, 16, generator=g) @ mix
    beyond = float((profile.distances(fresh) > profile.reference["q99"]).float().mean())
    assert beyond < 0.03
    shifted = fresh + 8 * mix[0]  # another sensor: the same structure, moved
    assert float((profile.distances(shifted) > profile.reference["q99"]).float().mean()) > 0.9
    with pytest.raises(ValueError, match="at least 2 patches"):
        FeatureProfile.fit(train[:1])


def test_bundle_keeps_the_profile_and_the_predictor_measures_with_it(tmp_path: Path) -> None:
    from test_bundle import _meta

    torch.manual_seed(0)
    model = SUNet(TINY).eval()
    images = np.random.default_rng(0).integers(0, 256, (40, 3, 128, 128), dtype=np.uint8)
    plain = save_bundle(tmp_path / "plain.safetensors", model, _meta())
    assert load_bundle(plain).profile is None
    with pytest.raises(ValueError, match="has no feature profile"):
        Predictor(plain).novelty(images)
    plain_predictor = Predictor(plain)
    x = normalise(resize_uint8(torch.from_numpy(images), 64), _meta().mean, _meta().std)
    with torch.no_grad():
        profile = FeatureProfile.fit(model.pooled(x)[:30], model.pooled(x)[30:])
    path = save_bundle(tmp_path / "m.safetensors", model, _meta(), profile)
    loaded = load_bundle(path)
    assert loaded.meta.novelty == profile.reference
    assert loaded.profile is not None
    torch.testing.assert_close(loaded.profile.precision, profile.precision)
    d = Predictor(path, batch_size=7).novelty(images)
    assert d.shape == (40,) and d.dtype == np.float32
    np.testing.assert_allclose(d, profile.distances(model.pooled(x).detach()).numpy(), rtol=1e-4)
    assert plain_predictor.predict_abundances(images).shape == (40, 17)  # loads as before


class _BrightnessModel(ColourPredictor):
    """Feature distance = how far a window's mean brightness is from 100 (the 'training' data)."""

    def __init__(self) -> None:
        super().__init__({2: lcz_rgb(2), 17: lcz_rgb(17)})
        self.profile = SimpleNamespace(reference={"q50": 5.0, "q95": 10.0, "q99": 20.0})

    def novelty(self, images: np.ndarray) -> np.ndarray:
        return np.abs(images.reshape(len(images), -1).mean(axis=1) - 100.0).astype(np.float32)


def test_map_flags_the_scene_unlike_the_training_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    assert by_name["a_familiar"].unfamiliar_share == 0.0 and not by_name["a_familiar"].flagged
    assert by_name["b_strange"].unfamiliar_share == 1.0 and by_name["b_strange"].flagged
    assert by_name["b_strange"].windows == 5 and by_name["b_strange"].distance_ratio == 24.0
    rows = list(csv.DictReader((tmp_path / "out" / "scene_novelty.csv").open()))
    assert [r["scene"] for r in rows] == ["a_familiar", "b_strange"]
    assert [r["flagged"] for r in rows] == ["False", "True"]
    lines = format_novelty(report.scenes)
    assert lines[0].startswith("1 of 2 scenes look unlike the model's training data")
    assert "b_strange: 100% of 5 windows unfamiliar" in lines[1]
    assert FLAG_SHARE < 1.0
    # A model without a profile (or novelty_windows=0) maps as before, with no scores.
    plain = map_districts(config.model_copy(update={"out": tmp_path / "o2"}),
                          ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)}))  # fmt: skip
    assert plain.scenes == [] and not (tmp_path / "o2" / "scene_novelty.csv").exists()
