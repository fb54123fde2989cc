"""Mikels' eight emotions, their valence, and the tasks a classifier can be asked to do."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from emofeat.errors import EmofeatError

#: Mikels et al. (2005) eight emotion categories, in the order used everywhere.
EMOTIONS: tuple[str, ...] = (
    "amusement",
    "anger",
    "awe",
    "contentment",
    "disgust",
    "excitement",
    "fear",
    "sadness",
)
POSITIVE: frozenset[str] = frozenset({"amusement", "awe", "contentment", "excitement"})
NEGATIVE: frozenset[str] = frozenset({"anger", "disgust", "fear", "sadness"})
VALENCE_CLASSES: tuple[str, ...] = ("negative", "positive")

#: Label spellings found in public releases (folder names, file prefixes), mapped to Mikels.
SYNONYMS: dict[str, str] = {
    "amused": "amusement",
    "amusing": "amusement",
    "angry": "anger",
    "awed": "awe",
    "content": "contentment",
    "contented": "contentment",
    "disgusted": "disgust",
    "disgusting": "disgust",
    "excited": "excitement",
    "exciting": "excitement",
    "fearful": "fear",
    "scared": "fear",
    "afraid": "fear",
    "sad": "sadness",
}


def normalise_label(label: str) -> str:
    """Map a Mikels emotion or one of its synonyms (any case) to its canonical name.

    Labels that are neither are returned stripped but otherwise unchanged, so datasets with
    other taxonomies (Emotion6's ``joy``, ``surprise``) keep their own classes.
    """
    key = label.strip().lower()
    if key in EMOTIONS:
        return key
    return SYNONYMS.get(key, label.strip())


def valence_of(emotion: str) -> str:
    """``positive`` or ``negative`` for a Mikels emotion (synonyms accepted)."""
    name = normalise_label(emotion)
    if name in POSITIVE:
        return "positive"
    if name in NEGATIVE:
        return "negative"
    raise EmofeatError(f"'{emotion}' is not one of the eight emotions ({', '.join(EMOTIONS)})")


@dataclass(frozen=True)
class Task:
    """What a classifier predicts: a name and the ordered class names it maps labels onto."""

    name: str
    classes: tuple[str, ...]
    kind: str = "classification"

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def target(self, label: str) -> str:
        """The class name a dataset label becomes under this task."""
        name = normalise_label(label)
        if self.name == "valence":
            if name in VALENCE_CLASSES:
                return name
            return valence_of(name)
        return name

    def encode(self, labels: Iterable[str]) -> np.ndarray:
        """Integer class indices (into ``classes``) for dataset labels; unknown ones fail."""
        index = {c: i for i, c in enumerate(self.classes)}
        targets = [self.target(lab) for lab in labels]
        unknown = sorted({t for t in targets if t not in index})
        if unknown:
            raise EmofeatError(
                f"task '{self.name}' cannot use labels {unknown}; "
                f"it expects {', '.join(self.classes)}"
            )
        return np.fromiter((index[t] for t in targets), dtype=np.int64, count=len(targets))

    def decode(self, indices: Iterable[int]) -> list[str]:
        return [self.classes[int(i)] for i in indices]


TASK_NAMES: tuple[str, ...] = ("valence", "emotion8", "label")
#: Rating regression tasks: the target is the manifest's extra column of the same name
#: (Emotion6: 1-9, OASIS: 1-7), recorded in a feature store at extraction.
SCORE_TASKS: tuple[str, ...] = ("valence_score", "arousal_score")
#: The emotion-distribution task: the target is the share of annotators per class
#: (:mod:`emofeat.distributions`), recorded in a feature store at extraction.
DISTRIBUTION_TASKS: tuple[str, ...] = ("distribution",)
#: What a task predicts: a class (``TASK_NAMES``), a rating (``SCORE_TASKS``) or a
#: distribution over classes (``DISTRIBUTION_TASKS``).
TASK_KINDS: tuple[str, ...] = ("classification", "regression", "distribution")

#: What "all tasks" means: the two tasks on Mikels' emotions (``label`` is a dataset's own).
ALL_TASKS: tuple[str, ...] = ("valence", "emotion8")


@dataclass(frozen=True)
class RatingTask:
    """A rating regression task: predict the value of the rating column ``name``."""

    name: str
    classes: tuple[str, ...] = ()  # none: the target is a number
    kind: str = "regression"


@dataclass(frozen=True)
class DistributionTask:
    """The distribution task: predict the share of annotators for each of ``classes``."""

    name: str
    classes: tuple[str, ...]
    kind: str = "distribution"

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def task_kind(name: str) -> str:
    """``regression`` for the rating tasks, ``distribution`` for the distribution task,
    ``classification`` for every other task."""
    if name in DISTRIBUTION_TASKS:
        return "distribution"
    return "regression" if name in SCORE_TASKS else "classification"


def make_task(name: str, labels: Sequence[str] | None = None) -> Task | RatingTask:
    """A classification task (:func:`get_task`) or a rating task, by name."""
    return RatingTask(name) if name in SCORE_TASKS else get_task(name, labels)


def get_task(name: str, labels: Sequence[str] | None = None) -> Task:
    """Build a task by name. ``label`` needs the dataset's labels to know its classes.

    ``emotion8`` and ``valence`` check up front that every label can be mapped, and raise an
    :class:`EmofeatError` naming the labels that cannot.
    """
    if name == "emotion8":
        task = Task("emotion8", EMOTIONS)
    elif name == "valence":
        task = Task("valence", VALENCE_CLASSES)
    elif name == "label":
        if labels is None:
            raise EmofeatError("task 'label' needs the dataset's labels")
        task = Task("label", tuple(sorted({normalise_label(lab) for lab in labels})))
    elif name in SCORE_TASKS:
        raise EmofeatError(f"'{name}' is a rating regression task; only `emofeat fit` (models "
                           "ridge, svr, lightgbm) predicts ratings, classifiers need one of "
                           f"{', '.join(TASK_NAMES)}")
    elif name in DISTRIBUTION_TASKS:
        raise EmofeatError(f"'{name}' predicts a distribution over a data set's classes; "
                           "classifiers need one of " + ", ".join(TASK_NAMES))
    else:
        raise EmofeatError(f"unknown task '{name}'; valid tasks: {', '.join(TASK_NAMES)} "
                           f"(classification), {', '.join(SCORE_TASKS)} (rating regression, "
                           f"`emofeat fit` only), {', '.join(DISTRIBUTION_TASKS)} (emotion "
                           "distributions)")
    if labels is not None:
        _check_labels(task, labels)
    return task


def _check_labels(task: Task, labels: Sequence[str]) -> None:
    bad = set()
    for lab in set(labels):
        try:
            if task.target(lab) not in task.classes:
                bad.add(lab)
        except EmofeatError:
            bad.add(lab)
    if bad:
        raise EmofeatError(
            f"task '{task.name}' cannot use labels {sorted(bad)}; "
            f"it expects {', '.join(task.classes)}"
        )


def in_task_order(tasks: Iterable[str]) -> list[str]:
    """Tasks in the order of every report: valence, emotion8, then the rest by name."""
    first = {"valence": 0, "emotion8": 1}
    return sorted(set(tasks), key=lambda t: (first.get(t, len(first)), t))
