"""Which tasks a data set serves: the one place that decides, for ``data show``, ``fit``,
``finetune``, baselines and every step of ``emofeat run`` alike.

- ``emotion8``: every label is one of Mikels' eight emotions (or a synonym);
- ``valence``: every label is a Mikels emotion or already ``positive``/``negative``, or,
  for a rated set whose classes have no valence (Emotion6), derived from its valence rating
  as the label mapping table says (above the scale midpoint positive, below negative, on it
  left out of the task and counted);
- ``label``: the data set's own classes, when there are at least two;
- ``valence_score``, ``arousal_score``: the data set has that rating column (Emotion6,
  OASIS) with at least one value;
- ``distribution``: the data set has per-class shares or vote counts (Emotion6's
  probabilities, Abstract's vote shares, a CSV's ``dist_<class>`` or ``votes_<class>``
  columns; :mod:`emofeat.distributions`) with at least one valid row.

Rows without a label of a task (OASIS images rated exactly on the midpoint have no binary
valence; an Emotion6 image on the midpoint has no derived valence) serve the tasks they do
have (the rating tasks) and are left out of the others, counted by reason: one function,
:func:`task_labels`, gives every row's label in a task's classes for every stage.

Nothing here imports numpy, torch or scikit-learn.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Real

from emofeat.datasets.manifest import Manifest
from emofeat.errors import EmofeatError
from emofeat.taxonomy import (
    ALL_TASKS,
    DISTRIBUTION_TASKS,
    SCORE_TASKS,
    TASK_NAMES,
    VALENCE_CLASSES,
    Task,
    get_task,
    in_task_order,
    normalise_label,
)

#: Every task a data set may serve, in report order.
EVERY_TASK: tuple[str, ...] = (*TASK_NAMES, *SCORE_TASKS, *DISTRIBUTION_TASKS)


#: Labels of a format that name no class of any classification task (their rows serve the
#: rating tasks only): OASIS images rated exactly on the midpoint.
UNLABELLED: dict[str, dict[str, str]] = {
    "oasis": {"neutral": "neutral rating (exactly the midpoint 4), no binary valence"},
}
#: The rating column derived valence comes from.
VALENCE_RATING = "valence_score"


@dataclass(frozen=True)
class TaskLabels:
    """Every row's label in a task's classes (None: the row does not serve the task),
    why rows were left out, and where the labels come from (``labels``, or ``valence
    ratings`` for a valence derived from them)."""

    task: Task
    labels: tuple[str | None, ...]
    left_out: dict[str, int] = field(default_factory=dict)
    source: str = "labels"

    @property
    def served(self) -> list[str]:
        """The labels of the rows that serve the task."""
        return [lab for lab in self.labels if lab is not None]

    @property
    def n(self) -> int:
        return len(self.served)


def task_labels(fmt: str, labels: Sequence[str], task: str,
                ratings: Sequence[float] | None = None) -> TaskLabels:
    """Every row's label for classification ``task`` on a data set of format ``fmt`` with
    these ``labels`` (and valence ``ratings``, for rated sets). Raises
    :class:`EmofeatError` where the task cannot be served at all (the labels say why)."""
    unlabelled = UNLABELLED.get(fmt, {})
    why: Counter[str] = Counter()
    own: list[str | None] = []
    for lab in labels:
        name = normalise_label(lab)
        if name in unlabelled:
            why[unlabelled[name]] += 1
            own.append(None)
        else:
            own.append(name)
    present = [lab for lab in own if lab is not None]
    try:
        t = get_task(task, present)
    except EmofeatError:
        if task != "valence" or ratings is None or not _rated(ratings):
            raise
        return _valence_from_ratings(fmt, ratings)
    return TaskLabels(t, tuple(None if lab is None else t.target(lab) for lab in own),
                      dict(why))


def _valence_from_ratings(fmt: str, ratings: Sequence[float]) -> TaskLabels:
    from emofeat.transfer.mapping import RATING_SCALES, valence_from_rating

    if fmt not in RATING_SCALES:
        raise EmofeatError(f"valence cannot be derived from the ratings of a {fmt} data set "
                           f"(rating scales are known for {', '.join(RATING_SCALES)})")
    why: Counter[str] = Counter()
    out: list[str | None] = []
    for value in ratings:
        rating = float(value) if isinstance(value, Real) else float("nan")
        label, reason = valence_from_rating(fmt, rating)
        out.append(label)
        if label is None:
            why[reason] += 1
    return TaskLabels(Task("valence", VALENCE_CLASSES), tuple(out), dict(why),
                      "valence ratings")


def manifest_task_labels(manifest: Manifest, task: str) -> TaskLabels:
    """:func:`task_labels` of a manifest (its valence ratings, where it has them)."""
    return task_labels(manifest.format, manifest.labels, task,
                       manifest.extra.get(VALENCE_RATING))


@dataclass(frozen=True)
class TaskSupport:
    """Whether a data set serves a task: how many images it can use, and why not (empty
    when it is served)."""

    task: str
    n_images: int
    why: str = ""

    @property
    def served(self) -> bool:
        return not self.why


def _rated(column: Sequence[object]) -> int:
    return sum(isinstance(v, Real) and not isinstance(v, bool) and not math.isnan(float(v))
               for v in column)


def task_support(manifest: Manifest, task: str) -> TaskSupport:
    """Whether ``manifest`` serves ``task`` (any name of :data:`EVERY_TASK`)."""
    if task in SCORE_TASKS:
        n = _rated(manifest.extra.get(task, ()))
        if n:
            return TaskSupport(task, n)
        return TaskSupport(task, 0, f"the {manifest.format} data set has no {task} ratings "
                                    "(Emotion6 and OASIS have valence_score and arousal_score)")
    if task in DISTRIBUTION_TASKS:
        return _distribution_support(manifest, task)
    if task not in TASK_NAMES:
        raise EmofeatError(f"unknown task '{task}'; valid tasks: {', '.join(EVERY_TASK)}")
    try:
        labels = manifest_task_labels(manifest, task)
    except EmofeatError as exc:
        return TaskSupport(task, 0, str(exc))
    classes = sorted(set(labels.served))
    if len(classes) < 2:
        return TaskSupport(task, 0, f"the data set has one class for it ({', '.join(classes)})"
                           if classes else "no image has a label for it")
    return TaskSupport(task, labels.n)


def _distribution_support(manifest: Manifest, task: str) -> TaskSupport:
    from emofeat.distributions import PREFIXES, distribution_table

    table = distribution_table(manifest, drop_invalid=True)
    if table is None:
        return TaskSupport(task, 0, f"the {manifest.format} data set has no per-class shares "
                           f"or vote counts (columns {', '.join(p + '<class>' for p in PREFIXES)}"
                           "; Emotion6 and Abstract have them)")
    if not table.n:
        return TaskSupport(task, 0, "no image has a valid distribution ("
                           + "; ".join(f"{r}: {n}" for r, n in table.invalid.items()) + ")")
    return TaskSupport(task, table.n)


def served_tasks(manifest: Manifest) -> list[str]:
    """The tasks ``manifest`` serves, in report order."""
    return [t for t in EVERY_TASK if task_support(manifest, t).served]


def default_tasks(manifest: Manifest) -> list[str]:
    """What ``all`` means for this data set: valence and emotion8 where it serves them (a
    valence-only set such as Twitter I: valence), and its own classes (``label``) where it
    does not serve emotion8 and they are more than valence's two (Emotion6: valence from
    its ratings, and its six)."""
    served = [t for t in ALL_TASKS if task_support(manifest, t).served]
    own = task_support(manifest, "label")
    if "emotion8" not in served and own.served:
        classes = set(manifest_task_labels(manifest, "label").served)
        if classes != set(VALENCE_CLASSES):
            served.append("label")
    return in_task_order(served) if served else ["label"]


def resolve_tasks(requested: Sequence[str], manifest: Manifest, where: str,
                  data: str = "the data set") -> list[str]:
    """The tasks a step asks for (``["all"]``: :func:`default_tasks`), each checked against
    the data: one the data cannot serve is an error naming the step, the task, why, and
    the tasks it does serve."""
    tasks = default_tasks(manifest) if list(requested) == ["all"] else list(requested)
    for task in tasks:
        support = task_support(manifest, task)
        if not support.served:
            raise EmofeatError(f"{where}: {data} ({manifest.format}) cannot serve task "
                               f"'{task}': {support.why}; it serves "
                               f"{', '.join(served_tasks(manifest)) or 'no task'}")
    return in_task_order(tasks) if list(requested) == ["all"] else tasks
