"""Model files without pickle: skops for scikit-learn, LightGBM's own text format for boosters.

Callers check each file's SHA-256 against run.json before anything here reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.pipeline import Pipeline

from emofeat.errors import EmofeatError

SKOPS_FILE = "model.skops"
BOOSTER_FILE = "model.lgb.txt"
PRE_FILE = "model-pre.skops"


class BoosterClassifier(ClassifierMixin, BaseEstimator):
    """A LightGBM booster saved by :func:`save_model`, with the sklearn predict API.

    It is a loaded model, not a learner: make one with :meth:`from_file`; its ``fit``
    refuses (scikit-learn's ``fit`` learns from X and y, and this can only read a file).
    """

    def __init__(self, model_file: str = "") -> None:
        self.model_file = model_file

    @classmethod
    def from_file(cls, path: str | Path) -> BoosterClassifier:
        import lightgbm

        model = cls(str(path))
        model.booster_ = lightgbm.Booster(model_file=str(path))
        model.n_classes_ = max(2, int(model.booster_.num_model_per_iteration()))
        model.classes_ = np.arange(model.n_classes_)
        return model

    def fit(self, X: Any, y: Any = None) -> BoosterClassifier:
        raise TypeError("a BoosterClassifier is a saved LightGBM model and cannot be fitted; "
                        "read one with BoosterClassifier.from_file")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = np.asarray(self.booster_.predict(X))
        return np.stack([1 - p, p], axis=1) if p.ndim == 1 else p

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)


class BoosterRegressor(RegressorMixin, BaseEstimator):
    """A saved LightGBM regression booster with the sklearn predict API (a rating task's);
    like :class:`BoosterClassifier`, made by :meth:`from_file` and never fitted."""

    def __init__(self, model_file: str = "") -> None:
        self.model_file = model_file

    @classmethod
    def from_file(cls, path: str | Path) -> BoosterRegressor:
        import lightgbm

        model = cls(str(path))
        model.booster_ = lightgbm.Booster(model_file=str(path))
        return model

    def fit(self, X: Any, y: Any = None) -> BoosterRegressor:
        raise TypeError("a BoosterRegressor is a saved LightGBM model and cannot be fitted; "
                        "read one with BoosterRegressor.from_file")

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster_.predict(X), dtype=np.float64)


def save_model(pipe: Pipeline, run_dir: Path) -> list[str]:
    """Persist without pickle: skops for sklearn pipelines, LightGBM's text format for
    boosters (with any preprocessing steps in skops). Returns the files written."""
    import skops.io as sio

    clf = pipe[-1]
    if hasattr(clf, "booster_"):  # LightGBM's, or wrapping one (emofeat.classical.lazy)
        files = [BOOSTER_FILE]
        clf.booster_.save_model(str(run_dir / BOOSTER_FILE))
        if len(pipe) > 1:
            sio.dump(pipe[:-1], run_dir / PRE_FILE)
            files.insert(0, PRE_FILE)
        return files
    sio.dump(pipe, run_dir / SKOPS_FILE)
    return [SKOPS_FILE]


#: emofeat's own estimator types that model files may hold (everything else must be a type
#: skops trusts by default).
OWN_TYPES = ["emofeat.classical.soft.SoftTargetClassifier"]


def _skops_load(path: Path) -> Any:
    import skops.io as sio

    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in OWN_TYPES]
    if untrusted:
        raise EmofeatError(f"{path} holds types emofeat does not load: {untrusted}")
    return sio.load(path, trusted=OWN_TYPES)


def load_model(files: Mapping[str, Path], regression: bool = False,
               distribution: bool = False) -> Any:
    """Load what :func:`save_model` wrote (paths already hash-checked by the caller); a
    booster of a rating task (``regression``) predicts ratings, one of the distribution
    task (``distribution``) predicts distributions."""
    if BOOSTER_FILE in files:
        loader = BoosterRegressor if regression else BoosterClassifier
        booster: Any = loader.from_file(files[BOOSTER_FILE])
        if distribution:
            from emofeat.classical.soft import ProbabilitiesAsDistribution

            booster = ProbabilitiesAsDistribution(booster)
        if PRE_FILE in files:
            pre = _skops_load(files[PRE_FILE])
            return Pipeline([*pre.steps, ("clf", booster)])
        return Pipeline([("clf", booster)])
    return _skops_load(files[SKOPS_FILE])
