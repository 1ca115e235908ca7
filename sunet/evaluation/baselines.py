"""SU-Net against baselines on the same patches and splits, in one table.

Methods (all scored by :func:`sunet.evaluation.evaluate.score` on the same split):

- ``prior``: no image at all. Every pure patch gets the training split's most frequent class,
  every mixed patch the training split's mean abundance vector. The floor any model must clear.
- ``random_forest``: a WUDAPT-style random forest (Bechtel et al. 2015, 2019) on per-patch
  spectral and texture features (:mod:`sunet.evaluation.features`), trained on the training
  split's pure and mixed patches with their dominant class. Its class probabilities are its
  class scores and, for mixed patches, its "pseudo-abundances"; it has no separate unmixing
  path, so its OPA equals its OA.
- ``sunet``: SU-Net as the paper trains it (both streams, GradNorm).
- ``sunet_no_pure_stream``: SU-Net without the PSC stream (``pure_stream=False``); it has no
  class head, so its OA/precision/recall are empty and only OPA and MAE compare.
- ``sunet_fixed_weights``: SU-Net with fixed equal loss weights instead of GradNorm.

The three SU-Net variants are trained by :func:`sunet.training.train` with the same preset, seed
and budget: ``fast`` = a quarter of the preset's epochs and wall-clock minutes, ``full`` = the
preset's own. Each method's own evaluation (metrics.json, confusion plots) lands in
``out/<method>/``; the comparison in ``out/baselines.{md,csv,json}``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from sunet.atomic import write_text_atomic
from sunet.evaluation import metrics as m
from sunet.evaluation.config import METHODS, BaselinesConfig
from sunet.evaluation.evaluate import SplitPredictions, predict_split, score, write_report
from sunet.evaluation.features import patch_features
from sunet.evaluation.patches import PatchSet, select_patches
from sunet.lcz import NUM_CLASSES
from sunet.patch_store import PatchStore

__all__ = [
    "METHODS",
    "BaselinesConfig",
    "format_markdown",
    "prior_baseline",
    "random_forest_baseline",
    "run_baselines",
    "verdict",
]

# name -> (pure_stream, loss_weights) passed to training
_SUNET_VARIANTS: dict[str, tuple[bool, Literal["gradnorm", "fixed"]]] = {
    "sunet": (True, "gradnorm"),
    "sunet_no_pure_stream": (False, "gradnorm"),
    "sunet_fixed_weights": (True, "fixed"),
}


def _features(patches: PatchSet, batch_size: int) -> np.ndarray:
    parts = [patch_features(batch) for batch in patches.image_batches(batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def _as_17(probs: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Class probabilities over the classes a model saw -> ``(N, 17)`` in class order."""
    out = np.zeros((len(probs), NUM_CLASSES))
    out[:, classes] = probs
    return out


def _split_patches(store: PatchStore, split: str) -> tuple[PatchSet, PatchSet, PatchSet]:
    train = select_patches(store, "train")
    if not len(train):
        raise ValueError(f"{store.path}: the train split has no patches")
    pure, mixed = select_patches(store, split, "pure"), select_patches(store, split, "mixed")
    if not len(pure) + len(mixed):
        raise ValueError(f"{store.path}: split {split!r} has no patches")
    return train, pure, mixed


def _predictions(
    pure: PatchSet, mixed: PatchSet, pure_probs: np.ndarray, mixed_abund: np.ndarray
) -> SplitPredictions:
    return SplitPredictions(
        pure_ids=pure.index["patch_id"].to_numpy(),
        pure_reference=pure.labels,
        psc_probabilities=pure_probs,
        pseudo_abundances=pure_probs,
        mixed_ids=mixed.index["patch_id"].to_numpy(),
        mixed_reference=mixed.abundances,
        mixed_abundances=mixed_abund,
    )


def prior_baseline(store: PatchStore, split: str) -> SplitPredictions:
    """The image-blind floor: training class frequencies for pure patches (argmax = the most
    frequent class), the training mean abundance vector for mixed ones."""
    train, pure, mixed = _split_patches(store, split)
    freq = np.bincount(train.labels, minlength=NUM_CLASSES) / len(train)
    mean_abundance = train.abundances.mean(axis=0)
    return _predictions(
        pure, mixed, np.tile(freq, (len(pure), 1)), np.tile(mean_abundance, (len(mixed), 1))
    )


