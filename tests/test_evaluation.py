"""Scoring a split end to end: predictions -> metrics.json, tables and confusion plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from evaluation_store import make_patches, write_patch_store

from sunet.evaluation.evaluate import (
    EvaluateConfig,
    format_table,
    predict_split,
    score,
    write_report,
)
from sunet.evaluation.patches import select_patches
from sunet.patch_store import PatchStore

CODES = [1, 2, 11, 14, 17]  # LCZ 1, 2, A, D, G
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    images, abundances = make_patches(CODES, per_class_pure=4, n_mixed=10, size=32, seed=3)
    splits = np.array(["train", "val", "test"])[np.arange(len(images)) % 3]
    return write_patch_store(tmp_path_factory.mktemp("store"), images, abundances, splits)


class ConstantPredictor:
    """Always the same probabilities: its scores follow from the reference alone."""

    def __init__(self, probs: np.ndarray) -> None:
        self.probs = probs

    def predict_classes(self, images: np.ndarray) -> np.ndarray:
        return np.tile(self.probs, (len(images), 1))

    def predict_abundances(self, images: np.ndarray) -> np.ndarray:
        return np.tile(self.probs, (len(images), 1))


def test_constant_predictor_scores_follow_from_the_reference(store: Path) -> None:
    probs = np.full(17, 0.01)
    probs[10] = 1 - 0.16  # always LCZ A
    patch_store = PatchStore(store)
    pred = predict_split(ConstantPredictor(probs), patch_store, "test", batch_size=3)
    pure = select_patches(patch_store, "test", "pure")
    mixed = select_patches(patch_store, "test", "mixed")
    assert len(pred.pure_reference) == len(pure) > 0
    assert len(pred.mixed_reference) == len(mixed) > 0
    result = score(pred)
    share_a = float((pure.labels == 10).mean())
    assert result["summary"]["oa"] == pytest.approx(share_a)
    assert result["summary"]["opa"] == pytest.approx(share_a)
    expected_mae = np.abs(mixed.abundances - probs).mean()
    assert result["summary"]["mae"] == pytest.approx(expected_mae)
    # Only LCZ A is ever predicted: every other present class has recall 0.
    recalls = {row["letter"]: row["psc_recall"] for row in result["per_class"]}
    assert recalls["A"] == 1.0 and recalls["1"] == 0.0
    assert np.isnan(recalls["5"])  # absent from the store


def test_model_without_pure_stream_has_no_psc_figures(store: Path, tmp_path: Path) -> None:
    probs = np.full(17, 1 / 17)
    pred = predict_split(ConstantPredictor(probs), PatchStore(store), "test", with_psc=False)
    result = score(pred)
    assert result["psc"] is None and np.isnan(result["summary"]["oa"])
    assert np.isfinite(result["summary"]["opa"])
    config = EvaluateConfig(model=tmp_path / "m.safetensors", patches=store, out=tmp_path / "ev")
    write_report(config.out, result, pred, config, "no pure stream")
    assert not (config.out / "confusion_psc.png").exists()
    assert (config.out / "confusion_pseudo.png").exists()
    assert json.loads((config.out / "metrics.json").read_text())["summary"]["oa"] is None


def test_report_files(store: Path, tmp_path: Path) -> None:
    probs = np.full(17, 0.01)
    probs[0] = 1 - 0.16
    pred = predict_split(ConstantPredictor(probs), PatchStore(store), "test")
    result = score(pred)
    config = EvaluateConfig(model=tmp_path / "m.safetensors", patches=store, out=tmp_path / "ev")
    write_report(config.out, result, pred, config, "constant")
    out = config.out
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("oa", "precision", "recall", "opa", "p_precision", "p_recall", "mae", "kappa"):
        assert isinstance(metrics["summary"][key], float), key
    for key in ("oa_urban", "oa_builtnatural", "oa_weighted", "oa_paper_formula", "f1_macro"):
        assert key in metrics["psc"] and key in metrics["pseudo"]
    assert np.asarray(metrics["confusion"]["psc"]).shape == (17, 17)
    for name in ("confusion_psc.png", "confusion_pseudo.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    with open(out / "per_class.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["letter"] for r in rows][:3] == ["1", "2", "3"] and len(rows) == 17
    assert rows[2]["psc_recall"] == ""  # LCZ 3 is absent: empty, not 'nan'
    with open(out / "predictions.csv", newline="") as f:
        assert (
            len(list(csv.DictReader(f)))
            == result["summary"]["n_pure"] + result["summary"]["n_mixed"]
        )
    saved = json.loads((out / "config.json").read_text())
    assert saved["split"] == "test" and saved["update_bundle"] is True
    assert not list(out.glob(".tmp-*"))
    table = format_table(result)
    assert "OA_weighted" in table and "MAE" in table


def test_config_rejects_unknown_fields_and_bad_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        EvaluateConfig(model=tmp_path, patches=tmp_path, out=tmp_path, split="holdout")
    with pytest.raises(ValueError):
        EvaluateConfig(model=tmp_path, patches=tmp_path, out=tmp_path, epochs=3)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised small SU-Net bundle for 32 px patches at 1 m."""
    from evaluation_store import CRS, GSD

    from sunet.bundle import BundleMeta, save_bundle
    from sunet.model import SUNet, get_preset

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    config = get_preset("cpu-small").model.model_copy(update={"input_size": 32})
    meta = BundleMeta(
        preset="cpu-small",
        model=config,
        mean=[120.0, 120.0, 120.0],
        std=[60.0, 60.0, 60.0],
        patch_size=32,
        input_size=32,
        gsd=GSD,
        bands=["red", "green", "blue"],
        crs=CRS,
        index_hash="sha256:test",
    )
    path = tmp_path_factory.mktemp("bundle") / "model.safetensors"
    return save_bundle(path, SUNet(config).eval(), meta)


