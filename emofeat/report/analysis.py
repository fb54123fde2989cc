"""The numbers of a report: metrics with bootstrap intervals, paired tests, the transfer
summary and accuracy by layer, per task, computed from the runs' test predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emofeat.metrics import (
    HEADLINE,
    bootstrap_counts,
    bootstrap_distribution,
    mcnemar_exact,
    percentile_ci,
)
from emofeat.report.collect import RunInfo
from emofeat.runs import Predictions

LEVEL = 0.95


def _align(runs: Sequence[RunInfo]) -> tuple[list[str], list[Predictions]]:
    """Restrict every run to the test ids all of them scored (normally: all test ids)."""
    common = set(runs[0].test.ids)
    for r in runs[1:]:
        common &= set(r.test.ids)
    ids = sorted(common)
    aligned = []
    for r in runs:
        pos = {k: i for i, k in enumerate(r.test.ids)}
        idx = [pos[k] for k in ids]
        p = r.test
        aligned.append(Predictions(ids, ["test"] * len(ids), p.y_true[idx], p.y_pred[idx],
                                   p.scores[idx], p.classes))
    return ids, aligned


def _gap(a: dict[str, np.ndarray], b: dict[str, np.ndarray], pa: Predictions,
         pb: Predictions, point_a: float, point_b: float) -> dict[str, Any]:
    """a - b in balanced accuracy: point value, paired bootstrap CI, McNemar p-value."""
    lo, hi = percentile_ci(a["balanced_accuracy"] - b["balanced_accuracy"], LEVEL)
    test = mcnemar_exact(pa.y_pred == pa.y_true, pb.y_pred == pb.y_true)
    return {"balanced_accuracy_gap": round(point_a - point_b, 6), "ci": [lo, hi],
            "only_this_correct": test["a_only_correct"],
            "only_other_correct": test["b_only_correct"],
            "mcnemar_p": test["p_value"], "significant": bool(lo > 0 or hi < 0)}


def analyse_task(task: str, runs: Sequence[RunInfo], n_boot: int, seed: int) -> dict[str, Any]:
    ids, preds = _align(runs)
    classes = preds[0].classes
    counts = bootstrap_counts(len(ids), n_boot, seed)
    dists = [bootstrap_distribution(p.y_true, p.y_pred, len(classes), counts, p.scores)
             for p in preds]
    points = [p.metrics() for p in preds]
    names = [r.name for r in runs]
    val = [r.val_score for r in runs]
    best = int(np.argmax(val))  # chosen on val, like every choice in emofeat
    finetuned = [i for i, r in enumerate(runs) if r.family == "finetune"]
    ft = max(finetuned, key=lambda i: val[i]) if finetuned else None

    rows = []
    for i, r in enumerate(runs):
        metrics = {}
        for key in (*HEADLINE, "roc_auc"):
            if key in points[i] and key in dists[i]:
                metrics[key] = {"value": points[i][key],
                                "ci": list(percentile_ci(dists[i][key], LEVEL))}
        row = {"run": r.name, "kind": r.kind, "family": r.family, "classifier": r.classifier,
               "features": r.features, "backbone": r.backbone, "weights": r.weights,
               "layer": r.layer, "val_balanced_accuracy": round(val[i], 6),
               "metrics": metrics,
               "per_class_f1": {c: v["f1"] for c, v in points[i]["per_class"].items()},
               "confusion_matrix": points[i]["confusion_matrix"]}
        if i != best:
            row["vs_best"] = _gap(dists[i], dists[best], preds[i], preds[best],
                                  points[i]["balanced_accuracy"],
                                  points[best]["balanced_accuracy"])
        if ft is not None and i != ft:
            row["vs_finetune"] = _gap(dists[i], dists[ft], preds[i], preds[ft],
                                      points[i]["balanced_accuracy"],
                                      points[ft]["balanced_accuracy"])
        rows.append(row)
    order = sorted(range(len(rows)), key=lambda i: -points[i]["balanced_accuracy"])
    return {
        "classes": list(classes),
        "n_test": len(ids),
        "n_runs": len(runs),
        "best": names[best],
        "finetune": names[ft] if ft is not None else None,
        "rows": [rows[i] for i in order],
        "transfer": _transfer(runs, points, dists, preds, val),
        "by_layer": _by_layer(runs, points),
    }


def _transfer(runs: Sequence[RunInfo], points: list[dict], dists: list[dict],
              preds: list[Predictions], val: list[float]) -> dict[str, Any]:
    """Frozen pretrained vs random-init features vs fine-tuned vs majority class: in each
    family the run with the best val score (test decides nothing)."""
    chosen: dict[str, int] = {}
    for family in ("pretrained", "random", "finetune", "majority", "colour"):
        members = [i for i, r in enumerate(runs) if r.family == family]
        if members:
            chosen[family] = max(members, key=lambda i: val[i])
    entries = {f: {"run": runs[i].name,
                   "val_balanced_accuracy": round(val[i], 6),
                   "balanced_accuracy": points[i]["balanced_accuracy"],
                   "ci": list(percentile_ci(dists[i]["balanced_accuracy"], LEVEL)),
                   "accuracy": points[i]["accuracy"]}
               for f, i in chosen.items()}
    gaps = []
    for a, b, label in (("pretrained", "random", "ImageNet pretraining (frozen) vs random init"),
                        ("finetune", "pretrained", "fine-tuning vs frozen pretrained features"),
                        ("pretrained", "majority", "frozen pretrained features vs majority"),
                        ("pretrained", "colour", "frozen pretrained vs hand-crafted colour")):
        if a in chosen and b in chosen:
            i, j = chosen[a], chosen[b]
            gaps.append({"comparison": label, "a": a, "b": b,
                         **_gap(dists[i], dists[j], preds[i], preds[j],
                                points[i]["balanced_accuracy"], points[j]["balanced_accuracy"])})
    return {"best_of_family": entries, "gaps": gaps}


def _by_layer(runs: Sequence[RunInfo], points: list[dict]) -> dict[str, dict[str, float]]:
    """Balanced accuracy per layer for each (classifier, backbone, weights) of frozen runs."""
    table: dict[str, dict[str, float]] = {}
    for i, r in enumerate(runs):
        if r.family not in ("pretrained", "random"):
            continue
        key = f"{r.classifier} on {r.backbone} ({r.weights})"
        table.setdefault(key, {})[r.layer] = points[i]["balanced_accuracy"]
    return table


def analyse(runs: Sequence[RunInfo], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    by_task: dict[str, list[RunInfo]] = {}
    for r in runs:
        by_task.setdefault(r.task, []).append(r)
    order = sorted(by_task, key=lambda t: ({"valence": 0, "emotion8": 1}.get(t, 2), t))
    return {t: analyse_task(t, by_task[t], n_boot, seed) for t in order}

