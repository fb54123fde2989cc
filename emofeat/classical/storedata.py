"""A store's data as a fit sees it: its split, a layer's features (checked for NaN/Inf), each
task's targets (class labels, ratings or distributions) and the split into train/val/test.

Classification targets are the store's labels; a rating task's targets are the ratings the
store recorded at extraction (``/ratings/<column>``), the distribution task's the
distributions it recorded (``/distributions/<task>``), so ``fit STORE`` needs nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emofeat.classical.searchdata import SplitData
from emofeat.datasets.tasks import VALENCE_RATING, TaskLabels, task_labels
from emofeat.errors import EmofeatError
from emofeat.runs import FeaturesRecord
from emofeat.splits import SPLIT_NAMES, Split, check_split_matches, read_split
from emofeat.store import Store
from emofeat.taxonomy import DistributionTask, RatingTask, Task

#: Any task a fit can be asked for.
AnyTask = Task | RatingTask | DistributionTask

log = logging.getLogger(__name__)


def parse_layers(store: Store, layer: str) -> list[str]:
    """``a`` or ``a+b`` (concatenated), each checked against the store's layers."""
    names = [x.strip() for x in layer.split("+") if x.strip()]
    if not names:
        raise EmofeatError("--layer is empty")
    for name in names:
        store.check_layer(name)
    return names


def store_split(store: Store, splits_file: str | Path | None = None) -> Split:
    """The store's own split, or a given one, checked against the store's ids.

    Ids in the split but not in the store are fine only if extraction recorded them as
    failed; ids in the store but not in the split are an error.
    """
    split = read_split(splits_file) if splits_file else store.split()
    source = str(splits_file) if splits_file else f"{store.path}/splits.csv"
    check_split_matches(split, store.ids, source=source, unreadable=store.failed,
                        data=f"the store {store.path}")
    return split


def load_features(store: Store, layers: Sequence[str]) -> np.ndarray:
    """Concatenated features of the layers, float32, checked for NaN and Inf."""
    X = np.concatenate([store.load(name).astype(np.float32, copy=False) for name in layers],
                       axis=1)
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise EmofeatError(f"layer(s) {'+'.join(layers)} of {store.path} hold NaN or Inf in "
                           f"{rows.size} rows, e.g. {[store.ids[r] for r in rows[:3]]}")
    return X


def store_task_labels(store: Store, task: str) -> TaskLabels:
    """Every row's label for a classification task (derived valence included, as
    :func:`emofeat.datasets.tasks.task_labels` decides for every stage)."""
    ratings = store.ratings(VALENCE_RATING) if VALENCE_RATING in store.rating_columns \
        else None
    return task_labels(store.record.dataset.format, store.labels, task,
                       None if ratings is None else ratings.tolist())


def _targets(store: Store, task: AnyTask) -> tuple[np.ndarray, np.ndarray]:
    """Every row's target (class index, rating or distribution) and which rows have one."""
    if isinstance(task, DistributionTask):
        dist = store.distribution(task.name)
        usable = np.isfinite(dist).all(axis=1)
        invalid = (store.record.distributions or {})[task.name].invalid
        for reason, n in invalid.items():
            log.warning("%d images of %s have an invalid distribution (%s); left out of this "
                        "task", n, store.path, reason)
        return dist, usable
    if isinstance(task, Task):
        labels = store_task_labels(store, task.name)
        usable = np.array([lab is not None for lab in labels.labels], dtype=bool)
        y = np.full(len(store.ids), -1, dtype=np.int64)
        y[usable] = task.encode(labels.served)
        for reason, n in labels.left_out.items():
            log.warning("%d images of %s have no %s label (%s); left out of this task", n,
                        store.path, task.name, reason)
        if labels.source != "labels":
            log.info("%s: task %s from the %s", store.path, task.name, labels.source)
        return y, usable
    y = store.ratings(task.name)
    usable = np.isfinite(y)
    if not usable.all():
        log.warning("%d images of %s have no %s; left out of this task",
                    int((~usable).sum()), store.path, task.name)
    return y, usable


def split_data(store: Store, X: np.ndarray, task: AnyTask, split: Split) -> SplitData:
    y_all, usable = _targets(store, task)
    where: dict[str, list[int]] = {s: [] for s in SPLIT_NAMES}
    for row, image_id in enumerate(store.ids):
        if usable[row]:
            where[split.assignment[image_id]].append(row)
    data = SplitData(X={s: X[r] for s, r in where.items()},
                     y={s: y_all[r] for s, r in where.items()},
                     ids={s: [store.ids[i] for i in r] for s, r in where.items()})
    if not len(data.y["val"]):
        raise EmofeatError("the split has no val images; hyperparameters are chosen on val")
    if isinstance(task, RatingTask):
        if len(data.y["train"]) < 2:
            raise EmofeatError(f"task '{task.name}' needs at least 2 rated train images")
        return data
    if isinstance(task, DistributionTask):
        if len(data.y["train"]) < 2:
            raise EmofeatError(f"task '{task.name}' needs at least 2 train images with a "
                               "distribution")
        return data
    missing = [task.classes[k] for k in range(task.n_classes) if k not in set(data.y["train"])]
    if missing:
        raise EmofeatError(f"class(es) {', '.join(missing)} have no train images for task "
                           f"'{task.name}'")
    return data


def features_record(store: Store, layers: Sequence[str]) -> FeaturesRecord:
    rec = store.record
    return FeaturesRecord(
        store=str(store.path.resolve()),
        store_sha256=store.sha256,
        backbone=rec.backbone,
        weights=rec.weights,
        manifest_sha256=rec.dataset.manifest_sha256,
        dataset_format=rec.dataset.format,
        label_from=rec.dataset.label_from,
        data_config=rec.data_config,
        layers=tuple(la for la in rec.layers if la.name in layers),
        layer_order=tuple(layers),
        store_layers=tuple(rec.layer_names),
        pooling=rec.pooling,
        precision=rec.precision,
        dtype=rec.dtype,
    )
