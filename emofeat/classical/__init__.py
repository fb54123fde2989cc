"""Classical classifiers on stored features: a registry of scikit-learn Pipelines, a search
on the validation split, a refit on train+val, and persistence that never unpickles.

The protocol is clip_benchmark's linear probe: every candidate of a declared grid is fitted on
``train`` and scored on ``val`` by balanced accuracy; the best is refitted on ``train+val``
and scored once on ``test``. ``test`` plays no part in any choice.

Modules: ``options`` (names and FitOptions, no scikit-learn), ``estimators`` (the registry),
``search``, ``persist``, ``run``. Names from the scikit-learn modules are imported lazily, so
that ``from emofeat.classical import FitOptions`` does not import scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from emofeat.classical.options import (
    CLASS_WEIGHTS,
    MODEL_NAMES,
    FitOptions,
    select,
    select_layers,
    select_models,
    select_tasks,
)

if TYPE_CHECKING:
    from emofeat.classical.estimators import (
        ESTIMATORS,
        EstimatorSpec,
        build_pipeline,
        get_spec,
        parse_grid,
    )
    from emofeat.classical.persist import BoosterClassifier, load_model, save_model
    from emofeat.classical.search import (
        FittedRun,
        SearchResult,
        SplitData,
        fit_and_search,
        scores_of,
    )

_LAZY = {
    **dict.fromkeys(("ESTIMATORS", "EstimatorSpec", "build_pipeline", "get_spec", "parse_grid"),
                    "emofeat.classical.estimators"),
    **dict.fromkeys(("BoosterClassifier", "load_model", "save_model"),
                    "emofeat.classical.persist"),
    **dict.fromkeys(("FittedRun", "SearchResult", "SplitData", "fit_and_search", "scores_of"),
                    "emofeat.classical.search"),
}

__all__ = [
    "CLASS_WEIGHTS",
    "ESTIMATORS",
    "MODEL_NAMES",
    "BoosterClassifier",
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
    "select",
    "select_layers",
    "select_models",
    "select_tasks",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emofeat.classical' has no attribute '{name}'")