def random_forest_baseline(
    store: PatchStore,
    split: str,
    trees: int = 100,
    seed: int = 0,
    batch_size: int = 64,
    num_threads: int | None = None,
) -> SplitPredictions:
    """Train the WUDAPT-style random forest on ``train`` (pure and mixed patches, dominant
    class) and predict ``split``. Returns class probabilities (as the PSC and pseudo outputs)
    and, for mixed patches, probabilities as pseudo-abundances, all ``(N, 17)``."""
    train, pure, mixed = _split_patches(store, split)
    forest = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=num_threads or -1)
    forest.fit(_features(train, batch_size), train.labels)

    def proba(patches: PatchSet) -> np.ndarray:
        if not len(patches):
            return np.zeros((0, NUM_CLASSES))
        return _as_17(forest.predict_proba(_features(patches, batch_size)), forest.classes_)

    return _predictions(pure, mixed, proba(pure), proba(mixed))


def _sunet_variant(
    config: BaselinesConfig, method: str, store: PatchStore
) -> tuple[SplitPredictions, dict[str, Any]]:
    """Train one SU-Net variant and predict the split; also returns how far training got
    (``epochs`` run and why it ``stopped``, from the bundle), since a wall-clock budget on a busy
    machine can end a run before its epoch budget."""
    from sunet.bundle import Predictor, read_bundle_meta

    pure_stream, loss_weights = _SUNET_VARIANTS[method]
    if method == "sunet" and config.sunet_model is not None:
        bundle_path = config.sunet_model
    else:
        bundle_path = _train_variant(config, method, pure_stream, loss_weights)
    device = None if config.device == "auto" else config.device
    predictor = Predictor(bundle_path, device=device, batch_size=config.batch_size)
    pred = predict_split(predictor, store, config.split, config.batch_size, with_psc=pure_stream)
    training = read_bundle_meta(bundle_path).training
    return pred, {"epochs_run": training.get("epochs"), "stopped": training.get("stopped")}


def _train_variant(
    config: BaselinesConfig,
    method: str,
    pure_stream: bool,
    loss_weights: Literal["gradnorm", "fixed"],
) -> Path:
    from sunet.training import TrainConfig, train

    return train(
        TrainConfig(
            patches=config.patches,
            out=config.out / method / "train",
            preset=config.preset,
            epochs=config.epochs,
            max_minutes=config.max_minutes,
            pure_stream=pure_stream,
            loss_weights=loss_weights,
            seed=config.seed,
            device=config.device,
            num_processes=config.num_processes,
            progress=False,
        )
    )


# Table columns: (key in the score summary, header, higher is better)
_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("oa", "OA", True),
    ("precision_macro", "Precision (macro)", True),
    ("recall_macro", "Recall (macro)", True),
    ("kappa", "Kappa", True),
    ("oa_weighted", "OA_w", True),
    ("opa", "OPA", True),
    ("p_recall_macro", "P-Recall (macro)", True),
    ("mae", "MAE", False),
    ("mae_l1", "MAE L1/patch", False),
)
# Headline figures the verdict is given on.
_HEADLINE = ("oa", "opa", "mae")


def verdict(rows: list[dict[str, Any]]) -> list[str]:
    """Plain sentences: which method is best on each headline figure (OA, OPA, MAE), and whether
    SU-Net beats every other method on it."""
    lines = []
    for key, header, higher in _COLUMNS:
        if key not in _HEADLINE:
            continue
        scored = [(r["method"], r[key]) for r in rows if _finite(r.get(key))]
        if not scored:
            continue
        best = (max if higher else min)(scored, key=lambda t: t[1])
        line = f"{header}: best is {best[0]} ({best[1]:.4f})"
        sunet = dict(scored).get("sunet")
        if sunet is not None and len(scored) > 1:
            rivals = [(n, v) for n, v in scored if n != "sunet"]
            wins = all((sunet > v) if higher else (sunet < v) for _, v in rivals)
            if wins:
                line += "; SU-Net beats every other method."
            else:
                beaten_by = [f"{n} ({v:.4f})" for n, v in rivals
                             if ((v >= sunet) if higher else (v <= sunet))]  # fmt: skip
                line += f"; SU-Net ({sunet:.4f}) does NOT beat {', '.join(beaten_by)}."
        lines.append(line)
    return lines


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _undefined(v: Any) -> bool:
    """None or NaN: written as an empty CSV cell."""
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def _cell(v: Any, key: str) -> str:
    if not _finite(v):
        return "-"
    plain = key.startswith("mae") or "kappa" in key  # not percentages
    return f"{v:.4f}" if plain else f"{100 * v:.2f}%"


