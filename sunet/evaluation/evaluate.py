"""Score a model bundle on one split of a patch store: the paper's Table 2 and the WUDAPT figures.

Pure patches go through PSC-Net (true classification: OA, precision, recall) and through MSU-Net,
whose largest abundance is a "pseudo" class (OPA, P-precision, P-recall); mixed patches go through
MSU-Net and are scored by MAE against their reference abundances. Outputs in ``out``:

- ``metrics.json``: every figure (written last: its presence means the evaluation is complete);
- ``per_class.csv``: per-class precision/recall/F1 (both streams) and unmixing MAE;
- ``confusion_psc.png``, ``confusion_pseudo.png``: row-normalised confusion matrices;
- ``predictions.csv``: one row per patch, for error analysis;
- ``config.json``: the resolved configuration.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel

from sunet.atomic import write_text_atomic
from sunet.evaluation import metrics as m
from sunet.evaluation.config import EvaluateConfig
from sunet.evaluation.patches import PatchSet, select_patches
from sunet.evaluation.plots import plot_confusion
from sunet.lcz import CLASSES
from sunet.patch_store import PatchStore

__all__ = [
    "EvaluateConfig",
    "SplitPredictions",
    "evaluate",
    "format_table",
    "predict_split",
    "score",
    "write_report",
]


class PatchPredictor(Protocol):
    """What scoring needs from a model: the bundle's :class:`~sunet.bundle.Predictor` protocol."""

    def predict_abundances(self, images: np.ndarray) -> np.ndarray: ...

    def predict_classes(self, images: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class SplitPredictions:
    """A model's outputs on one split, with the references they are scored against.

    Attributes:
        pure_ids, mixed_ids: patch ids, ``(N,)`` and ``(M,)``.
        pure_reference: int64 ``(N,)`` reference class indices of the pure patches.
        psc_probabilities: float ``(N, 17)`` PSC class probabilities, or ``None`` for a model
            without a pure stream.
        pseudo_abundances: float ``(N, 17)`` MSU abundances of the pure patches.
        mixed_reference: float ``(M, 17)`` reference abundances of the mixed patches.
        mixed_abundances: float ``(M, 17)`` predicted abundances of the mixed patches.
    """

    pure_ids: np.ndarray
    pure_reference: np.ndarray
    psc_probabilities: np.ndarray | None
    pseudo_abundances: np.ndarray
    mixed_ids: np.ndarray
    mixed_reference: np.ndarray
    mixed_abundances: np.ndarray


def _run(patches: PatchSet, batch_size: int, *fns: Any) -> list[np.ndarray]:
    """Apply each of ``fns`` to every image batch (read once); one ``(N, 17)`` array per fn."""
    outs: list[list[np.ndarray]] = [[] for _ in fns]
    for batch in patches.image_batches(batch_size):
        for out, fn in zip(outs, fns, strict=True):
            out.append(np.asarray(fn(batch), dtype=np.float64))
    return [np.concatenate(o) if o else np.zeros((0, len(CLASSES))) for o in outs]


def predict_split(
    predictor: PatchPredictor,
    store: PatchStore,
    split: str,
    batch_size: int = 32,
    with_psc: bool = True,
) -> SplitPredictions:
    """Run ``predictor`` over the pure and mixed patches of ``split`` (batched; the predictor
    itself runs without gradients). Pure patches go through both streams, mixed ones through
    the MSU stream only."""
    pure = select_patches(store, split, "pure")
    mixed = select_patches(store, split, "mixed")
    if with_psc:
        psc, pseudo = _run(
            pure, batch_size, predictor.predict_classes, predictor.predict_abundances
        )
    else:
        psc, (pseudo,) = None, _run(pure, batch_size, predictor.predict_abundances)
    (mixed_abundances,) = _run(mixed, batch_size, predictor.predict_abundances)
    return SplitPredictions(
        pure_ids=pure.index["patch_id"].to_numpy(),
        pure_reference=pure.labels,
        psc_probabilities=psc,
        pseudo_abundances=pseudo,
        mixed_ids=mixed.index["patch_id"].to_numpy(),
        mixed_reference=mixed.abundances,
        mixed_abundances=mixed_abundances,
    )


def score(pred: SplitPredictions) -> dict[str, Any]:
    """All figures of one split's predictions (JSON-ready apart from NaN).

    Keys: ``summary`` (the paper's Table 2 names: ``oa``, ``precision``, ``recall`` (eqs. 4-5,
    micro), ``opa``, ``p_precision``, ``p_recall``, ``mae``, plus macro and support-weighted
    precision/recall (``*_macro``, ``*_weighted``; the paper's reported precision matches the
    weighted one), ``kappa``, ``oa_weighted``, their ``p_`` pseudo twins, ``n_pure``,
    ``n_mixed``); ``psc`` and ``pseudo`` (full
    :func:`~sunet.evaluation.metrics.classification_report` each; ``psc`` is ``None`` without a
    pure stream); ``mixed`` (:func:`~sunet.evaluation.metrics.mixed_report`); ``per_class``
    (list of 17 rows); ``confusion`` (``psc``/``pseudo`` 17x17 count matrices).
    """
    cm_psc = (
        m.confusion_matrix(pred.pure_reference, pred.psc_probabilities.argmax(axis=1))
        if pred.psc_probabilities is not None
        else None
    )
    cm_pseudo = m.confusion_matrix(pred.pure_reference, pred.pseudo_abundances.argmax(axis=1))
    psc = m.classification_report(cm_psc) if cm_psc is not None else None
    pseudo = m.classification_report(cm_pseudo)
    mixed = m.mixed_report(pred.mixed_reference, pred.mixed_abundances)
    nan = math.nan
    summary = {
        "oa": psc["oa"] if psc else nan,
        "precision": psc["precision_micro"] if psc else nan,
        "recall": psc["recall_micro"] if psc else nan,
        "precision_macro": psc["precision_macro"] if psc else nan,
        "recall_macro": psc["recall_macro"] if psc else nan,
        "precision_weighted": psc["precision_weighted"] if psc else nan,
        "kappa": psc["kappa"] if psc else nan,
        "oa_weighted": psc["oa_weighted"] if psc else nan,
        "opa": pseudo["oa"],
        "p_precision": pseudo["precision_micro"],
        "p_recall": pseudo["recall_micro"],
        "p_precision_macro": pseudo["precision_macro"],
        "p_recall_macro": pseudo["recall_macro"],
        "p_precision_weighted": pseudo["precision_weighted"],
        "p_kappa": pseudo["kappa"],
        "p_oa_weighted": pseudo["oa_weighted"],
        "mae": mixed["mae"],
        "n_pure": int(len(pred.pure_reference)),
        "n_mixed": int(len(pred.mixed_reference)),
    }
    return {
        "summary": summary,
        "psc": psc,
        "pseudo": pseudo,
        "mixed": mixed,
        "per_class": _per_class_rows(cm_psc, cm_pseudo, pred, mixed),
        "confusion": {
            "psc": cm_psc.tolist() if cm_psc is not None else None,
            "pseudo": cm_pseudo.tolist(),
        },
    }


def _per_class_rows(
    cm_psc: np.ndarray | None,
    cm_pseudo: np.ndarray,
    pred: SplitPredictions,
    mixed: dict[str, Any],
) -> list[dict[str, Any]]:
    psc = m.per_class_scores(cm_psc) if cm_psc is not None else None
    pseudo = m.per_class_scores(cm_pseudo)
    in_mixed = (pred.mixed_reference > 0).sum(axis=0)
    rows = []
    for c in CLASSES:
        i = c.index
        rows.append(
            {
                "code": c.code,
                "letter": c.letter,
                "name": c.name,
                "kind": c.kind,
                "pure_support": int(pseudo["support"][i]),
                "psc_precision": float(psc["precision"][i]) if psc else math.nan,
                "psc_recall": float(psc["recall"][i]) if psc else math.nan,
                "psc_f1": float(psc["f1"][i]) if psc else math.nan,
                "pseudo_precision": float(pseudo["precision"][i]),
                "pseudo_recall": float(pseudo["recall"][i]),
                "pseudo_f1": float(pseudo["f1"][i]),
                "mixed_patches_with_class": int(in_mixed[i]),
                "mixed_mae": mixed["mae_per_class"][i],
            }
        )
    return rows


def _per_class_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        # Undefined figures (absent classes) are empty cells, not 'nan'.
        writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else v)
                         for k, v in row.items()})  # fmt: skip
    return buf.getvalue()


