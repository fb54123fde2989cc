"""Where a chosen number deserves a warning: a val set too small to choose on, and a
hyperparameter chosen on the edge of its grid (which ``--grid auto-extend`` extends once).

No scikit-learn here; the search calls :func:`grid_edges` and :func:`extended_axis`, the
fitting step :func:`small_val`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: Fewer val images than this in a class and a choice made on val is mostly noise.
MIN_VAL_PER_CLASS = 10
#: ``--grid auto-extend``: extend a grid axis once where the choice is on its edge.
GRID_EXTEND = "auto-extend"
#: New values an extension adds beyond the edge.
EXTEND_STEPS = 2

HOW_TO_GROW_VAL = ("give val more images: a split with a larger val share, e.g. "
                   "`emofeat data split DATA --fractions 0.6,0.25,0.15 --out splits.csv`, "
                   "then `--splits splits.csv` (in a config: [split] fractions)")


def small_val(task: str, val_labels: Sequence[str]) -> str | None:
    """A warning when some class has fewer than :data:`MIN_VAL_PER_CLASS` val images."""
    counts = Counter(val_labels)
    if not counts or min(counts.values()) >= MIN_VAL_PER_CLASS:
        return None
    fewest = min(counts, key=lambda c: (counts[c], c))
    line = (f"{task}: val has only {counts[fewest]} images of '{fewest}' (the fewest of "
            f"{len(counts)} classes; {sum(counts.values())} val images in all): "
            f"hyperparameters and epochs chosen on fewer than {MIN_VAL_PER_CLASS} per class "
            f"are mostly noise; {HOW_TO_GROW_VAL}")
    log.warning("%s", line)
    return line


def small_val_of(tasks: Sequence[Any], ids: Sequence[str],
                 labels: Mapping[str, Sequence[str | None]],
                 assignment: Mapping[str, str]) -> list[str]:
    """:func:`small_val` for each classification task; ``labels``: each task's label of
    every row (None: the row does not serve it)."""
    lines = []
    for t in tasks:
        if t.kind != "classification":
            continue
        val = [lab for i, lab in zip(ids, labels[t.name], strict=True)
               if lab is not None and assignment.get(i) == "val"]
        if line := small_val(t.name, val):
            lines.append(line)
    return lines


@dataclass(frozen=True)
class Edge:
    """A hyperparameter chosen at the smallest or largest value of its grid axis."""

    axis: str
    value: Any
    side: str  # "smallest" or "largest"
    values: tuple[Any, ...]

    def describe(self, what: str) -> str:
        return (f"{what}: {self.axis}={self.value} was chosen, the {self.side} value of its "
                f"grid {list(self.values)}; the best may lie beyond it")


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def grid_edges(grid: Mapping[str, Sequence[Any]], chosen: Mapping[str, Any]) -> list[Edge]:
    """Numeric axes of two or more values whose chosen value is the axis's min or max."""
    edges = []
    for axis, values in grid.items():
        if axis not in chosen or len(set(values)) < 2 or not _numeric(values):
            continue
        if chosen[axis] == min(values):
            edges.append(Edge(axis, chosen[axis], "smallest", tuple(sorted(values))))
        elif chosen[axis] == max(values):
            edges.append(Edge(axis, chosen[axis], "largest", tuple(sorted(values))))
    return edges


#: Hyperparameters that take whole numbers (of the estimators' grids); every other numeric
#: axis is real, even when given as whole numbers (``--grid C=1,10,100`` extends to 0.1).
INTEGER_AXES = frozenset({"num_leaves", "n_estimators", "max_depth", "min_child_samples",
                          "max_iter", "n_components", "max_bin"})


def extended_axis(edge: Edge) -> list[Any]:
    """:data:`EXTEND_STEPS` new values beyond the edge, spaced like the axis's last two
    there: by their ratio when positive (C: 1e-5 -> 1e-6, 1e-7), else by their step;
    integers stay integers (num_leaves 15, 31 -> 64, 132: the ratio, rounded)."""
    values = edge.values
    a, b = (values[1], values[0]) if edge.side == "smallest" else (values[-2], values[-1])
    integer = edge.axis in INTEGER_AXES
    out: list[Any] = []
    last = b
    for _ in range(EXTEND_STEPS):
        last = last * (b / a) if a > 0 and b > 0 else last + (b - a)
        value = round(last) if integer else float(f"{last:.6g}")
        if integer and value < 1 and a > 0:
            break  # positive integers (leaves, estimators) stop at 1
        out.append(value)
    return [v for v in out if not math.isclose(v, b)]


def wants_extension(overrides: Sequence[str]) -> tuple[bool, list[str]]:
    """Whether ``--grid`` asked for ``auto-extend``, and the axis overrides besides it."""
    rest = [o for o in overrides if o.strip() != GRID_EXTEND]
    return len(rest) != len(overrides), rest
