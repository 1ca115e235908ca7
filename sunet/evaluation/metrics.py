"""The paper's accuracy figures and the WUDAPT ones, as pure functions of arrays.

Every classification figure derives from one dense 17x17 confusion matrix ``cm[reference,
predicted]`` in raster-code order (index = code - 1), built with scikit-learn over all 17 labels.
Working from the matrix, rather than calling scikit-learn's label-based scorers one by one, keeps
absent classes handled the same way everywhere and lets the WUDAPT figures (which are defined on
the matrix) share it.

Conventions for classes absent from the test set (no reference patches): their per-class
recall/precision/F1 are NaN and they are left out of macro averages; NaN is written to JSON as
``null``. A class that has reference patches but is never predicted has precision 0 (it was never
found), the usual ``zero_division=0`` convention.

A note on the paper's Table 1 (Tian, Li, Huang): its precision and recall (eqs. 4-5) sum TP, FP and
FN over all classes, i.e. micro averages, and for single-label classification both equal the
overall accuracy (every error is one FP and one FN). The paper's reported figures (precision 96.79%
vs OA 96.78%, recall = OA) match support-weighted averages instead, where recall always equals OA.
We therefore report micro (the formulas as printed), macro and support-weighted averages, labelled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion_matrix

from sunet.evaluation.lcz_similarity import LCZ_SIMILARITY
from sunet.lcz import CLASSES, NUM_CLASSES

__all__ = [
    "BUILT_INDICES",
    "NATURAL_INDICES",
    "abundance_mae",
    "classification_report",
    "cohen_kappa",
    "confusion_matrix",
    "jsonable",
    "mixed_report",
    "oa_builtnatural",
    "oa_paper_formula",
    "oa_urban",
    "oa_weighted",
    "overall_accuracy",
    "per_class_scores",
]

BUILT_INDICES: tuple[int, ...] = tuple(c.index for c in CLASSES if c.is_built)
NATURAL_INDICES: tuple[int, ...] = tuple(c.index for c in CLASSES if not c.is_built)


def confusion_matrix(reference: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Dense confusion matrix over all 17 classes.

    Args:
        reference: int array ``(N,)`` of class indices 0-16 (raster code - 1).
        predicted: int array ``(N,)`` of class indices 0-16.

    Returns:
        int64 ``(17, 17)``: ``cm[i, j]`` = patches of reference class ``i`` predicted as ``j``.
    """
    reference = np.asarray(reference).reshape(-1)
    predicted = np.asarray(predicted).reshape(-1)
    if reference.shape != predicted.shape:
        raise ValueError(
            f"reference and predicted differ in length: {reference.size} vs {predicted.size}"
        )
    for name, a in (("reference", reference), ("predicted", predicted)):
        if a.size and (a.min() < 0 or a.max() >= NUM_CLASSES):
            raise ValueError(f"{name} class indices must lie in 0-{NUM_CLASSES - 1}")
    return _sk_confusion_matrix(reference, predicted, labels=np.arange(NUM_CLASSES)).astype(
        np.int64
    )


def _check_cm(cm: np.ndarray) -> np.ndarray:
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {cm.shape}")
    return cm


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else math.nan


def overall_accuracy(cm: np.ndarray) -> float:
    """OA = trace / total: the share of patches whose predicted class is the reference class."""
    cm = _check_cm(cm)
    return _ratio(np.trace(cm), cm.sum())


def oa_paper_formula(cm: np.ndarray) -> float:
    """The paper's eq. 3, sum_c (TP_c + TN_c) / sum_c (TP_c + TN_c + FP_c + FN_c), over all C classes.

    Not the usual OA: each class's true negatives count as hits, so with N patches and C classes
    it equals ``1 - 2 (1 - OA) / C`` (every error is one FP and one FN); for C = 17 an OA of 0.80
    reads as 0.976. Reported only under this name, never as OA.
    """
    cm = _check_cm(cm)
    n, c = cm.sum(), cm.shape[0]
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = n - tp - fp - fn
    return _ratio((tp + tn).sum(), (tp + tn + fp + fn).sum()) if c else math.nan


