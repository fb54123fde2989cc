"""The estimator registries: each family is a scikit-learn Pipeline with a declared grid;
:data:`ESTIMATORS` are the classifiers, :data:`REGRESSORS` the regressors of the rating
tasks, :data:`DISTRIBUTION_MODELS` the models of the distribution task."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC

from emofeat.classical.options import FitOptions, select_models
from emofeat.errors import EmofeatError


def _lightgbm(**params: Any) -> BaseEstimator:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(**params)


def _lightgbm_regressor(**params: Any) -> BaseEstimator:
    from lightgbm import LGBMRegressor

    return LGBMRegressor(**params)


@dataclass(frozen=True)
class EstimatorSpec:
    """One classifier family: how to build it, what to search, what its scores are."""

    name: str
    make: Callable[..., BaseEstimator]
    fixed: Mapping[str, Any]  # constructor arguments that are not searched
    grid: Mapping[str, Sequence[Any]]  # searched on val, in order of preference on ties
    scale: bool = True  # StandardScaler first
    pca: int | None = None  # default PCA components before the classifier
    scores: str = "probability"  # or "decision"
    early_stopping: bool = False
    seed_param: str | None = "random_state"
    jobs_param: str | None = None
    summary: str = ""
    kind: str = "classification"  # or "regression" (no class weights, scores "rating")


ESTIMATORS: dict[str, EstimatorSpec] = {
    s.name: s
    for s in (
        EstimatorSpec(
            "logreg", LogisticRegression, {"max_iter": 2000},
            {"C": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]},
            summary="StandardScaler -> multinomial LogisticRegression (lbfgs)"),
        EstimatorSpec(
            "svm", LinearSVC, {"max_iter": 5000, "dual": "auto"},
            {"C": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]}, scores="decision",
            summary="StandardScaler -> LinearSVC (one-vs-rest); decision scores kept"),
        EstimatorSpec(
            "svm-rbf", SVC, {"kernel": "rbf", "cache_size": 1000},
            {"C": [0.1, 1.0, 10.0], "gamma": ["scale", "auto"]}, pca=256,
            scores="decision",
            summary="StandardScaler -> PCA(256) -> SVC(rbf); decision scores kept"),
        EstimatorSpec(
            "lightgbm", _lightgbm,
            {"n_estimators": 500, "colsample_bytree": 0.3, "subsample": 0.8,
             "subsample_freq": 1, "max_bin": 63, "min_child_samples": 20,
             "reg_lambda": 1.0, "verbose": -1, "deterministic": True, "force_row_wise": True},
            {"num_leaves": [15, 31], "learning_rate": [0.1]}, scale=False,
            early_stopping=True, jobs_param="n_jobs",
            summary="LGBMClassifier, column subsampling 0.3, early stopping on val"),
    )
}


_LIGHTGBM = ESTIMATORS["lightgbm"].fixed

REGRESSORS: dict[str, EstimatorSpec] = {
    s.name: s
    for s in (
        EstimatorSpec(
            "ridge", Ridge, {}, {"alpha": [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]},
            scores="rating", kind="regression",
            summary="StandardScaler -> Ridge (L2-regularised least squares)"),
        EstimatorSpec(
            "svr", SVR, {"kernel": "rbf", "cache_size": 1000, "epsilon": 0.1},
            {"C": [0.1, 1.0, 10.0]}, pca=256, scores="rating", seed_param=None,
            kind="regression", summary="StandardScaler -> PCA(256) -> SVR(rbf)"),
        EstimatorSpec(
            "lightgbm", _lightgbm_regressor, _LIGHTGBM, {"num_leaves": [15, 31],
                                                         "learning_rate": [0.1]},
            scale=False, early_stopping=True, jobs_param="n_jobs", scores="rating",
            kind="regression",
            summary="LGBMRegressor, column subsampling 0.3, early stopping on val"),
    )
}


def _soft(make: Callable[..., BaseEstimator], targets: str) -> Callable[..., BaseEstimator]:
    def build(**params: Any) -> BaseEstimator:
        from emofeat.classical.soft import SoftTargetClassifier

        return SoftTargetClassifier(make(**params), targets=targets)

    return build


_LOGREG = ESTIMATORS["logreg"]
#: Models of the distribution task: classifiers fitted to the distributions as soft
#: targets (:mod:`emofeat.classical.soft`), and the one-hot baseline; tuned on val by the
#: mean KL divergence.
DISTRIBUTION_MODELS: dict[str, EstimatorSpec] = {
    s.name: s
    for s in (
        EstimatorSpec(
            "logreg", _soft(LogisticRegression, "soft"), _LOGREG.fixed, _LOGREG.grid,
            scores="distribution", kind="distribution",
            summary="StandardScaler -> multinomial LogisticRegression (lbfgs) on soft "
                    "targets (cross-entropy to the distributions)"),
        EstimatorSpec(
            "lightgbm", _soft(_lightgbm, "soft"), _LIGHTGBM,
            {"num_leaves": [15, 31], "learning_rate": [0.1]}, scale=False,
            early_stopping=True, jobs_param="n_jobs", scores="distribution",
            kind="distribution",
            summary="LGBMClassifier on soft targets, column subsampling 0.3, early "
                    "stopping on val cross-entropy"),
        EstimatorSpec(
            "logreg-onehot", _soft(LogisticRegression, "onehot"), _LOGREG.fixed, _LOGREG.grid,
            scores="distribution", kind="distribution",
            summary="StandardScaler -> multinomial LogisticRegression on each image's "
                    "dominant emotion (one-hot: what thresholding keeps); its probabilities"),
    )
}
REGISTRIES: dict[str, dict[str, EstimatorSpec]] = {"classification": ESTIMATORS,
                                                   "regression": REGRESSORS,
                                                   "distribution": DISTRIBUTION_MODELS}


def get_spec(name: str, kind: str = "classification") -> EstimatorSpec:
    """A classifier (default), a regressor (``kind="regression"``) or a distribution model
    (``kind="distribution"``) by name."""
    return REGISTRIES[kind][select_models([name], kind)[0]]


def build_pipeline(spec: EstimatorSpec, params: Mapping[str, Any], options: FitOptions,
                   inner_jobs: int = 1) -> Pipeline:
    """[Normalizer] -> [StandardScaler] -> [PCA] -> classifier or regressor, as one sklearn
    Pipeline (the last step is named ``clf`` either way)."""
    steps: list[tuple[str, Any]] = []
    if options.l2norm:
        steps.append(("l2norm", Normalizer()))
    if spec.scale:
        steps.append(("scale", StandardScaler()))
    pca = spec.pca if options.pca is None else (options.pca or None)
    if pca:
        steps.append(("pca", PCA(n_components=pca, random_state=options.seed)))
    kwargs = {**spec.fixed, **params}
    if spec.kind == "classification":
        kwargs["class_weight"] = options.class_weight
    if spec.seed_param:
        kwargs[spec.seed_param] = options.seed
    if spec.jobs_param:
        kwargs[spec.jobs_param] = inner_jobs
    steps.append(("clf", spec.make(**kwargs)))
    return Pipeline(steps)


def parse_grid(spec: EstimatorSpec, overrides: Sequence[str]) -> dict[str, list[Any]]:
    """``["C=0.1,1", "gamma=scale"]`` replaces those axes of the declared grid."""
    grid = {k: list(v) for k, v in spec.grid.items()}
    valid = sorted(set(grid) | set(spec.fixed) - {"verbose", "deterministic", "force_row_wise"})
    for item in overrides:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not values.strip():
            raise EmofeatError(f"--grid takes KEY=V1,V2,... or auto-extend; got '{item}'")
        if key not in valid:
            raise EmofeatError(f"'{key}' is not a parameter of {spec.name}; valid: "
                               f"{', '.join(valid)}")
        grid[key] = [_parse_value(v.strip()) for v in values.split(",")]
    return grid


def _parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"none": None, "true": True, "false": False}.get(text.lower(), text)
