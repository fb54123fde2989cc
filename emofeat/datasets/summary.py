"""What a manifest holds, as one JSON-ready dict (for ``emofeat data show``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from numbers import Real
from typing import TYPE_CHECKING, Any

from emofeat.datasets.labels import label_agreement
from emofeat.datasets.manifest import Manifest
from emofeat.datasets.tasks import manifest_task_labels, served_tasks, task_support
from emofeat.taxonomy import DISTRIBUTION_TASKS

if TYPE_CHECKING:
    from emofeat.splits import Split

#: Split names in display order (emofeat.splits.SPLIT_NAMES; not imported: splits imports us).
_SPLITS: tuple[str, ...] = ("train", "val", "test")


def _is_numeric(column: tuple) -> bool:
    """A column of numbers (scores, shares, vote counts, agreement), not of text or flags."""
    return bool(column) and all(isinstance(v, Real) and not isinstance(v, bool) for v in column)


def _rating_stats(column: tuple) -> dict[str, float | int]:
    values = [v for v in column if not math.isnan(float(v))]
    if not values:
        return {"n": 0}
    return {"n": len(values), "min": min(values), "max": max(values),
            "mean": float(sum(values)) / len(values)}


def _task_images(manifest: Manifest, tasks: list[str]) -> dict[str, dict[str, Any]]:
    """Per served task: the images it uses, the images left out by reason, and where its
    labels come from (``labels``, ``valence ratings``, or the rating column)."""
    info: dict[str, dict[str, Any]] = {}
    for task in tasks:
        support = task_support(manifest, task)
        if task in manifest.extra:  # a rating task
            info[task] = {"n_images": support.n_images,
                          "left_out": {"no rating": len(manifest) - support.n_images}
                          if support.n_images < len(manifest) else {}, "source": task}
            continue
        if task in DISTRIBUTION_TASKS:
            from emofeat.distributions import distribution_table

            table = distribution_table(manifest, drop_invalid=True)
            assert table is not None  # served
            info[task] = {"n_images": table.n, "left_out": table.invalid,
                          "source": table.source.describe(), "classes": list(table.classes)}
            continue
        labels = manifest_task_labels(manifest, task)
        info[task] = {"n_images": labels.n, "left_out": labels.left_out,
                      "source": labels.source}
    return info


def describe(manifest: Manifest, split: Split | Mapping[str, str] | None = None) -> dict[str, Any]:
    """Format, images per label, the tasks the data set serves, per split (a given split,
    else the release's own ``split`` column, else none), numeric columns (ratings, vote
    shares, agreement) with n/min/max/mean, text columns (EmoSet's attributes) with how many
    rows have a value and how many distinct values, and what the reader left out, by reason.
    """
    assignment: Mapping[str, str] | None
    if split is not None:
        assignment = split if isinstance(split, Mapping) else split.assignment
        source = "given"
    elif "split" in manifest.extra:
        assignment = dict(zip(manifest.ids, manifest.extra["split"], strict=True))
        source = "release"
    else:
        assignment, source = None, "none"
    info: dict[str, Any] = {
        "format": manifest.format,
        "root": str(manifest.root),
        "n_images": len(manifest),
        "n_classes": len(manifest.classes),
        "counts": manifest.counts(),
        "tasks": (tasks := served_tasks(manifest)),
        "task_images": _task_images(manifest, tasks),
        **({"label_rules": rules} if (rules := label_agreement(manifest)) else {}),
        "split_source": source,
    }
    if assignment is not None:
        by_class: dict[str, Counter[str]] = {c: Counter() for c in manifest.classes}
        for image_id, label in zip(manifest.ids, manifest.labels, strict=True):
            by_class[label][assignment.get(image_id, "none")] += 1
        names = [*_SPLITS, *sorted({s for c in by_class.values() for s in c} - set(_SPLITS))]
        info["split_counts"] = {s: sum(c[s] for c in by_class.values()) for s in names}
        info["splits"] = {label: {s: c[s] for s in names} for label, c in by_class.items()}
    ratings: dict[str, dict[str, float | int]] = {}
    attributes: dict[str, dict[str, int]] = {}
    for name, column in manifest.extra.items():
        if name == "split":
            continue
        if _is_numeric(column):
            ratings[name] = _rating_stats(column)
        elif all(isinstance(v, str) for v in column):
            present = [v for v in column if v != ""]
            attributes[name] = {"annotated": len(present), "distinct": len(set(present))}
    info["ratings"] = ratings
    info["attributes"] = attributes
    info["extra_columns"] = list(manifest.extra)
    info["dropped"] = dict(manifest.dropped)
    info["n_dropped"] = sum(manifest.dropped.values())
    return info