def cohen_kappa(cm: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Cohen's kappa (po - pe) / (1 - pe); with ``weights`` (a similarity matrix, 1 on the
    diagonal) the agreement-weighted form. NaN for an empty matrix or pe = 1."""
    cm = _check_cm(cm)
    n = cm.sum()
    if n == 0:
        return math.nan
    w = np.eye(cm.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    expected = np.outer(cm.sum(axis=1), cm.sum(axis=0)) / n
    po = (w * cm).sum() / n
    pe = (w * expected).sum() / n
    return math.nan if np.isclose(pe, 1.0) else float((po - pe) / (1.0 - pe))


def oa_weighted(cm: np.ndarray, weights: np.ndarray = LCZ_SIMILARITY) -> float:
    """WUDAPT weighted OA: sum_ij w_ij cm_ij / N (Bechtel et al. 2019, 2020).

    ``weights`` defaults to the LCZ similarity table (:mod:`sunet.evaluation.lcz_similarity`):
    a near-miss (LCZ 2 for LCZ 1) earns 0.92 credit, LCZ G for LCZ 1 earns none. With the identity
    matrix this is plain OA.
    """
    cm = _check_cm(cm)
    return _ratio((np.asarray(weights, dtype=np.float64) * cm).sum(), cm.sum())


def oa_urban(cm: np.ndarray) -> float:
    """WUDAPT OA_urban: OA on the 10x10 sub-matrix of the built classes LCZ 1-10.

    Both axes are restricted (as in the LCZ Generator's accuracy reports), so a built patch
    predicted as a natural class, or the reverse, leaves the denominator; that confusion is
    what :func:`oa_builtnatural` scores. NaN when no built patch is predicted as built.
    """
    cm = _check_cm(cm)
    sub = cm[np.ix_(BUILT_INDICES, BUILT_INDICES)]
    return _ratio(np.trace(sub), sub.sum())


def oa_builtnatural(cm: np.ndarray) -> float:
    """WUDAPT OA_bu: OA of the 2-class problem built (LCZ 1-10) vs natural (LCZ A-G)."""
    cm = _check_cm(cm)
    b, n = list(BUILT_INDICES), list(NATURAL_INDICES)
    return _ratio(cm[np.ix_(b, b)].sum() + cm[np.ix_(n, n)].sum(), cm.sum())


def per_class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision (user's accuracy), recall (producer's accuracy), F1 and support.

    Returns float64 arrays ``(C,)``: ``precision``, ``recall``, ``f1`` (NaN where the class has
    no reference patches; precision 0 where it has some but is never predicted) and int64
    ``support`` (reference patches) and ``predicted`` (patches predicted as the class).
    """
    cm = _check_cm(cm)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, tp / np.where(present, support, 1), np.nan)
        precision = np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), 0.0)
        precision = np.where(present, precision, np.nan)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
        f1 = np.where(present, f1, np.nan)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support.astype(np.int64),
        "predicted": predicted.astype(np.int64),
    }


