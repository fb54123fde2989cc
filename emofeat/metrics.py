"""Classification metrics computed from predictions: the numbers every report shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1")


def _round(x: float) -> float:
    return float(round(float(x), 6))


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: Sequence[str],
    scores: np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, per-class P/R/F1, confusion matrix, and ROC-AUC
    for binary tasks (from the positive class's score) when scores are given.

    ``y_true``/``y_pred`` are class indices into ``classes``. Macro averages run over all
    classes of the task, so a class never predicted counts as F1 = 0.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    labels = list(range(len(classes)))
    if y_true.size == 0:
        return {"n": 0}
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    out: dict[str, Any] = {
        "n": int(y_true.size),
        "accuracy": _round(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _round(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": _round(f1_score(y_true, y_pred, labels=labels, average="macro",
                                    zero_division=0)),
        "per_class": {
            c: {"precision": _round(precision[i]), "recall": _round(recall[i]),
                "f1": _round(f1[i]), "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    if len(classes) == 2 and scores is not None and len(np.unique(y_true)) == 2:
        positive = scores[:, 1] - scores[:, 0] if scores.ndim == 2 else scores
        out["roc_auc"] = _round(roc_auc_score(y_true, positive))
    return out


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(balanced_accuracy_score(y_true, y_pred))
