"""What a grid search is given and gives back: the three splits' features and targets
(:class:`SplitData`), the val table and choice (:class:`SearchResult`), and the val weights
and patience of early stopping.

Below both the in-memory search (:mod:`emofeat.classical.search`) and the out-of-core one
(:mod:`emofeat.classical.lazy`), which import it and not each other's types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

EARLY_STOPPING_ROUNDS = 20


@dataclass
class SplitData:
    """Features and targets (class indices, or ratings) of the three splits."""

    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    ids: dict[str, list[str]]

    def train_val(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([self.X["train"], self.X["val"]]),
                np.concatenate([self.y["train"], self.y["val"]]))


def val_weights(class_weight: str | None, y_train: np.ndarray, y_val: np.ndarray
                ) -> np.ndarray | None:
    """Weights of the val rows for early stopping: each row its class's weight in training
    (``balanced``: computed from train's class counts, as the classifier does), so the
    number of trees is chosen on the criterion training optimises. None: unweighted."""
    if class_weight is None:
        return None
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.unique(y_train)
    weights = dict(zip(classes.tolist(),
                       compute_class_weight(class_weight, classes=classes, y=y_train),
                       strict=True))
    return np.array([weights.get(int(c), 1.0) for c in y_val], dtype=np.float64)


@dataclass
class SearchResult:
    table: list[dict[str, Any]]
    best: dict[str, Any]  # the chosen hyperparameters (n_estimators fixed for LightGBM)
    seconds: float
