"""The model bundle: round trip without pickle, the Predictor protocol, metrics updates, and
``lcz-map info``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from tiny_model import TINY

from sunet.bundle import (
    BundleMeta,
    Predictor,
    load_bundle,
    read_bundle_meta,
    save_bundle,
    update_bundle_metrics,
)
from sunet.cli import main
from sunet.lcz import CLASSES
from sunet.model import SUNet, SUNetConfig, normalise, resize_uint8

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _meta(config: SUNetConfig = TINY) -> BundleMeta:
    return BundleMeta(
        preset="cpu-small",
        model=config,
        mean=[120.0, 110.0, 100.0],
        std=[50.0, 45.0, 40.0],
        patch_size=128,
        input_size=config.input_size,
        gsd=1.0,
        bands=["red", "green", "blue"],
        crs="EPSG:32650",
        index_hash="sha256:" + "ab" * 32,
        training={"epochs": 3, "loss_weights": "gradnorm"},
    )


@pytest.fixture
def bundle_path(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_bundle(tmp_path / "model.safetensors", SUNet(TINY), _meta())


def test_round_trip_keeps_weights_and_meta(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = SUNet(TINY)
    path = save_bundle(tmp_path / "m.safetensors", model, _meta())
    bundle = load_bundle(path)
    assert not bundle.model.training
    assert bundle.meta == _meta().model_copy(update={"created": bundle.meta.created})
    for k, v in model.state_dict().items():
        torch.testing.assert_close(bundle.model.state_dict()[k], v)
    assert [c["letter"] for c in bundle.meta.classes] == [c.letter for c in CLASSES]
    assert not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())


def test_predictor_matches_the_model_on_prepared_input(bundle_path: Path) -> None:
    predictor = Predictor(bundle_path, device="cpu", batch_size=3)
    assert (predictor.patch_size, predictor.gsd, predictor.bands) == (
        128,
        1.0,
        ["red", "green", "blue"],
    )
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 3, 128, 128), dtype=np.uint8)
    abundances = predictor.predict_abundances(images)
    classes = predictor.predict_classes(images)
    for out in (abundances, classes):
        assert out.dtype == np.float32 and out.shape == (7, 17)
        assert (out >= 0).all()
        np.testing.assert_allclose(out.sum(1), 1.0, rtol=1e-5)
    meta = predictor.meta
    x = normalise(resize_uint8(torch.from_numpy(images), 64), meta.mean, meta.std)
    with torch.no_grad():
        expected = predictor.model.forward_abundances(x).numpy()
    np.testing.assert_allclose(abundances, expected, rtol=1e-4, atol=1e-6)
    assert Predictor(bundle_path, batch_size=64).predict_abundances(images[:0]).shape == (0, 17)


def test_test_time_augmentation_averages_the_d4_views(bundle_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 3, 128, 128), dtype=np.uint8)
    plain = Predictor(bundle_path, device="cpu")
    tta4, tta8 = (Predictor(bundle_path, device="cpu", tta=n) for n in (4, 8))
    rotated = np.ascontiguousarray(np.rot90(images, 1, axes=(2, 3)))
    mirrored = np.ascontiguousarray(images[..., ::-1])
    # The average over a group's views is the same for every view of the input.
    np.testing.assert_allclose(
        tta4.predict_abundances(rotated), tta4.predict_abundances(images), atol=5e-5
    )
    np.testing.assert_allclose(
        tta8.predict_classes(mirrored), tta8.predict_classes(images), atol=5e-5
    )
    views = [np.ascontiguousarray(np.rot90(images, k, axes=(2, 3))) for k in range(4)]
    expected = np.mean([plain.predict_abundances(v) for v in views], axis=0)
    np.testing.assert_allclose(tta4.predict_abundances(images), expected, atol=5e-5)
    assert not np.allclose(plain.predict_abundances(rotated), plain.predict_abundances(images))
    with pytest.raises(ValueError, match="tta must be one of"):
        Predictor(bundle_path, tta=3)


def test_predictor_rejects_wrong_input(bundle_path: Path) -> None:
    predictor = Predictor(bundle_path)
    with pytest.raises(ValueError, match=r"shape \(B, 3, 128, 128\)"):
        predictor.predict_abundances(np.zeros((2, 3, 64, 64), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        predictor.predict_abundances(np.zeros((2, 3, 128, 128), dtype=np.float32))


def test_metrics_are_merged_atomically(bundle_path: Path) -> None:
    update_bundle_metrics(bundle_path, {"test": {"oa": 0.91}, "mae": 0.05})
    meta = update_bundle_metrics(bundle_path, {"mae": 0.04})
    assert meta.metrics == {"test": {"oa": 0.91}, "mae": 0.04}
    assert read_bundle_meta(bundle_path).metrics == meta.metrics
    load_bundle(bundle_path)  # weights still intact
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        update_bundle_metrics(bundle_path, {"bad": object()})
    assert not any(p.name.startswith(".tmp") for p in bundle_path.parent.iterdir())


def test_bad_files_give_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00\x01 definitely not safetensors")
    with pytest.raises(ValueError, match="corrupt.safetensors: not an SU-Net model bundle"):
        load_bundle(corrupt)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ValueError, match="plain.safetensors: .*no 'sunet_bundle' metadata"):
        load_bundle(plain)
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        load_bundle(tmp_path / "absent.safetensors")
    # Weights that do not match the architecture in the metadata.
    torch.manual_seed(0)
    other = TINY.model_copy(update={"decoder_channels": 24})
    mismatched = tmp_path / "mismatched.safetensors"
    state = {k: v.contiguous() for k, v in SUNet(other).state_dict().items()}
    save_file(state, str(mismatched), metadata={"sunet_bundle": _meta().model_dump_json()})
    with pytest.raises(ValueError, match="weights do not fit its model config"):
        load_bundle(mismatched)


def test_info_prints_the_bundle(bundle_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    update_bundle_metrics(bundle_path, {"oa": 0.9321})
    assert main(["info", str(bundle_path)]) == 0
    out = capsys.readouterr().out
    for text in (
        "preset:        cpu-small",
        "embed_dim=16",
        "EPSG:32650",
        "mean [120, 110, 100]",
        "oa: 0.9321",
        "sha256:abab",
        "LCZ 1 2 3",
        "128 px patches at 1 m",
        "radiometry:    stretch=non-uint8",
        "no feature profile",
    ):
        assert text in out, text
    assert main(["info", "--json", str(bundle_path)]) == 0
    assert '"preset": "cpu-small"' in capsys.readouterr().out


def test_info_on_a_non_bundle_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_text("hello")
    assert main(["info", str(junk)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "junk.bin" in err[0] and "not an SU-Net model bundle" in err[0]
