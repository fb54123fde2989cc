"""Classification and rating-regression metrics computed from predictions: the numbers every
report shows."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
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

#: The level of every interval in a report.
LEVEL = 0.95


@contextlib.contextmanager
def classes_absent_from_truth_allowed() -> Iterator[None]:
    """Metrics on a target that lacks some of a run's classes (cross-dataset): sklearn's
    warning that predictions name classes the truth lacks is expected there, not news."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        yield

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1")
#: Rating regression: Pearson r, Spearman rho, mean absolute error, coefficient of
#: determination. r and rho are None (null in JSON) where either side is constant.
REGRESSION_HEADLINE = ("pearson_r", "spearman_rho", "mae", "r2")


def _round(x: float) -> float:
    return float(round(float(x), 6))


def positive_score(scores: np.ndarray) -> np.ndarray:
    """One score per image for the positive (second) class of a binary task."""
    return scores[:, 1] - scores[:, 0] if scores.ndim == 2 else scores


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
        out["roc_auc"] = _round(roc_auc_score(y_true, positive_score(scores)))
    return out


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(balanced_accuracy_score(y_true, y_pred))


def _correlation(kind: str, y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """scipy's Pearson r or Spearman rho; None where it is undefined (a constant side)."""
    from scipy.stats import pearsonr, spearmanr

    if y_true.size < 2 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        return None
    fn = pearsonr if kind == "pearson" else spearmanr
    return _round(fn(y_true, y_pred).statistic)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Pearson r and Spearman rho (scipy), MAE and R^2 (scikit-learn) of predicted ratings;
    also the mean rating and mean prediction."""
    from sklearn.metrics import mean_absolute_error, r2_score

    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.size == 0:
        return {"n": 0}
    return {
        "n": int(y_true.size),
        "pearson_r": _correlation("pearson", y_true, y_pred),
        "spearman_rho": _correlation("spearman", y_true, y_pred),
        "mae": _round(mean_absolute_error(y_true, y_pred)),
        "r2": _round(r2_score(y_true, y_pred)) if y_true.size > 1 else None,
        "mean_true": _round(y_true.mean()),
        "mean_pred": _round(y_pred.mean()),
    }


# --------------------------------------------------------------------------- distributions
#
# Label distribution learning (Geng, IEEE TKDE 2016): six measures between a true
# distribution p and a predicted q, each averaged over images. Chebyshev, Clark, Canberra
# and KL divergence: lower is better; cosine and intersection: higher is better.
# Zero shares: Clark, Canberra and KL clip both p and q to [LDL_EPS, 1] first, as PyLDL
# (pyldl.metrics) does, with LDL_EPS the float64 machine epsilon (2.2e-16). A class both
# give 0 then adds 0 (0/0 and 0 log 0 taken as 0, their limits); a class the truth gives 0
# adds 1 to Canberra and Clark's sum; a class the prediction gives 0 but the truth p > 0
# adds p * (log p + 36.04) to KL: large, not infinite, so one confident miss cannot make a
# mean infinite. Chebyshev, cosine and intersection need no epsilon.

#: Lower is better.
LDL_DISTANCES = ("chebyshev", "clark", "canberra", "kl_divergence")
#: Higher is better.
LDL_SIMILARITIES = ("cosine", "intersection")
LDL_METRICS = (*LDL_DISTANCES, *LDL_SIMILARITIES)
LDL_EPS = float(np.finfo(np.float64).eps)


def ldl_per_image(p: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
    """The six measures of every image (rows of ``p`` true, ``q`` predicted), and
    ``top1`` (1 where q's top class is one of p's top classes)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    pc, qc = np.clip(p, LDL_EPS, 1.0), np.clip(q, LDL_EPS, 1.0)
    norms = np.linalg.norm(p, axis=1) * np.linalg.norm(q, axis=1)
    top = q.argmax(axis=1)
    return {
        "chebyshev": np.abs(p - q).max(axis=1),
        "clark": np.sqrt((((pc - qc) / (pc + qc)) ** 2).sum(axis=1)),
        "canberra": (np.abs(pc - qc) / (pc + qc)).sum(axis=1),
        "kl_divergence": (pc * (np.log(pc) - np.log(qc))).sum(axis=1),
        "cosine": (p * q).sum(axis=1) / np.where(norms > 0, norms, 1.0),
        "intersection": np.minimum(p, q).sum(axis=1),
        "top1": (p[np.arange(len(p)), top] >= p.max(axis=1)).astype(np.float64),
    }


def distribution_metrics(p: np.ndarray, q: np.ndarray) -> dict[str, Any]:
    """The six LDL measures averaged over images, and ``top1_accuracy`` (the predicted
    dominant emotion is the true one; any of them where the truth ties)."""
    if len(p) == 0:
        return {"n": 0}
    per = ldl_per_image(p, q)
    return {"n": len(p), **{k: _round(per[k].mean()) for k in LDL_METRICS},
            "top1_accuracy": _round(per["top1"].mean())}


def bootstrap_ldl(p: np.ndarray, q: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every LDL measure (and ``top1_accuracy``) of every resample: count-weighted means."""
    per = ldl_per_image(p, q)
    w = counts.astype(np.float64)
    n = w.sum(axis=1)
    out = {k: w @ per[k] / n for k in LDL_METRICS}
    out["top1_accuracy"] = w @ per["top1"] / n
    return out


# --------------------------------------------------------------------------- uncertainty
#
# Bootstrap resamples of the test set are drawn as multinomial counts (how often each test
# image appears in a resample), so every metric of every resample is a weighted sum over
# the original images: one (B, N) count matrix serves all metrics and all runs that share
# the test ids, which also makes paired comparisons exact.


def bootstrap_counts(n: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(B, N) multinomial counts: resample b holds image i ``counts[b, i]`` times."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.int32)


def weighted_confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int,
                       counts: np.ndarray) -> np.ndarray:
    """(B, K, K) confusion matrices of every resample (rows: true, columns: predicted)."""
    cell = y_true * n_classes + y_pred
    onehot = np.zeros((len(cell), n_classes * n_classes), dtype=np.float64)
    onehot[np.arange(len(cell)), cell] = 1.0
    return (counts @ onehot).reshape(-1, n_classes, n_classes)


def metrics_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy and macro-F1 of a stack of confusion matrices, with
    scikit-learn's conventions (balanced accuracy over classes present in y_true; F1 = 0
    for a class never true nor predicted)."""
    tp = np.diagonal(cm, axis1=1, axis2=2)
    true = cm.sum(axis=2)
    pred = cm.sum(axis=1)
    total = cm.sum(axis=(1, 2))
    present = true > 0
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=present)
    denom = true + pred
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        "accuracy": tp.sum(axis=1) / total,
        "balanced_accuracy": recall.sum(axis=1) / present.sum(axis=1),
        "macro_f1": f1.mean(axis=1),
    }


