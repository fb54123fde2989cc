"""The numbers of a report: metrics with bootstrap intervals, paired tests, the transfer
summary and accuracy by layer, per task, computed from the runs' test predictions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from emofeat.metrics import (
    HEADLINE,
    LEVEL,
    bootstrap_counts,
    bootstrap_distribution,
    bootstrap_p,
    holm,
    mcnemar_exact,
    percentile_ci,
)
from emofeat.report.collect import RunInfo
from emofeat.report.families import FAMILIES, family
from emofeat.report.model import (
    Estimate,
    FamilyBest,
    Gap,
    PromptRow,
    RunRow,
    TaskReport,
    Transfer,
)
from emofeat.runs import FeatureRun, Predictions, ZeroshotRun
from emofeat.taxonomy import in_task_order

log = logging.getLogger(__name__)


#: The gaps of the transfer summary: (family a, family b, what a - b measures).
COMPARISONS = (
    ("pretrained", "random", "ImageNet pretraining (frozen) vs random init"),
    ("finetune", "pretrained", "fine-tuning vs frozen pretrained features"),
    ("pretrained", "majority", "frozen pretrained features vs majority"),
    ("pretrained", "colour", "frozen pretrained vs hand-crafted colour"),
)


@dataclass(frozen=True, eq=False)
class _Scored:
    """One run of a task on the test images all runs share: point metrics, bootstrap."""

    info: RunInfo
    preds: Predictions
    point: dict[str, Any]
    dist: dict[str, np.ndarray]
    val: float

    def estimate(self, key: str) -> Estimate:
        return Estimate(self.point[key], percentile_ci(self.dist[key], LEVEL))

    def gap(self, other: _Scored, **names: str) -> Gap:
        """self - other in balanced accuracy: paired bootstrap CI and p-value; McNemar's
        p-value on accuracy."""
        key = "balanced_accuracy"
        diff = self.dist[key] - other.dist[key]
        lo, hi = percentile_ci(diff, LEVEL)
        test = mcnemar_exact(self.preds.y_pred == self.preds.y_true,
                             other.preds.y_pred == other.preds.y_true)
        return Gap(**names, balanced_accuracy_gap=round(self.point[key] - other.point[key], 6),
                   ci=(lo, hi), only_this_correct=test["a_only_correct"],
                   only_other_correct=test["b_only_correct"], mcnemar_p=test["p_value"],
                   significant=bool(lo > 0 or hi < 0), bootstrap_p=bootstrap_p(diff))


def _align(runs: Sequence[RunInfo]) -> tuple[list[str], list[Predictions]]:
    """Restrict every run to the test ids all of them scored (normally: all test ids); a
    warning says how many were left out and which runs lack some."""
    common = set(runs[0].test.ids)
    every: set[str] = set()
    for r in runs:
        common &= set(r.test.ids)
        every |= set(r.test.ids)
    ids = sorted(common)
    if dropped := len(every) - len(ids):
        short = [r.name for r in runs if len(r.test.ids) < len(every)]
        log.warning("%s: %d of %d test images left out of the comparison: not every run "
                    "scored them (%s lack some)", runs[0].task, dropped, len(every),
                    ", ".join(short[:5]) + (" ..." if len(short) > 5 else ""))
    aligned = []
    for r in runs:
        pos = {k: i for i, k in enumerate(r.test.ids)}
        idx = [pos[k] for k in ids]
        p = r.test
        aligned.append(Predictions(ids, ["test"] * len(ids), p.y_true[idx], p.y_pred[idx],
                                   p.scores[idx], p.classes))
    return ids, aligned


def _score(runs: Sequence[RunInfo], n_boot: int, seed: int) -> list[_Scored]:
    ids, preds = _align(runs)
    counts = bootstrap_counts(len(ids), n_boot, seed)
    return [_Scored(r, p, p.metrics(),
                    bootstrap_distribution(p.y_true, p.y_pred, len(p.classes), counts, p.scores),
                    r.val_score)
            for r, p in zip(runs, preds, strict=True)]


def _row(s: _Scored, ref: _Scored, ft: _Scored | None) -> RunRow:
    r = s.info
    return RunRow(
        run=r.name, kind=r.kind, family=r.family, classifier=r.classifier,
        features=r.features, backbone=r.backbone, weights=r.weights, layer=r.layer,
        val_balanced_accuracy=round(s.val, 6),
        metrics={k: s.estimate(k) for k in (*HEADLINE, "roc_auc")
                 if k in s.point and k in s.dist},
        per_class_f1={c: v["f1"] for c, v in s.point["per_class"].items()},
        confusion_matrix=tuple(map(tuple, s.point["confusion_matrix"])),
        vs_best=s.gap(ref) if s is not ref else None,
        vs_finetune=s.gap(ft) if ft is not None and s is not ft and ft is not ref else None)


def _holm_rows(rows: Sequence[RunRow]) -> list[RunRow]:
    """Holm-adjust each column of gaps (all runs against one reference) on its own."""
    out = list(rows)
    for column in ("vs_best", "vs_finetune"):
        at = [i for i, r in enumerate(out) if getattr(r, column) is not None]
        gaps = [getattr(out[i], column) for i in at]
        for i, gap, p in zip(at, gaps, holm([g.bootstrap_p for g in gaps]), strict=True):
            out[i] = replace(out[i], **{column: replace(gap, holm_p=p)})
    return out


def _best(scored: Sequence[_Scored]) -> _Scored | None:
    """The run with the best val score (chosen on val, like every choice in emofeat)."""
    return max(scored, key=lambda s: s.val) if scored else None


def analyse_task(runs: Sequence[RunInfo], n_boot: int, seed: int) -> TaskReport:
    scored = _score(runs, n_boot, seed)
    best = _best(scored)
    assert best is not None
    # the reference is a model: a baseline that wins on a small val set names no method
    ref = _best([s for s in scored if not family(s.info.family).baseline]) or best
    ft = _best([s for s in scored if s.info.family == "finetune"])
    order = sorted(scored, key=lambda s: -s.point["balanced_accuracy"])
    rows = tuple(_holm_rows([_row(s, ref, ft) for s in order]))
    n_all = len({i for r in runs for i in r.test.ids})
    return TaskReport(
        classes=tuple(scored[0].preds.classes), n_test=len(scored[0].preds.ids),
        n_runs=len(runs), best=best.info.name, finetune=ft.info.name if ft else None,
        rows=rows, transfer=_transfer(scored), by_layer=_by_layer(scored),
        reference=ref.info.name, test_ids_dropped=(n_all - len(scored[0].preds.ids)) or None,
        prompts=_prompt_rows(runs) or None)


def _prompt_rows(runs: Sequence[RunInfo]) -> tuple[PromptRow, ...]:
    """Every template's val and test balanced accuracy of each zero-shot run (as the run
    scored them on its own val and test images)."""
    rows = []
    for r in runs:
        if isinstance(r.record, ZeroshotRun):
            rows += [PromptRow(run=r.name, template=p["template"],
                               val_balanced_accuracy=p["val_balanced_accuracy"],
                               test_balanced_accuracy=p["test_balanced_accuracy"],
                               used=p["template"] == r.record.chosen)
                     for p in r.record.prompt_table]
    return tuple(rows)


def _transfer(scored: Sequence[_Scored]) -> Transfer:
    """The best run on val of every family (test decides nothing), and the gaps between."""
    chosen: dict[str, _Scored] = {}
    for f in FAMILIES:
        if (best := _best([s for s in scored if s.info.family == f.key])) is not None:
            chosen[f.key] = best
    entries = {f: FamilyBest(run=s.info.name, val_balanced_accuracy=round(s.val, 6),
                             balanced_accuracy=s.point["balanced_accuracy"],
                             ci=percentile_ci(s.dist["balanced_accuracy"], LEVEL),
                             accuracy=s.point["accuracy"])
               for f, s in chosen.items()}
    gaps = tuple(chosen[a].gap(chosen[b], comparison=label, a=a, b=b)
                 for a, b, label in COMPARISONS if a in chosen and b in chosen)
    if "zeroshot" in chosen and (probe := _probe_of(chosen["zeroshot"], scored)) is not None:
        zs = chosen["zeroshot"]
        gaps += (zs.gap(probe, comparison=f"zero-shot vs {probe.info.classifier} probe of the "
                        f"same image tower ({zs.info.backbone})", a="zeroshot",
                        b=probe.info.family),)
    return Transfer(best_of_family=entries, gaps=gaps)


#: Classifiers that are linear probes, preferred in the zero-shot comparison.
LINEAR_PROBES = ("logreg",)


def _probe_of(zs: _Scored, scored: Sequence[_Scored]) -> _Scored | None:
    """The best run on val of frozen features of the zero-shot run's own image tower and
    weights (pretrained, or the same random init): a linear probe where there is one, else
    any classifier."""
    def tower(record: Any) -> tuple[Any, ...]:
        w = record.weights if isinstance(record, ZeroshotRun) else record.features.weights
        return (w.get("source"), w.get("sha256"), w.get("seed"))

    same = [s for s in scored if isinstance(s.info.record, FeatureRun)
            and family(s.info.family).frozen_backbone and s.info.backbone == zs.info.backbone
            and tower(s.info.record) == tower(zs.info.record)]
    return _best([s for s in same if s.info.classifier in LINEAR_PROBES]) or _best(same)


def series_name(classifier: str, backbone: str, weights: str) -> str:
    """A line of the by-layer chart: "<classifier> on <backbone>, <weights>"."""
    return f"{classifier} on {backbone}, {weights}"


def layer_series(run: RunInfo) -> str:
    """The line of the by-layer chart a run of a frozen backbone belongs to."""
    return series_name(run.classifier, run.backbone, run.weights)


def _by_layer(scored: Sequence[_Scored]) -> dict[str, dict[str, float]]:
    """Balanced accuracy per layer for each (classifier, backbone, weights) of frozen runs."""
    table: dict[str, dict[str, float]] = {}
    for s in scored:
        if family(s.info.family).frozen_backbone:
            table.setdefault(layer_series(s.info), {})[s.info.layer] = \
                s.point["balanced_accuracy"]
    return table


def analyse(runs: Sequence[RunInfo], n_boot: int = 1000, seed: int = 0) -> dict[str, TaskReport]:
    by_task: dict[str, list[RunInfo]] = {}
    for r in runs:
        by_task.setdefault(r.task, []).append(r)
    order = in_task_order(by_task)
    return {t: analyse_task(by_task[t], n_boot, seed) for t in order}