def test_evaluate_command_writes_metrics_plots_and_updates_bundle(
    store: Path, bundle_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sunet.bundle import read_bundle_meta
    from sunet.cli import main

    out = tmp_path / "eval"
    argv = ["evaluate", "--model", str(bundle_path), "--patches", str(store), "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "OA_weighted" in printed and "MAE" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    summary = metrics["summary"]
    for key in ("oa", "precision", "recall", "opa", "p_precision", "p_recall", "mae"):
        assert 0.0 <= summary[key] <= 1.0, key
    assert summary["n_pure"] > 0 and summary["n_mixed"] > 0
    for name in ("confusion_psc.png", "confusion_pseudo.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    assert (out / "per_class.csv").exists() and (out / "config.json").exists()
    stored = read_bundle_meta(bundle_path).metrics["test"]
    assert stored["oa"] == pytest.approx(summary["oa"])
    assert stored["mae"] == pytest.approx(summary["mae"])


def test_evaluate_command_can_leave_the_bundle_untouched(
    store: Path, bundle_path: Path, tmp_path: Path
) -> None:
    from sunet.bundle import read_bundle_meta
    from sunet.cli import main

    before = read_bundle_meta(bundle_path).metrics
    argv = ["evaluate", "--model", str(bundle_path), "--patches", str(store), "--split", "val",
            "--out", str(tmp_path / "ev"), "--no-update-bundle"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["split"] == "val"
    assert read_bundle_meta(bundle_path).metrics == before


def test_evaluate_rejects_patches_of_another_size(
    bundle_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sunet.cli import main

    images, abundances = make_patches(CODES, per_class_pure=1, n_mixed=2, size=16)
    other = write_patch_store(tmp_path / "small", images, abundances, ["test"] * len(images))
    argv = ["evaluate", "--model", str(bundle_path), "--patches", str(other),
            "--out", str(tmp_path / "ev")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "16 px" in err and "32 px" in err and str(other) in err
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_evaluate_reports_a_missing_store(bundle_path: Path, tmp_path: Path) -> None:
    from sunet.cli import main

    argv = ["evaluate", "--model", str(bundle_path), "--patches", str(tmp_path / "none"),
            "--out", str(tmp_path / "ev")]  # fmt: skip
    assert main(argv) == 2


def test_a_report_rerun_is_not_complete_until_it_is(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sunet.evaluation.evaluate as evaluate

    probs = np.full(17, 0.01)
    probs[0] = 1 - 0.16
    pred = predict_split(ConstantPredictor(probs), PatchStore(store), "test")
    config = EvaluateConfig(model=tmp_path / "m.safetensors", patches=store, out=tmp_path / "ev")
    write_report(config.out, score(pred), pred, config, "first")
    assert (config.out / "metrics.json").is_file()

    def dies(*a: object, **k: object) -> None:
        raise OSError("killed while plotting")

    monkeypatch.setattr(evaluate, "plot_confusion", dies)
    with pytest.raises(OSError):
        write_report(config.out, score(pred), pred, config, "rerun")
    # New tables were written; the old metrics must not sit beside them as if complete.
    assert not (config.out / "metrics.json").exists()