def weighted_auc(y_true: np.ndarray, score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """ROC-AUC of every resample (Mann-Whitney with ties counted half)."""
    order = np.argsort(score, kind="mergesort")
    s, y, w = score[order], y_true[order], counts[:, order].astype(np.float64)
    pos, neg = w * (y == 1), w * (y == 0)
    # group tied scores: negatives strictly below, and tied negatives count half
    _, start, size = np.unique(s, return_index=True, return_counts=True)
    group = np.repeat(np.arange(len(start)), size)
    neg_in_group = np.add.reduceat(neg, start, axis=1)
    neg_below = np.cumsum(neg_in_group, axis=1) - neg_in_group
    wins = pos * (neg_below[:, group] + 0.5 * neg_in_group[:, group])
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return wins.sum(axis=1) / (n_pos * n_neg)


def bootstrap_distribution(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int,
                           counts: np.ndarray, scores: np.ndarray | None = None
                           ) -> dict[str, np.ndarray]:
    """Every headline metric of every resample (ROC-AUC too for binary tasks)."""
    out = metrics_from_confusion(weighted_confusion(y_true, y_pred, n_classes, counts))
    if n_classes == 2 and scores is not None:
        out["roc_auc"] = weighted_auc(y_true, positive_score(scores), counts)
    return out


def bootstrap_regression(y_true: np.ndarray, y_pred: np.ndarray, counts: np.ndarray
                         ) -> dict[str, np.ndarray]:
    """Pearson r and MAE of every resample, as count-weighted sums (r is NaN where a
    resample, or the whole test set, is constant on either side)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    w = counts.astype(np.float64)
    n = w.sum(axis=1)
    mae = w @ np.abs(y_pred - y_true) / n
    if np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        return {"pearson_r": np.full(len(w), np.nan), "mae": mae}
    x, y = y_pred - y_pred.mean(), y_true - y_true.mean()  # centred: less cancellation
    mx, my = w @ x / n, w @ y / n
    sxy = w @ (x * y) / n - mx * my
    sxx = np.maximum(w @ (x * x) / n - mx * mx, 0.0)
    syy = np.maximum(w @ (y * y) / n - my * my, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
    return {"pearson_r": np.where((sxx > 1e-12) & (syy > 1e-12), r, np.nan), "mae": mae}


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return _round(lo), _round(hi)


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, Any]:
    """Exact (binomial) McNemar test on paired correctness; two-sided p-value."""
    from scipy.stats import binomtest

    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return {"a_only_correct": b, "b_only_correct": c, "p_value": p}


def bootstrap_p(differences: np.ndarray) -> float:
    """Two-sided p-value of a paired bootstrap: twice the smaller share of resampled
    differences on either side of 0 (each share counted as (k + 1) / (B + 1)), at most 1.
    Below 0.05 about when the 95% percentile interval excludes 0 (the two can disagree near
    the boundary: (k + 1) / (B + 1) counting against the interval's interpolation)."""
    d = differences[np.isfinite(differences)]
    if not d.size or np.all(d == 0):
        return 1.0
    below = (np.sum(d <= 0) + 1) / (d.size + 1)
    above = (np.sum(d >= 0) + 1) / (d.size + 1)
    return _round(min(1.0, 2 * min(below, above)))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of p-values compared with one reference (family-wise
    error rate), in the order given."""
    m = len(pvalues)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda k: pvalues[k])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = _round(running)
    return adjusted
