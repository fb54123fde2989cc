"""What to fit and how: model and task names, ``all``, and :class:`FitOptions`.

No scikit-learn here, so the CLI and config parsing can check these before anything heavy
is imported. The registries themselves are in :mod:`emofeat.classical.estimators` (a test
keeps their names equal to :data:`MODEL_NAMES` and :data:`REGRESSOR_NAMES`).

Classification tasks are fitted with classifiers, the rating tasks (``valence_score``,
``arousal_score``) with regressors; ``lightgbm`` names one of each. :func:`plan_fits` pairs
the models asked for with the tasks asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emofeat.errors import EmofeatError
from emofeat.taxonomy import ALL_TASKS, DISTRIBUTION_TASKS, SCORE_TASKS, TASK_NAMES, task_kind

#: The classifiers (classification tasks).
MODEL_NAMES: tuple[str, ...] = ("logreg", "svm", "svm-rbf", "lightgbm")
#: The regressors (rating tasks).
REGRESSOR_NAMES: tuple[str, ...] = ("ridge", "svr", "lightgbm")
#: The models of the distribution task (soft targets, and the one-hot baseline).
DISTRIBUTION_MODEL_NAMES: tuple[str, ...] = ("logreg", "lightgbm", "logreg-onehot")
MODELS_BY_KIND: dict[str, tuple[str, ...]] = {"classification": MODEL_NAMES,
                                              "regression": REGRESSOR_NAMES,
                                              "distribution": DISTRIBUTION_MODEL_NAMES}
_KIND_WORDS = {"classification": ("model", "a classifier"),
               "regression": ("regressor", "a regressor"),
               "distribution": ("distribution model", "a distribution model")}
#: How users spell class weighting (CLI and config files); ``none`` is stored as None.
CLASS_WEIGHTS: tuple[str, ...] = ("balanced", "none")


@dataclass(frozen=True)
class FitOptions:
    """Choices that shape every candidate pipeline.

    ``class_weight`` is ``"balanced"`` or None; the spelling ``"none"`` is accepted and
    stored as None, anything else is an error.
    """

    class_weight: str | None = "balanced"
    pca: int | None = None  # None: the estimator's default; 0: no PCA
    l2norm: bool = False
    seed: int = 0
    jobs: int = -1

    def __post_init__(self) -> None:
        if self.class_weight == "none":
            object.__setattr__(self, "class_weight", None)
        elif self.class_weight not in ("balanced", None):
            raise EmofeatError(f"class_weight must be one of {', '.join(CLASS_WEIGHTS)}, "
                               f"got '{self.class_weight}'")
        if self.pca is not None and self.pca < 0:
            raise EmofeatError(f"pca must be 0 (none) or more components, got {self.pca}")


def select(requested: Sequence[str], valid: Sequence[str], what: str,
           every: Sequence[str] | None = None) -> list[str]:
    """The names asked for, each one of ``valid``; ``["all"]`` means ``every`` (default:
    all of ``valid``)."""
    names = list(every if every is not None else valid) if list(requested) == ["all"] \
        else list(requested)
    if not names:
        raise EmofeatError(f"no {what} given")
    for name in names:
        if name not in valid:
            raise EmofeatError(f"unknown {what} '{name}'; valid {what}s: {', '.join(valid)}")
    return names


def select_models(requested: Sequence[str], kind: str = "classification") -> list[str]:
    """Model names of one kind (classifiers by default); ``all`` is every one of them."""
    return select(requested, MODELS_BY_KIND[kind], _KIND_WORDS[kind][0])


def select_tasks(requested: Sequence[str]) -> list[str]:
    """Task names, classification, rating or distribution tasks; ``all`` is valence and
    emotion8."""
    return select(requested, (*TASK_NAMES, *SCORE_TASKS, *DISTRIBUTION_TASKS), "task",
                  every=ALL_TASKS)


def select_class_tasks(requested: Sequence[str]) -> list[str]:
    """Classification task names, and the distribution task (fine-tuning predicts classes
    or a distribution over them)."""
    for name in requested:
        if name in SCORE_TASKS:
            raise EmofeatError(f"'{name}' is a rating regression task, which only `emofeat "
                               f"fit` does; tasks here: "
                               f"{', '.join((*TASK_NAMES, *DISTRIBUTION_TASKS))}")
    return select(requested, (*TASK_NAMES, *DISTRIBUTION_TASKS), "task", every=ALL_TASKS)


def check_model_names(models: Sequence[str]) -> list[str]:
    """``models`` as a list, each a classifier or a regressor (or just ``all``)."""
    names = list(models)
    if not names:
        raise EmofeatError("no model given")
    for name in names if names != ["all"] else []:
        if not any(name in valid for valid in MODELS_BY_KIND.values()):
            raise EmofeatError(f"unknown model '{name}'; valid models: "
                               f"{', '.join(MODEL_NAMES)} (classifiers); "
                               f"{', '.join(REGRESSOR_NAMES)} (regressors, for the rating "
                               f"tasks {', '.join(SCORE_TASKS)}); "
                               f"{', '.join(DISTRIBUTION_MODEL_NAMES)} (for the task "
                               "distribution)")
    return names


def plan_fits(models: Sequence[str], tasks: Sequence[str]) -> list[tuple[str, str]]:
    """The (model, task) pairs to fit: each task with the models asked for that fit its kind
    (``all``: every model of its kind), in task order, then model order.

    A model that is neither a classifier nor a regressor, a task left without a model of
    its kind and a model that fits none of the tasks are errors.
    """
    task_names = select_tasks(tasks)
    names = check_model_names(models)
    pairs = []
    for task in task_names:
        kind = task_kind(task)
        fitting = list(MODELS_BY_KIND[kind]) if names == ["all"] else \
            [m for m in names if m in MODELS_BY_KIND[kind]]
        if not fitting:
            what = _KIND_WORDS[kind][1]
            raise EmofeatError(f"task '{task}' needs {what} "
                               f"({', '.join(MODELS_BY_KIND[kind])}); got {', '.join(names)}")
        pairs += [(m, task) for m in fitting]
    unused = [m for m in names if m != "all" and m not in {p[0] for p in pairs}]
    if unused:
        raise EmofeatError(f"model(s) {', '.join(unused)} fit none of the tasks "
                           f"{', '.join(task_names)}")
    return pairs


def select_layers(requested: Sequence[str], store_layers: Sequence[str]) -> list[str]:
    """Layers of a store to fit: none asked for means its last layer, ``all`` every layer;
    others (``a``, ``a+b``) are checked against the store when it is read."""
    if not requested:
        return [store_layers[-1]]
    return list(store_layers) if list(requested) == ["all"] else list(requested)
