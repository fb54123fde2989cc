"""Cross-dataset transfer: a run trained on one data set, applied to another.

Modules: ``mapping`` (the label mapping table between taxonomies and the valence rating
thresholds; no numpy), ``record`` (eval.json), ``target`` (the data set or feature store a
run is applied to), ``evaluation`` (the step, :func:`evaluate`; imported lazily).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emofeat.lazy import lazy_attributes
from emofeat.transfer.mapping import (
    RATING_SCALES,
    TABLE,
    LabelMap,
    UnmappableTask,
    map_label,
    map_labels,
)
from emofeat.transfer.record import EVAL_FILE, EVAL_JSON, EvaluationRecord, is_evaluation

if TYPE_CHECKING:
    from emofeat.transfer.evaluation import evaluate, feature_differences

__all__ = ["EVAL_FILE", "EVAL_JSON", "RATING_SCALES", "TABLE", "EvaluationRecord", "LabelMap",
           "UnmappableTask", "evaluate", "feature_differences", "is_evaluation", "map_label",
           "map_labels"]

__getattr__ = lazy_attributes(__name__, dict.fromkeys(("evaluate", "feature_differences"),
                                                      "emofeat.transfer.evaluation"))
