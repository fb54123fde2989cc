"""Which tasks a data set serves: the one place that decides, for ``data show``, ``fit``,
``finetune``, baselines and every step of ``emofeat run`` alike.

- ``emotion8``: every label is one of Mikels' eight emotions (or a synonym);
- ``valence``: every label is a Mikels emotion or already ``positive``/``negative``;
- ``label``: the data set's own classes, when there are at least two;
- ``valence_score``, ``arousal_score``: the data set has that rating column (Emotion6,
  OASIS) with at least one value.

Nothing here imports numpy, torch or scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

from emofeat.datasets.manifest import Manifest
from emofeat.errors import EmofeatError
from emofeat.taxonomy import ALL_TASKS, SCORE_TASKS, TASK_NAMES, get_task, in_task_order

#: Every task a data set may serve, in report order.
EVERY_TASK: tuple[str, ...] = (*TASK_NAMES, *SCORE_TASKS)


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
    if task not in TASK_NAMES:
        raise EmofeatError(f"unknown task '{task}'; valid tasks: {', '.join(EVERY_TASK)}")
    if task == "label" and len(manifest.classes) < 2:
        return TaskSupport(task, 0, f"the data set has one class ({manifest.classes[0]})")
    try:
        get_task(task, manifest.labels)
    except EmofeatError as exc:
        return TaskSupport(task, 0, str(exc))
    return TaskSupport(task, len(manifest))


def served_tasks(manifest: Manifest) -> list[str]:
    """The tasks ``manifest`` serves, in report order."""
    return [t for t in EVERY_TASK if task_support(manifest, t).served]


def default_tasks(manifest: Manifest) -> list[str]:
    """What ``all`` means for this data set: valence and emotion8 where it serves them (a
    valence-only set such as Twitter I: valence), else its own classes (``label``)."""
    served = [t for t in ALL_TASKS if task_support(manifest, t).served]
    return served or ["label"]


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
