"""Classical classifiers on stored features: a registry of scikit-learn Pipelines, a search
on the validation split, a refit on train+val, and persistence that never unpickles.

The protocol is clip_benchmark's linear probe: every candidate of a declared grid is fitted on
``train`` and scored on ``val`` by balanced accuracy; the best is refitted on ``train+val``
and scored once on ``test``. ``test`` plays no part in any choice.
"""

from emofeat.classical.estimators import (
    ESTIMATORS,
    MODEL_NAMES,
    EstimatorSpec,
    FitOptions,
    build_pipeline,
    get_spec,
    parse_grid,
)
from emofeat.classical.persist import load_model, save_model
from emofeat.classical.search import (
    FittedRun,
    SearchResult,
    SplitData,
    fit_and_search,
    scores_of,
)

__all__ = [
    "ESTIMATORS",
    "MODEL_NAMES",
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
    "save_model",
    "scores_of",
]
