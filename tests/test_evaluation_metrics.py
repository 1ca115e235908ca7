"""The evaluation metrics against hand-computed figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

from sunet.evaluation import metrics as m
from sunet.evaluation.lcz_similarity import LCZ_SIMILARITY

# Reference LCZ 1, LCZ 2 and LCZ B (indices 0, 1, 11); every other class absent.
#            pred 1  pred 2  pred B
# ref 1        8       2       0
# ref 2        1       6       3
# ref B        0       0      10
CM = np.zeros((17, 17), dtype=np.int64)
CM[0, 0], CM[0, 1] = 8, 2
CM[1, 0], CM[1, 1], CM[1, 11] = 1, 6, 3
CM[11, 11] = 10
PRESENT = [0, 1, 11]


def labels_of(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, pred = np.nonzero(cm)
    counts = cm[ref, pred]
    return np.repeat(ref, counts), np.repeat(pred, counts)


def test_confusion_matrix_is_dense_17x17_in_class_order() -> None:
    ref, pred = labels_of(CM)
    cm = m.confusion_matrix(ref, pred)
    assert cm.shape == (17, 17)
    np.testing.assert_array_equal(cm, CM)


def test_confusion_matrix_rejects_out_of_range_labels() -> None:
    with pytest.raises(ValueError, match="0-16"):
        m.confusion_matrix(np.array([0, 17]), np.array([0, 1]))


def test_report_matches_hand_computed_figures() -> None:
    r = m.classification_report(CM)
    assert r["n"] == 30 and r["classes_present"] == 3
    assert r["oa"] == pytest.approx(24 / 30)
    # Eqs. 4-5 (micro) equal OA for single-label classification.
    assert r["precision_micro"] == pytest.approx(0.8)
    assert r["recall_micro"] == pytest.approx(0.8)
    assert r["recall_macro"] == pytest.approx((0.8 + 0.6 + 1.0) / 3)
    assert r["precision_macro"] == pytest.approx((8 / 9 + 6 / 8 + 10 / 13) / 3)
    f1 = [2 * p * q / (p + q) for p, q in ((8 / 9, 0.8), (0.75, 0.6), (10 / 13, 1.0))]
    assert r["f1_macro"] == pytest.approx(sum(f1) / 3)
    assert r["recall_weighted"] == pytest.approx(r["oa"])
    # po = 0.8, pe = (10*9 + 10*8 + 10*13) / 30^2 = 1/3
    assert r["kappa"] == pytest.approx((0.8 - 1 / 3) / (1 - 1 / 3))
    # built 10x10 block: [[8, 2], [1, 6]]
    assert r["oa_urban"] == pytest.approx(14 / 17)
    # built->built 17, natural->natural 10, built->natural 3
    assert r["oa_builtnatural"] == pytest.approx(27 / 30)
    # partial credit: 1->2 and 2->1 earn 0.92, 2->B earns 0.33
    assert r["oa_weighted"] == pytest.approx((24 + 3 * 0.92 + 3 * 0.33) / 30)
    # 17 classes x 30 patches, 6 errors each counted as one FP and one FN
    assert r["oa_paper_formula"] == pytest.approx((17 * 30 - 12) / (17 * 30))


def test_report_agrees_with_scikit_learn_on_present_classes() -> None:
    ref, pred = labels_of(CM)
    p, r, f, _ = precision_recall_fscore_support(ref, pred, labels=PRESENT, zero_division=0)
    scores = m.per_class_scores(CM)
    np.testing.assert_allclose(scores["precision"][PRESENT], p)
    np.testing.assert_allclose(scores["recall"][PRESENT], r)
    np.testing.assert_allclose(scores["f1"][PRESENT], f)
    pw, rw, fw, _ = precision_recall_fscore_support(
        ref, pred, labels=PRESENT, average="weighted", zero_division=0
    )
    report = m.classification_report(CM)
    assert report["precision_weighted"] == pytest.approx(pw)
    assert report["f1_weighted"] == pytest.approx(fw)
    assert report["kappa"] == pytest.approx(cohen_kappa_score(ref, pred))


def test_weighted_oa_with_identity_weights_is_oa() -> None:
    rng = np.random.default_rng(1)
    cm = rng.integers(0, 20, size=(17, 17))
    assert m.oa_weighted(cm, np.eye(17)) == pytest.approx(m.overall_accuracy(cm))
    assert m.cohen_kappa(cm, np.eye(17)) == pytest.approx(m.cohen_kappa(cm))
    # Partial credit can only raise the figure.
    assert m.oa_weighted(cm) > m.overall_accuracy(cm)


def test_similarity_table_is_the_published_shape() -> None:
    w = LCZ_SIMILARITY
    assert w.shape == (17, 17)
    np.testing.assert_array_equal(np.diag(w), 1.0)
    np.testing.assert_array_equal(w, w.T)
    assert w[0, 3] == 0.67  # the paper's worked example, LCZ 1 vs LCZ 4
    assert w[0, 16] == 0.0  # compact high-rise vs water: no credit


def test_built_vs_natural_ignores_confusion_within_each_group() -> None:
    cm = np.zeros((17, 17))
    cm[0, 9] = 5  # LCZ 1 as LCZ 10: wrong class, right group
    cm[11, 16] = 5  # LCZ B as LCZ G: wrong class, right group
    cm[2, 13] = 2  # LCZ 3 as LCZ D: crosses the groups
    assert m.overall_accuracy(cm) == 0.0
    assert m.oa_builtnatural(cm) == pytest.approx(10 / 12)
    assert m.oa_urban(cm) == 0.0


def test_absent_classes_are_nan_excluded_from_macro_and_null_in_json() -> None:
    scores = m.per_class_scores(CM)
    absent = [i for i in range(17) if i not in PRESENT]
    assert np.isnan(scores["recall"][absent]).all()
    assert np.isnan(scores["precision"][absent]).all()
    assert (scores["support"][absent] == 0).all()
    r = m.classification_report(CM)
    assert math.isfinite(r["precision_macro"]) and math.isfinite(r["recall_macro"])
    text = json.dumps(m.jsonable({"recall": scores["recall"]}), allow_nan=False)
    assert json.loads(text)["recall"][2] is None


def test_class_present_but_never_predicted_has_precision_zero() -> None:
    cm = np.zeros((17, 17))
    cm[0, 1] = 4
    cm[1, 1] = 4
    scores = m.per_class_scores(cm)
    assert scores["precision"][0] == 0.0 and scores["recall"][0] == 0.0
    assert m.classification_report(cm)["precision_macro"] == pytest.approx(0.25)


def test_empty_inputs_give_nan_not_errors() -> None:
    r = m.classification_report(np.zeros((17, 17)))
    assert r["n"] == 0 and math.isnan(r["oa"]) and math.isnan(r["kappa"])
    mixed = m.mixed_report(np.zeros((0, 17)), np.zeros((0, 17)))
    assert mixed["n"] == 0 and math.isnan(mixed["mae"])


def test_mae_is_the_mean_over_patches_and_all_17_classes() -> None:
    ref = np.zeros((2, 17))
    pred = np.zeros((2, 17))
    ref[0, :2] = 0.6, 0.4
    pred[0, :2] = 0.4, 0.6
    ref[1, 0] = 1.0
    pred[1, :3] = 0.8, 0.1, 0.1
    # |errors| sum to 0.4 per patch
    assert m.abundance_mae(ref, pred) == pytest.approx(0.8 / (2 * 17))
    report = m.mixed_report(ref, pred)
    assert report["mae"] == pytest.approx(0.8 / 34)
    assert report["mae_l1"] == pytest.approx(0.4)
    assert report["dominant_oa"] == pytest.approx(0.5)  # patch 0's dominant class is missed
    assert report["mae_per_class"][0] == pytest.approx((0.2 + 0.2) / 2)


def test_mae_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="abundances"):
        m.abundance_mae(np.zeros((3, 17)), np.zeros((3, 16)))
