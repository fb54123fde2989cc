"""predictions.csv for every image of a run: ``id, split, y_true, y_pred, score_<class>...``
(classification), ``id, split, y_true, y_pred`` with ratings as numbers (a rating task), or
``id, split, y_true, y_pred, true_<class>..., share_<class>...`` (the distribution task:
y_true and y_pred the dominant classes of the true and predicted distributions)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emofeat.atomic import replacing
from emofeat.csvrows import write_row
from emofeat.errors import EmofeatError
from emofeat.metrics import classification_metrics, distribution_metrics, regression_metrics

SPLIT_ORDER = ("train", "val", "test")


@dataclass(frozen=True)
class Predictions:
    """Rows of predictions.csv: class indices into ``classes`` and a score per class."""

    ids: list[str]
    splits: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray  # (N, K)
    classes: tuple[str, ...]

    def select(self, split: str) -> Predictions:
        keep = [i for i, s in enumerate(self.splits) if s == split]
        return Predictions([self.ids[i] for i in keep], [split] * len(keep),
                           self.y_true[keep], self.y_pred[keep], self.scores[keep],
                           self.classes)

    def metrics(self) -> dict[str, Any]:
        return classification_metrics(self.y_true, self.y_pred, self.classes, self.scores)

    def metrics_by_split(self, in_sample: Sequence[str] = ()) -> dict[str, Any]:
        return _by_split(self, in_sample)


@dataclass(frozen=True)
class RatingPredictions:
    """Rows of a rating task's predictions.csv: the rating and the predicted rating."""

    ids: list[str]
    splits: list[str]
    y_true: np.ndarray  # float64
    y_pred: np.ndarray  # float64
    classes: tuple[str, ...] = ()  # none: the run predicts a number

    def select(self, split: str) -> RatingPredictions:
        keep = [i for i, s in enumerate(self.splits) if s == split]
        return RatingPredictions([self.ids[i] for i in keep], [split] * len(keep),
                                 self.y_true[keep], self.y_pred[keep])

    def metrics(self) -> dict[str, Any]:
        return regression_metrics(self.y_true, self.y_pred)

    def metrics_by_split(self, in_sample: Sequence[str] = ()) -> dict[str, Any]:
        return _by_split(self, in_sample)


@dataclass(frozen=True)
class DistributionPredictions:
    """Rows of a distribution task's predictions.csv: true and predicted shares per class."""

    ids: list[str]
    splits: list[str]
    y_true: np.ndarray  # (N, K) float64, rows sum to 1
    y_pred: np.ndarray  # (N, K) float64
    classes: tuple[str, ...]

    def select(self, split: str) -> DistributionPredictions:
        keep = [i for i, s in enumerate(self.splits) if s == split]
        return DistributionPredictions([self.ids[i] for i in keep], [split] * len(keep),
                                       self.y_true[keep], self.y_pred[keep], self.classes)

    def metrics(self) -> dict[str, Any]:
        return distribution_metrics(self.y_true, self.y_pred)

    def metrics_by_split(self, in_sample: Sequence[str] = ()) -> dict[str, Any]:
        return _by_split(self, in_sample)


AnyPredictions = Predictions | RatingPredictions | DistributionPredictions


def _by_split(preds: AnyPredictions, in_sample: Sequence[str]) -> dict[str, Any]:
    out = {}
    for split in SPLIT_ORDER:
        if split in preds.splits:
            out[split] = preds.select(split).metrics()
            if split in in_sample:
                out[split]["in_sample"] = True
    return out


