"""How a grid candidate is scored on val, and which score wins, for each kind of task.

- classification: balanced accuracy on val, highest wins;
- regression (the rating tasks): mean absolute error on val, lowest wins. Pearson r is
  reported (``val_pearson_r``) but not optimised: r ignores scale and offset, so a ridge with
  a huge alpha can keep its r while predicting little more than the mean rating; MAE, in
  rating units, rewards predictions that are right, and is defined for every candidate;
- distribution: mean KL divergence from the true to the predicted distribution on val,
  lowest wins (what the soft-target models minimise, up to the targets' entropy); cosine
  and top-1 accuracy reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emofeat.metrics import balanced_accuracy, distribution_metrics, regression_metrics

#: What run.json's ``search.metric`` says, per kind of task.
SEARCH_METRIC: dict[str, str] = {
    "classification": "balanced_accuracy on val (fit on train)",
    "regression": "mae on val (fit on train), lowest wins; pearson_r reported",
    "distribution": "kl_divergence on val (fit on train), lowest wins; cosine, top-1 "
                    "accuracy reported",
}


def val_scores(kind: str, y_val: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """The val columns of a search-table row."""
    if kind == "distribution":
        d = distribution_metrics(y_val, pred)
        return {"val_kl_divergence": d["kl_divergence"], "val_cosine": d["cosine"],
                "val_top1_accuracy": d["top1_accuracy"]}
    if kind == "regression":
        m = regression_metrics(y_val, pred)
        return {"val_mae": m["mae"], "val_pearson_r": m["pearson_r"], "val_r2": m["r2"]}
    return {"val_balanced_accuracy": round(balanced_accuracy(y_val, pred), 6),
            "val_accuracy": round(float(np.mean(pred == y_val)), 6)}


def criterion(kind: str, row: dict[str, Any]) -> float:
    """A row's score to maximise (ties: the earlier candidate of the grid)."""
    if kind == "distribution":
        return -row["val_kl_divergence"]
    return -row["val_mae"] if kind == "regression" else row["val_balanced_accuracy"]