def classification_report(cm: np.ndarray) -> dict[str, float | int]:
    """All single-label figures of one confusion matrix, as a flat dict (floats in [0, 1]).

    Keys: ``n``, ``classes_present``, ``oa``, ``precision_micro`` / ``recall_micro`` (the paper's
    eqs. 4-5; equal to ``oa`` by construction), ``precision_macro`` / ``recall_macro`` /
    ``f1_macro`` (over classes with reference patches), ``precision_weighted`` /
    ``recall_weighted`` / ``f1_weighted`` (support-weighted), ``kappa``, ``oa_urban``,
    ``oa_builtnatural``, ``oa_weighted``, ``kappa_weighted`` (similarity-weighted kappa) and
    ``oa_paper_formula`` (eq. 3, inflated by true negatives).
    """
    cm = _check_cm(cm)
    scores = per_class_scores(cm)
    tp = np.diag(cm)
    support = scores["support"]
    present = support > 0
    n = int(cm.sum())

    def macro(values: np.ndarray) -> float:
        return float(values[present].mean()) if present.any() else math.nan

    def weighted(values: np.ndarray) -> float:
        return float((values[present] * support[present]).sum() / n) if n else math.nan

    return {
        "n": n,
        "classes_present": int(present.sum()),
        "oa": overall_accuracy(cm),
        "precision_micro": _ratio(tp.sum(), cm.sum(axis=0).sum()),
        "recall_micro": _ratio(tp.sum(), support.sum()),
        "precision_macro": macro(scores["precision"]),
        "recall_macro": macro(scores["recall"]),
        "f1_macro": macro(scores["f1"]),
        "precision_weighted": weighted(scores["precision"]),
        "recall_weighted": weighted(scores["recall"]),
        "f1_weighted": weighted(scores["f1"]),
        "kappa": cohen_kappa(cm),
        "oa_urban": oa_urban(cm),
        "oa_builtnatural": oa_builtnatural(cm),
        "oa_weighted": oa_weighted(cm),
        "kappa_weighted": cohen_kappa(cm, LCZ_SIMILARITY),
        "oa_paper_formula": oa_paper_formula(cm),
    }


def abundance_mae(reference: np.ndarray, predicted: np.ndarray) -> float:
    """The paper's MAE (eq. 6) for abundance vectors, read as an element-wise mean.

    ``mean_{i, c} |a_ic - â_ic|`` over all N patches and all 17 classes, i.e. the sum of absolute
    differences divided by ``N * 17``. (The per-patch L1 distance, 17 times larger, is reported
    separately as ``mae_l1`` by :func:`mixed_report`.)

    Args:
        reference: float ``(N, 17)`` reference abundances (rows sum to 1).
        predicted: float ``(N, 17)`` predicted abundances.
    """
    ref, pred = _check_abundances(reference, predicted)
    return float(np.abs(ref - pred).mean()) if ref.size else math.nan


def _check_abundances(reference: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, ...]:
    ref = np.asarray(reference, dtype=np.float64)
    pred = np.asarray(predicted, dtype=np.float64)
    if ref.shape != pred.shape or ref.ndim != 2 or ref.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"abundances must both be (N, {NUM_CLASSES}); got {ref.shape} and {pred.shape}"
        )
    return ref, pred


def mixed_report(reference: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Unmixing figures for mixed patches.

    Keys: ``n``; ``mae`` (:func:`abundance_mae`, element-wise over patches x 17 classes);
    ``mae_l1`` (mean over patches of the L1 distance sum_c |a_c - â_c|, in [0, 2]); ``rmse``
    (element-wise); ``dominant_oa`` (share of patches whose largest predicted abundance is the
    reference dominant class); ``mae_per_class`` (list of 17: mean over patches of
    |a_c - â_c|; for a class absent from every reference vector this is the mean abundance
    wrongly given to it).
    """
    ref, pred = _check_abundances(reference, predicted)
    n = ref.shape[0]
    if n == 0:
        nan17 = [math.nan] * NUM_CLASSES
        return {"n": 0, "mae": math.nan, "mae_l1": math.nan, "rmse": math.nan,
                "dominant_oa": math.nan, "mae_per_class": nan17}  # fmt: skip
    err = np.abs(ref - pred)
    return {
        "n": int(n),
        "mae": float(err.mean()),
        "mae_l1": float(err.sum(axis=1).mean()),
        "rmse": float(np.sqrt(((ref - pred) ** 2).mean())),
        "dominant_oa": float((ref.argmax(axis=1) == pred.argmax(axis=1)).mean()),
        "mae_per_class": [float(v) for v in err.mean(axis=0)],
    }


def jsonable(value: Any) -> Any:
    """``value`` with NaN/inf floats replaced by ``None`` and numpy scalars/arrays made plain,
    so that ``json.dumps(..., allow_nan=False)`` writes ``null`` for undefined figures."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
