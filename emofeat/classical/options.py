"""What to fit and how: model and task names, ``all``, and :class:`FitOptions`.

No scikit-learn here, so the CLI and config parsing can check these before anything heavy
is imported. The registry itself is :mod:`emofeat.classical.estimators` (a test keeps its
names equal to :data:`MODEL_NAMES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emofeat.errors import EmofeatError
from emofeat.taxonomy import ALL_TASKS, TASK_NAMES

MODEL_NAMES: tuple[str, ...] = ("logreg", "svm", "svm-rbf", "lightgbm")
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


def select_models(requested: Sequence[str]) -> list[str]:
    """Model names; ``all`` is every model of the registry."""
    return select(requested, MODEL_NAMES, "model")


def select_tasks(requested: Sequence[str]) -> list[str]:
    """Task names; ``all`` is valence and emotion8."""
    return select(requested, TASK_NAMES, "task", every=ALL_TASKS)


def select_layers(requested: Sequence[str], store_layers: Sequence[str]) -> list[str]:
    """Layers of a store to fit: none asked for means its last layer, ``all`` every layer;
    others (``a``, ``a+b``) are checked against the store when it is read."""
    if not requested:
        return [store_layers[-1]]
    return list(store_layers) if list(requested) == ["all"] else list(requested)