def write_predictions(path: Path, preds: AnyPredictions) -> None:
    with replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        if isinstance(preds, DistributionPredictions):  # repr: reads back to the same float
            writer.writerow(["id", "split", "y_true", "y_pred",
                             *(f"true_{c}" for c in preds.classes),
                             *(f"share_{c}" for c in preds.classes)])
            top_true, top_pred = preds.y_true.argmax(axis=1), preds.y_pred.argmax(axis=1)
            for i, image_id in enumerate(preds.ids):
                write_row(fh, writer, [image_id, preds.splits[i], preds.classes[top_true[i]],
                                       preds.classes[top_pred[i]],
                                       *(repr(float(v)) for v in preds.y_true[i]),
                                       *(repr(float(v)) for v in preds.y_pred[i])])
            return
        if isinstance(preds, RatingPredictions):  # repr: the shortest text that reads back
            writer.writerow(["id", "split", "y_true", "y_pred"])  # to the same float
            for i, image_id in enumerate(preds.ids):
                write_row(fh, writer, [image_id, preds.splits[i], repr(float(preds.y_true[i])),
                                       repr(float(preds.y_pred[i]))])
            return
        writer.writerow(["id", "split", "y_true", "y_pred", *(f"score_{c}" for c in preds.classes)])
        for i, image_id in enumerate(preds.ids):
            write_row(fh, writer, [image_id, preds.splits[i], preds.classes[preds.y_true[i]],
                                   preds.classes[preds.y_pred[i]],
                                   *(f"{s:.7g}" for s in preds.scores[i])])


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """predictions.csv as rows; a file that cannot be read is one clear error."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except OSError as exc:
        raise EmofeatError(f"cannot read {path}: {exc.strerror}") from None


def read_predictions(path: str | Path, classes: Sequence[str]) -> Predictions:
    """Read predictions.csv back into class indices and scores."""
    path = Path(path)
    index = {c: i for i, c in enumerate(classes)}
    rows = _csv_rows(path)
    columns = [f"score_{c}" for c in classes]
    if rows and any(c not in rows[0] for c in ("id", "split", "y_true", "y_pred", *columns)):
        raise EmofeatError(f"{path} lacks columns of its run's classes {list(classes)}")
    try:
        return Predictions(
            ids=[r["id"] for r in rows],
            splits=[r["split"] for r in rows],
            y_true=np.array([index[r["y_true"]] for r in rows], dtype=np.int64),
            y_pred=np.array([index[r["y_pred"]] for r in rows], dtype=np.int64),
            scores=np.array([[float(r[c]) for c in columns] for r in rows],
                            dtype=np.float64).reshape(len(rows), len(classes)),
            classes=tuple(classes),
        )
    except (KeyError, ValueError) as exc:
        raise EmofeatError(f"{path} has a row that does not fit its run ({exc})") from None


def read_rating_predictions(path: str | Path) -> RatingPredictions:
    """Read a rating task's predictions.csv back (the numbers exactly as written)."""
    path = Path(path)
    rows = _csv_rows(path)
    if rows and any(c not in rows[0] for c in ("id", "split", "y_true", "y_pred")):
        raise EmofeatError(f"{path} lacks the columns id, split, y_true, y_pred of a rating run")
    try:
        return RatingPredictions(
            ids=[r["id"] for r in rows], splits=[r["split"] for r in rows],
            y_true=np.array([float(r["y_true"]) for r in rows], dtype=np.float64),
            y_pred=np.array([float(r["y_pred"]) for r in rows], dtype=np.float64))
    except ValueError as exc:
        raise EmofeatError(f"{path} has a row that does not fit its run ({exc})") from None


def read_distribution_predictions(path: str | Path, classes: Sequence[str]
                                  ) -> DistributionPredictions:
    """Read a distribution task's predictions.csv back (the shares exactly as written)."""
    path = Path(path)
    rows = _csv_rows(path)
    true_cols, pred_cols = [f"true_{c}" for c in classes], [f"share_{c}" for c in classes]
    if rows and any(c not in rows[0] for c in ("id", "split", *true_cols, *pred_cols)):
        raise EmofeatError(f"{path} lacks the true_<class> and share_<class> columns of its "
                           f"run's classes {list(classes)}")
    try:
        return DistributionPredictions(
            ids=[r["id"] for r in rows], splits=[r["split"] for r in rows],
            y_true=np.array([[float(r[c]) for c in true_cols] for r in rows],
                            dtype=np.float64).reshape(len(rows), len(classes)),
            y_pred=np.array([[float(r[c]) for c in pred_cols] for r in rows],
                            dtype=np.float64).reshape(len(rows), len(classes)),
            classes=tuple(classes))
    except ValueError as exc:
        raise EmofeatError(f"{path} has a row that does not fit its run ({exc})") from None
