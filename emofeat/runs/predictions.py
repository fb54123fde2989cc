"""predictions.csv: id, split, y_true, y_pred, score_<class>... for every image of a run."""

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
from emofeat.metrics import classification_metrics


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
        out = {}
        for split in ("train", "val", "test"):
            if split in self.splits:
                out[split] = self.select(split).metrics()
                if split in in_sample:
                    out[split]["in_sample"] = True
        return out


def write_predictions(path: Path, preds: Predictions) -> None:
    with replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "split", "y_true", "y_pred", *(f"score_{c}" for c in preds.classes)])
        for i, image_id in enumerate(preds.ids):
            write_row(fh, writer, [image_id, preds.splits[i], preds.classes[preds.y_true[i]],
                                   preds.classes[preds.y_pred[i]],
                                   *(f"{s:.7g}" for s in preds.scores[i])])


def read_predictions(path: str | Path, classes: Sequence[str]) -> Predictions:
    """Read predictions.csv back into class indices and scores."""
    path = Path(path)
    index = {c: i for i, c in enumerate(classes)}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise EmofeatError(f"cannot read {path}: {exc.strerror}") from None
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
