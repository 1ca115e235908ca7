"""Baselines: the random forest learns what it can see, and the table says who wins."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from evaluation_store import make_patches, write_patch_store

from sunet.evaluation.baselines import (
    METHODS,
    BaselinesConfig,
    prior_baseline,
    random_forest_baseline,
    run_baselines,
    verdict,
)
from sunet.evaluation.evaluate import score
from sunet.evaluation.features import FEATURE_NAMES, patch_features
from sunet.patch_store import PatchStore

CODES = [1, 2, 11, 14, 17]  # LCZ 1, 2, A, D, G


def _splits(n: int) -> np.ndarray:
    # Pure patches come class by class, so cycling through the splits covers every class.
    return np.array(["train", "train", "train", "val", "test"])[np.arange(n) % 5]


@pytest.fixture(scope="module")
def separable_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    images, abundances = make_patches(CODES, per_class_pure=15, n_mixed=25, size=32, seed=5)
    return write_patch_store(
        tmp_path_factory.mktemp("separable"), images, abundances, _splits(len(images))
    )


@pytest.fixture(scope="module")
def shuffled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same kind of patches, but the training rows' labels permuted among themselves."""
    images, abundances = make_patches(CODES, per_class_pure=15, n_mixed=25, size=32, seed=5)
    splits = _splits(len(images))
    train = np.flatnonzero(splits == "train")
    abundances[train] = abundances[np.random.default_rng(0).permutation(train)]
    return write_patch_store(tmp_path_factory.mktemp("shuffled"), images, abundances, splits)


def test_features_are_finite_and_named() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 3, 40, 40), dtype=np.uint8)
    images[1] = 0  # a blank patch must not divide by zero
    feats = patch_features(images)
    assert feats.shape == (3, len(FEATURE_NAMES)) and np.isfinite(feats).all()
    # Vegetation index: a pure green patch scores above a pure red one.
    green = np.zeros((1, 3, 16, 16), dtype=np.uint8)
    green[:, 1] = 200
    red = np.zeros_like(green)
    red[:, 0] = 200
    k = FEATURE_NAMES.index("gr_index_mean")
    assert patch_features(green)[0, k] > patch_features(red)[0, k]


def test_random_forest_separates_separable_classes(separable_store: Path) -> None:
    store = PatchStore(separable_store)
    result = score(random_forest_baseline(store, "test", trees=50, seed=0))
    prior = score(prior_baseline(store, "test"))
    assert result["summary"]["n_pure"] >= 10
    assert result["summary"]["oa"] >= 0.9
    assert result["summary"]["opa"] == result["summary"]["oa"]
    assert result["summary"]["mae"] < prior["summary"]["mae"]


def test_random_forest_on_shuffled_labels_is_near_chance(shuffled_store: Path) -> None:
    result = score(random_forest_baseline(PatchStore(shuffled_store), "test", trees=50, seed=0))
    assert result["summary"]["oa"] <= 0.5  # chance is 0.2 with five balanced classes


def test_prior_predicts_the_training_mean(separable_store: Path) -> None:
    store = PatchStore(separable_store)
    pred = prior_baseline(store, "test")
    train = store.index[store.index["split"] == "train"]
    expected = train[[c for c in train.columns if c.startswith("lcz_")]].to_numpy().mean(axis=0)
    np.testing.assert_allclose(pred.mixed_abundances[0], expected, rtol=1e-6)
    assert (pred.mixed_abundances == pred.mixed_abundances[0]).all()