def format_markdown(rows: list[dict[str, Any]], config: BaselinesConfig) -> str:
    """The comparison as a markdown table, with the verdict and the definitions used."""
    head = ["Method", *(h for _, h, _ in _COLUMNS), "Run s", "Epochs"]
    lines = [
        f"# Baselines on `{config.patches}` ({config.split} split, suite `{config.suite}`)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = [r["method"], *(_cell(r.get(k), k) for k, _, _ in _COLUMNS)]
        cells.append(f"{r['run_seconds']:.0f}")
        epochs = r.get("epochs_run")
        cells.append("" if epochs is None else f"{epochs} ({r.get('stopped')})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Verdict", ""] + [f"- {s}" for s in verdict(rows)]
    lines += [
        "",
        "## Definitions",
        "",
        "- OA = trace / total on pure patches; the paper's micro precision/recall (eqs. 4-5) "
        "equal OA for single-label classification, so macro averages over the classes present "
        "are shown.",
        "- OPA: pure patches labelled by their largest predicted abundance (for the random "
        "forest and the prior: their class probabilities, so OPA = OA).",
        "- MAE: mean |reference - predicted abundance| over mixed patches x 17 classes (eq. 6); "
        "MAE L1/patch = mean over patches of the summed absolute error (0-2).",
    ]
    if any(r["method"] == "sunet_no_pure_stream" for r in rows):
        lines.append("- sunet_no_pure_stream has no class head: its OA columns are empty.")
    lines += [
        f"- SU-Net variants: preset `{config.preset}`, {config.epochs} epoch(s) at most, "
        f"{config.max_minutes:g} min budget each (0 = none), seed {config.seed}; the Epochs "
        "column gives the epochs actually run and why training stopped.",
    ]
    if config.sunet_model is not None and any(r["method"] == "sunet" for r in rows):
        lines.append(f"- sunet: the bundle `{config.sunet_model}`, trained separately.")
    return "\n".join(lines) + "\n"


def _table_csv(rows: list[dict[str, Any]]) -> str:
    keys = ["method", *(k for k, _, _ in _COLUMNS), "n_pure", "n_mixed", "run_seconds"]
    keys += ["epochs_run", "stopped"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if _undefined(r.get(k)) else r.get(k)) for k in keys})
    return buf.getvalue()


def run_baselines(config: BaselinesConfig) -> dict[str, Any]:
    """Run every method of ``config``, write ``out/<method>/`` evaluations and the table
    (``baselines.md``, ``.csv``, ``.json``; the JSON is written last). Returns the JSON content.

    Raises:
        FileNotFoundError, ValueError: a missing or incomplete store, or an empty split.
    """
    store = PatchStore(config.patches)
    _split_patches(store, config.split)  # fail early, before any training
    if config.sunet_model is not None and not Path(config.sunet_model).is_file():
        raise FileNotFoundError(f"{config.sunet_model}: no such model bundle")
    for method in config.methods:
        run_dir = config.out / method / "train"
        if method in _SUNET_VARIANTS and run_dir.is_dir() and any(run_dir.iterdir()):
            raise ValueError(f"{run_dir}: already holds a training run; choose another --out")
    config.out.mkdir(parents=True, exist_ok=True)
    # baselines.json, written last, marks a complete comparison: gone until this one is.
    (config.out / "baselines.json").unlink(missing_ok=True)
    write_text_atomic(config.out / "config.json", config.model_dump_json(indent=2) + "\n")
    runners: dict[str, Callable[[], SplitPredictions]] = {
        "prior": lambda: prior_baseline(store, config.split),
        "random_forest": lambda: random_forest_baseline(
            store,
            config.split,
            config.rf_trees or 100,
            config.seed,
            config.batch_size,
            config.num_threads,
        ),  # fmt: skip
    }
    rows = []
    for method in config.methods:
        start = time.perf_counter()
        info: dict[str, Any] = {"epochs_run": None, "stopped": None}
        if method in runners:
            pred = runners[method]()
        else:
            pred, info = _sunet_variant(config, method, store)
        seconds = time.perf_counter() - start
        result = {"split": config.split, "method": method, **score(pred)}
        titles = (
            ("class probabilities (argmax)", "class probabilities (argmax), as OPA")
            if method in runners
            else ("pure scene classification (PSC-Net)", "pseudo classification (MSU-Net)")
        )
        write_report(
            config.out / method, result, pred, config, f"{method} ({config.split})", titles
        )
        summary = result["summary"]
        rows.append(
            {
                "method": method,
                **summary,
                "mae_l1": result["mixed"]["mae_l1"],
                "run_seconds": seconds,
                **info,
            }
        )
    table = {"config": json.loads(config.model_dump_json()), "rows": rows, "verdict": verdict(rows)}
    write_text_atomic(config.out / "baselines.md", format_markdown(rows, config))
    write_text_atomic(config.out / "baselines.csv", _table_csv(rows))
    text = json.dumps(m.jsonable(table), indent=2, allow_nan=False)
    write_text_atomic(config.out / "baselines.json", text + "\n")
    return table
