"""Classifiers trained on distributions (soft targets), for the ``distribution`` task.

The cross-entropy of a probabilistic classifier against a target distribution p,
``-sum_c p_c log q_c``, is exactly the log-loss of C rows of the same features, labelled
c = 1..C and weighted p_c: expanding each image into one weighted row per class with a
share turns any classifier that takes ``sample_weight`` (scikit-learn's multinomial
LogisticRegression, LightGBM's multiclass booster) into one that minimises the mean
cross-entropy to the distributions, which differs from the mean KL divergence only by the
targets' entropy, a constant. The L2 penalty of LogisticRegression is unchanged: each
image's weights sum to 1, so the data term has the weight it would have with N rows.

``targets="onehot"`` fits the same classifier to each image's dominant emotion instead (the
thresholding the seed study did): the baseline that shows what discarding the
disagreement loses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from emofeat.errors import EmofeatError

TARGETS = ("soft", "onehot")


def expand(X: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``X`` repeated once per class with a positive share: (features, class,
    weight = share). Zero shares add nothing to the loss and are left out."""
    P = np.asarray(P, dtype=np.float64)
    rows, classes = np.nonzero(P > 0)
    return np.asarray(X)[rows], classes.astype(np.int64), P[rows, classes]


def onehot(P: np.ndarray) -> np.ndarray:
    """Each row's dominant class (the first on ties) as a one-hot distribution."""
    P = np.asarray(P, dtype=np.float64)
    out = np.zeros_like(P)
    out[np.arange(len(P)), P.argmax(axis=1)] = 1.0
    return out


class SoftTargetClassifier(BaseEstimator):
    """A probabilistic classifier fitted to distributions: ``fit(X, P)`` with P (N, C)
    rows summing to 1; ``predict`` returns the predicted distributions (N, C), as
    ``predict_proba`` does (a class the classifier never saw gets 0).

    Parameters: ``estimator``, a classifier taking ``sample_weight``; ``targets``, ``soft``
    (the distributions) or ``onehot`` (their dominant class).
    """

    def __init__(self, estimator: Any = None, targets: str = "soft") -> None:
        self.estimator = estimator
        self.targets = targets

    def _targets(self, P: Any) -> np.ndarray:
        if self.targets not in TARGETS:
            raise ValueError(f"targets must be one of {TARGETS}, got {self.targets!r}")
        P = np.asarray(P, dtype=np.float64)
        if P.ndim != 2:
            raise ValueError("a SoftTargetClassifier is fitted to distributions (N, classes)")
        return onehot(P) if self.targets == "onehot" else P

    def fit(self, X: Any, y: Any, **fit_params: Any) -> SoftTargetClassifier:
        """``y``: distributions (N, C). ``eval_X``/``eval_y`` (LightGBM's early stopping
        sets) are expanded the same way, their shares becoming ``eval_sample_weight``."""
        P = self._targets(y)
        if "eval_X" in fit_params:
            sets = [expand(Xv, self._targets(Pv)) for Xv, Pv in
                    zip(fit_params.pop("eval_X"), fit_params.pop("eval_y"), strict=True)]
            fit_params.pop("eval_sample_weight", None)
            fit_params.update(eval_X=tuple(s[0] for s in sets), eval_y=tuple(s[1] for s in sets),
                              eval_sample_weight=[s[2] for s in sets])
        Xe, ye, we = expand(X, P)
        self.n_classes_ = P.shape[1]
        self.estimator_ = clone(self.estimator).fit(Xe, ye, sample_weight=we, **fit_params)
        seen = np.asarray(self.estimator_.classes_)
        if self.targets == "soft" and len(seen) < self.n_classes_:
            absent = sorted(set(range(self.n_classes_)) - set(seen.tolist()))
            raise EmofeatError(f"class(es) {absent} have no share in any training image; "
                               "a distribution model cannot learn them")
        return self

    @property
    def booster_(self) -> Any:
        """The fitted LightGBM booster (when the estimator is LightGBM's), as saved."""
        return self.estimator_.booster_

    @property
    def best_iteration_(self) -> Any:
        return self.estimator_.best_iteration_

    def predict_proba(self, X: Any) -> np.ndarray:
        probs = np.asarray(self.estimator_.predict_proba(X), dtype=np.float64)
        out = np.zeros((probs.shape[0], self.n_classes_))
        out[:, np.asarray(self.estimator_.classes_, dtype=np.int64)] = probs
        return out

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_proba(X)


class ProbabilitiesAsDistribution(BaseEstimator):
    """A loaded classifier (a saved LightGBM booster) whose ``predict`` gives its class
    probabilities: a distribution run's model read back."""

    def __init__(self, classifier: Any = None) -> None:
        self.classifier = classifier

    def fit(self, X: Any, y: Any = None) -> ProbabilitiesAsDistribution:
        raise TypeError("a loaded distribution model cannot be fitted")

    def __sklearn_is_fitted__(self) -> bool:
        return True  # it wraps a loaded, fitted model

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.classifier.predict_proba(X), dtype=np.float64)
