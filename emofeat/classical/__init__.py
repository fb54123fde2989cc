"""Classical classifiers and rating regressors on stored features: registries of scikit-learn
Pipelines, a search on the validation split, a refit on train+val, and persistence that
never unpickles.

The protocol is clip_benchmark's linear probe: every candidate of a declared grid is fitted on
``train`` and scored on ``val`` by balanced accuracy (a rating task: by MAE); the best is
refitted on ``train+val`` and scored once on ``test``. ``test`` plays no part in any choice.

Modules: ``options`` (names and FitOptions, no scikit-learn), ``estimators`` (the
registries), ``criteria`` (val scores per kind of task), ``search``, ``persist``, ``run``.
Names from the scikit-learn modules are imported lazily, so that ``from emofeat.classical
import FitOptions`` does not import scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emofeat.classical.options import (
    CLASS_WEIGHTS,
    MODEL_NAMES,
    REGRESSOR_NAMES,
    FitOptions,
    plan_fits,
    select,
    select_class_tasks,
    select_layers,
    select_models,
    select_tasks,
)
from emofeat.lazy import lazy_attributes

if TYPE_CHECKING:
    from emofeat.classical.estimators import (
        ESTIMATORS,
        REGRESSORS,
        EstimatorSpec,
        build_pipeline,
        get_spec,
        parse_grid,
    )
    from emofeat.classical.persist import (
        BoosterClassifier,
        BoosterRegressor,
        load_model,
        save_model,
    )
    from emofeat.classical.search import (
        FittedRun,
        SearchResult,
        SplitData,
        fit_and_search,
        scores_of,
    )

_LAZY = {
    **dict.fromkeys(("ESTIMATORS", "REGRESSORS", "EstimatorSpec", "build_pipeline", "get_spec",
                     "parse_grid"), "emofeat.classical.estimators"),
    **dict.fromkeys(("BoosterClassifier", "BoosterRegressor", "load_model", "save_model"),
                    "emofeat.classical.persist"),
    **dict.fromkeys(("FittedRun", "SearchResult", "SplitData", "fit_and_search", "scores_of"),
                    "emofeat.classical.search"),
}

__all__ = [
    "CLASS_WEIGHTS",
    "ESTIMATORS",
    "MODEL_NAMES",
    "REGRESSORS",
    "REGRESSOR_NAMES",
    "BoosterClassifier",
    "BoosterRegressor",
    "EstimatorSpec",
    "FitOptions",
    "FittedRun",
    "SearchResult",
    "SplitData",
    "build_pipeline",
    "fit_and_search",
    "get_spec",
    "load_model",
    "parse_grid",
    "plan_fits",
    "save_model",
    "scores_of",
    "select",
    "select_class_tasks",
    "select_layers",
    "select_models",
    "select_tasks",
]

__getattr__ = lazy_attributes(__name__, _LAZY)