def test_run_baselines_writes_one_table(separable_store: Path, tmp_path: Path) -> None:
    config = BaselinesConfig(
        patches=separable_store, out=tmp_path / "b", methods=["prior", "random_forest"]
    )
    table = run_baselines(config)
    out = config.out
    assert [r["method"] for r in table["rows"]] == ["prior", "random_forest"]
    md = (out / "baselines.md").read_text()
    assert "| random_forest |" in md and "## Verdict" in md and "OA: best is random_forest" in md
    with open(out / "baselines.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[1]["oa"]) >= 0.9 > float(rows[0]["oa"])
    saved = json.loads((out / "baselines.json").read_text())
    assert saved["config"]["rf_trees"] == 100 and saved["verdict"] == table["verdict"]
    for method in ("prior", "random_forest"):
        assert (out / method / "metrics.json").exists()
        assert (out / method / "confusion_psc.png").exists()


def test_verdict_says_when_sunet_does_not_win() -> None:
    nan = float("nan")
    rows = [
        {"method": "random_forest", "oa": 0.80, "opa": 0.80, "mae": 0.05},
        {"method": "sunet", "oa": 0.70, "opa": 0.85, "mae": 0.04},
        {"method": "sunet_no_pure_stream", "oa": nan, "opa": 0.75, "mae": 0.06},
    ]
    lines = verdict(rows)
    assert lines[0].startswith("OA: best is random_forest")
    assert "does NOT beat random_forest (0.8000)" in lines[0]
    assert "SU-Net beats every other method" in lines[1]  # OPA
    assert lines[2].startswith("MAE: best is sunet") and "beats every other" in lines[2]


def test_budget_is_resolved_from_suite_and_preset(tmp_path: Path) -> None:
    fast = BaselinesConfig(patches=tmp_path, out=tmp_path, suite="fast", preset="cpu-small")
    full = BaselinesConfig(patches=tmp_path, out=tmp_path, suite="full", preset="cpu-small")
    assert full.epochs == 30 and full.max_minutes == 15.0 and full.rf_trees == 500
    assert fast.epochs == 8 and fast.max_minutes == pytest.approx(3.75) and fast.rf_trees == 100
    with pytest.raises(ValueError):
        BaselinesConfig(patches=tmp_path, out=tmp_path, methods=["prior", "prior"])


def test_a_trained_bundle_can_stand_for_the_sunet_row(
    separable_store: Path, tmp_path: Path, one_torch_thread: None
) -> None:
    from tiny_model import TINY

    from sunet.training import TrainConfig, train

    bundle = train(
        TrainConfig(
            patches=separable_store,
            out=tmp_path / "run",
            model=TINY,
            epochs=1,
            batch_size=8,
            progress=False,
            num_threads=1,
        )  # fmt: skip
    )
    config = BaselinesConfig(
        patches=separable_store, out=tmp_path / "b", methods=["sunet"], sunet_model=bundle
    )
    table = run_baselines(config)
    assert [r["epochs_run"] for r in table["rows"]] == [1]
    assert not (config.out / "sunet" / "train").exists()  # scored, not trained again
    assert f"the bundle `{bundle}`, trained separately" in (config.out / "baselines.md").read_text()
    missing = config.model_copy(update={"sunet_model": tmp_path / "nope.safetensors"})
    with pytest.raises(FileNotFoundError, match="nope.safetensors: no such model bundle"):
        run_baselines(missing)


def test_command_offers_every_method_and_refuses_others(tmp_path: Path) -> None:
    from sunet.cli import build_parser

    parser, _ = build_parser("baselines")
    base = ["baselines", "--patches", "p", "--out", "o"]
    assert parser.parse_args([*base, "--methods", *METHODS]).methods == list(METHODS)
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--methods", "svm"])


def test_empty_split_is_a_one_line_error(tmp_path: Path) -> None:
    images, abundances = make_patches(CODES, per_class_pure=1, n_mixed=0, size=16)
    store = write_patch_store(tmp_path / "s", images, abundances, ["train"] * len(images))
    with pytest.raises(ValueError, match="split 'test' has no patches"):
        run_baselines(BaselinesConfig(patches=store, out=tmp_path / "b", methods=["prior"]))


@pytest.mark.slow
def test_full_suite_trains_the_three_sunet_variants(separable_store: Path, tmp_path: Path) -> None:
    config = BaselinesConfig(patches=separable_store, out=tmp_path / "b", epochs=1, max_minutes=0)
    run_baselines(config)
    saved = json.loads((config.out / "baselines.json").read_text())
    rows = {r["method"]: r for r in saved["rows"]}
    assert list(rows) == list(METHODS)
    assert rows["sunet_no_pure_stream"]["oa"] is None  # no class head to score
    assert rows["sunet_no_pure_stream"]["opa"] is not None
    for method in ("sunet", "sunet_no_pure_stream", "sunet_fixed_weights"):
        assert 0.0 <= rows[method]["mae"] <= 1.0
        assert rows[method]["epochs_run"] == 1
        assert list((config.out / method / "train").glob("*.safetensors")), method
    assert not (config.out / "sunet_no_pure_stream" / "confusion_psc.png").exists()


def test_an_earlier_training_run_in_out_is_refused_before_any_work(
    separable_store: Path, tmp_path: Path
) -> None:
    (tmp_path / "b" / "sunet" / "train").mkdir(parents=True)
    (tmp_path / "b" / "sunet" / "train" / "run.json").write_text("{}")
    config = BaselinesConfig(patches=separable_store, out=tmp_path / "b")
    with pytest.raises(ValueError, match="already holds a training run"):
        run_baselines(config)
    assert not (tmp_path / "b" / "prior").exists()