def _predictions_csv(pred: SplitPredictions) -> str:
    letters = np.array([c.letter for c in CLASSES])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["patch_id", "kind", "reference", "psc", "psc_probability", "msu", "abundance_l1"])
    for k, pid in enumerate(pred.pure_ids):
        ref = int(pred.pure_reference[k])
        msu = int(pred.pseudo_abundances[k].argmax())
        if pred.psc_probabilities is not None:
            probs = pred.psc_probabilities[k]
            psc, prob = letters[int(probs.argmax())], f"{probs.max():.4f}"
        else:
            psc, prob = "", ""
        w.writerow([pid, "pure", letters[ref], psc, prob, letters[msu], ""])
    for k, pid in enumerate(pred.mixed_ids):
        ref_a, pred_a = pred.mixed_reference[k], pred.mixed_abundances[k]
        l1 = float(np.abs(ref_a - pred_a).sum())
        w.writerow([pid, "mixed", letters[int(ref_a.argmax())], "", "",
                    letters[int(pred_a.argmax())], f"{l1:.4f}"])  # fmt: skip
    return buf.getvalue()


def write_report(
    out: Path,
    result: dict[str, Any],
    pred: SplitPredictions,
    config: BaseModel,
    title: str,
    plot_titles: tuple[str, str] = (
        "pure scene classification (PSC-Net)",
        "pseudo classification of pure scenes (MSU-Net)",
    ),
) -> Path:
    """Write the outputs listed in the module docstring into ``out``; ``metrics.json`` last.

    ``plot_titles`` name what the two confusion matrices show (class scores, largest abundance);
    a baseline without the two streams passes its own."""
    out.mkdir(parents=True, exist_ok=True)
    # metrics.json marks a complete report: gone until this one is, so that a rerun killed
    # part-way never leaves old metrics beside new tables.
    (out / "metrics.json").unlink(missing_ok=True)
    write_text_atomic(out / "config.json", config.model_dump_json(indent=2) + "\n")
    write_text_atomic(out / "per_class.csv", _per_class_csv(result["per_class"]))
    write_text_atomic(out / "predictions.csv", _predictions_csv(pred))
    if result["confusion"]["psc"] is not None:
        plot_confusion(
            np.asarray(result["confusion"]["psc"]),
            out / "confusion_psc.png",
            f"{title}: {plot_titles[0]}",
        )
    plot_confusion(
        np.asarray(result["confusion"]["pseudo"]),
        out / "confusion_pseudo.png",
        f"{title}: {plot_titles[1]}",
    )
    text = json.dumps(m.jsonable(result), indent=2, allow_nan=False)
    return write_text_atomic(out / "metrics.json", text + "\n")


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value * 100:.2f}%" if digits == 2 else f"{value:.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of the headline figures (percentages as in the paper's Table 2)."""
    psc, pseudo, mixed = result["psc"] or {}, result["pseudo"], result["mixed"]
    rows = [
        ("OA (trace/total) | OPA", "oa"),
        ("Precision, eq. 4 (micro)", "precision_micro"),
        ("Recall, eq. 5 (micro)", "recall_micro"),
        ("Precision (macro)", "precision_macro"),
        ("Recall (macro)", "recall_macro"),
        ("F1 (macro)", "f1_macro"),
        ("Precision (support-weighted)", "precision_weighted"),
        ("Cohen's kappa (not a percentage)", "kappa"),
        ("OA_urban (LCZ 1-10)", "oa_urban"),
        ("OA_builtnatural", "oa_builtnatural"),
        ("OA_weighted (WUDAPT)", "oa_weighted"),
        ("oa_paper_formula (eq. 3, TN-inflated)", "oa_paper_formula"),
    ]
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'pure patches':<{width}}{'PSC-Net':>12}{'MSU pseudo':>12}"]
    for label, key in rows:
        digits = 4 if key == "kappa" else 2
        cells = f"{_fmt(psc.get(key), digits):>12}{_fmt(pseudo.get(key), digits):>12}"
        lines.append(f"{label:<{width}}{cells}")
    lines.append(f"{'patches':<{width}}{psc.get('n', '-'):>12}{pseudo['n']:>12}")
    lines.append("")
    lines.append(f"mixed patches (n={mixed['n']}):")
    lines.append(f"  MAE, eq. 6 (mean |error| over patches x 17 classes): {_fmt(mixed['mae'])}")
    lines.append(f"  mean L1 distance per patch (0-2):                   {_fmt(mixed['mae_l1'])}")
    lines.append(
        f"  dominant class = largest abundance:                 {_fmt(mixed['dominant_oa'], 2)}"
    )
    return "\n".join(lines)


def evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Score the bundle ``config.model`` on ``config.split`` of ``config.patches``; write the
    outputs to ``config.out`` and, unless disabled, the summary into the bundle.

    Raises:
        FileNotFoundError: missing bundle or store.
        ValueError: a store whose patch size or ground sample distance differs from the
            bundle's, or a split without patches.
    """
    from sunet.bundle import Predictor, load_bundle, update_bundle_metrics

    store = PatchStore(config.patches)
    if not len(select_patches(store, config.split)):
        raise ValueError(f"{config.patches}: split {config.split!r} has no patches")
    bundle = load_bundle(config.model)
    patch_size, gsd = bundle.meta.patch_size, bundle.meta.gsd
    if patch_size != store.patch_size or not math.isclose(gsd, store.gsd, rel_tol=1e-6):
        raise ValueError(
            f"{config.patches}: patches are {store.patch_size} px at {store.gsd} m but "
            f"{config.model} expects {patch_size} px at {gsd} m"
        )
    with_psc = bundle.meta.model.pure_stream
    predictor = Predictor(
        bundle, device=config.device, batch_size=config.batch_size, tta=config.tta
    )
    pred = predict_split(predictor, store, config.split, config.batch_size, with_psc=with_psc)
    result = {"split": config.split, "tta": config.tta, "model": str(config.model), **score(pred)}
    views = "" if config.tta == 1 else f", TTA x{config.tta}"
    write_report(config.out, result, pred, config, f"{config.model.stem} ({config.split}{views})")
    if config.update_bundle:
        # Nested under the split (and TTA) so that scoring `val` later does not overwrite `test`.
        key = config.split if config.tta == 1 else f"{config.split}_tta{config.tta}"
        update_bundle_metrics(config.model, {key: m.jsonable(result["summary"])})
    return result
