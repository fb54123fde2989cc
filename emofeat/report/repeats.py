"""Runs of one configuration on several splits or with several seeds, aggregated.

A configuration is (task, family, classifier, features and layer): runs that differ only
in their split (k folds, R random splits) and their training seed. Per configuration: the
mean and standard deviation of each test metric across its runs, their spread between
splits and between seeds, and the metric on the pooled test predictions with a bootstrap
interval over test images. The transfer comparisons (pretrained vs random init, fine-tuned
vs frozen, ...) are made split by split, between each family's configuration with the best
mean val score, and then combined: mean gap, its spread, how many splits agree in sign, and
Nadeau and Bengio's corrected resampled t-test. Runs of different splits are never paired.
See :mod:`emofeat.report.repeats_model` for which uncertainty each number carries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

import numpy as np

from emofeat.metrics import (
    HEADLINE,
    LEVEL,
    bootstrap_counts,
    bootstrap_distribution,
    classification_metrics,
    percentile_ci,
)
from emofeat.report.collect import RunInfo, config_key
from emofeat.report.families import FAMILIES
from emofeat.report.repeats_model import (
    Aggregate,
    ConfigSummary,
    RepeatedGap,
    RepeatsReport,
    RepeatsTask,
)
from emofeat.runs import FeatureRun, FinetuneRun
from emofeat.taxonomy import in_task_order


def run_seed(run: RunInfo) -> int:
    """The training seed of a run (0 for runs without one, such as the majority class)."""
    record = run.record
    if isinstance(record, FinetuneRun):
        return int(record.hyperparameters.get("seed", 0))
    if isinstance(record, FeatureRun):
        return int(record.options.get("seed", 0))
    return 0


def natural_key(name: str) -> tuple[tuple[int, str], ...]:
    """Sort key reading digit runs as numbers: fold-2 before fold-10."""
    return tuple((int(part), "") if part.isdigit() else (-1, part)
                 for part in re.split(r"(\d+)", name))


def split_labels(runs: Sequence[RunInfo]) -> dict[str, str]:
    """SHA-256 -> label, in the order of the runs' names: the runs' first folder where it
    tells the splits apart (``fold-2``), else ``split 1``, ``split 2``, ..."""
    tops: dict[str, set[str]] = {}
    for r in sorted(runs, key=lambda r: natural_key(r.name)):
        tops.setdefault(r.record.splits_sha256, set()).add(PurePosixPath(r.name).parts[0])
    firsts = [next(iter(t)) if len(t) == 1 else None for t in tops.values()]
    if None not in firsts and len(set(firsts)) == len(firsts) and len(tops) > 1:
        return {sha: str(top) for sha, top in zip(tops, firsts, strict=True)}
    return {sha: f"split {i + 1}" for i, sha in enumerate(tops)}


def is_repeated(runs: Sequence[RunInfo]) -> bool:
    """Whether the runs hold several splits, or a configuration with several seeds."""
    if len({r.record.splits_sha256 for r in runs}) > 1:
        return True
    seeds: dict[tuple[str, ...], set[int]] = {}
    for r in runs:
        seeds.setdefault(config_key(r), set()).add(run_seed(r))
    return any(len(s) > 1 for s in seeds.values())


def _sd(values: Sequence[float]) -> float | None:
    return round(float(np.std(values, ddof=1)), 6) if len(values) > 1 else None


def _pooled(runs: Sequence[RunInfo], n_boot: int, seed: int) -> dict[str, tuple[float, ...]]:
    """Each headline metric on the pooled test predictions, and its bootstrap interval
    resampling test images (an image drawn carries its predictions from every run)."""
    preds = [r.test for r in runs]
    ids = [i for p in preds for i in p.ids]
    unique = {k: n for n, k in enumerate(dict.fromkeys(sorted(ids)))}
    rows = np.array([unique[i] for i in ids])
    y_true = np.concatenate([p.y_true for p in preds])
    y_pred = np.concatenate([p.y_pred for p in preds])
    classes = preds[0].classes
    counts = bootstrap_counts(len(unique), n_boot, seed)[:, rows]
    dist = bootstrap_distribution(y_true, y_pred, len(classes), counts)
    point = classification_metrics(y_true, y_pred, classes)
    return {k: (point[k], *percentile_ci(dist[k], LEVEL)) for k in HEADLINE}


def _aggregate(runs: Sequence[RunInfo], labels: dict[str, str], key: str,
               pooled: tuple[float, ...]) -> Aggregate:
    values = [float(r.test.metrics()[key]) for r in runs]
    by_split: dict[str, list[float]] = {}
    for r, v in zip(runs, values, strict=True):
        by_split.setdefault(labels[r.record.splits_sha256], []).append(v)
    means = [float(np.mean(v)) for v in by_split.values()]
    within = [v for v in by_split.values() if len(v) > 1]
    sd_seeds = None
    if within:  # pooled within-split standard deviation
        ss = sum(float(np.sum((np.asarray(v) - np.mean(v)) ** 2)) for v in within)
        sd_seeds = round(float(np.sqrt(ss / sum(len(v) - 1 for v in within))), 6)
    return Aggregate(mean=round(float(np.mean(values)), 6), sd=_sd(values),
                     sd_splits=_sd(means), sd_seeds=sd_seeds, pooled=pooled[0],
                     pooled_ci=(pooled[1], pooled[2]))


def _summary(runs: Sequence[RunInfo], labels: dict[str, str], n_boot: int, seed: int
             ) -> ConfigSummary:
    first = runs[0]
    pooled = _pooled(runs, n_boot, seed)
    return ConfigSummary(
        family=first.family, classifier=first.classifier, features=first.features,
        runs=tuple(r.name for r in runs),
        splits=tuple(dict.fromkeys(labels[r.record.splits_sha256] for r in runs)),
        seeds=tuple(sorted({run_seed(r) for r in runs})),
        val_balanced_accuracy=round(float(np.mean([r.val_score for r in runs])), 6),
        metrics={k: _aggregate(runs, labels, k, pooled[k]) for k in HEADLINE})


def nadeau_bengio(gaps: Sequence[float], test_train_ratio: float | None
                  ) -> tuple[float | None, float | None]:
    """Nadeau and Bengio's corrected resampled t-test of J per-split differences: the
    variance is inflated by ``1/J + n_test/n_train`` because training sets overlap; J - 1
    degrees of freedom; two-sided p. (None, None) with fewer than 2 splits, no spread or
    no ratio."""
    from scipy.stats import t as student_t

    j = len(gaps)
    if j < 2 or test_train_ratio is None:
        return None, None
    var = float(np.var(gaps, ddof=1))
    if var <= 0:
        return None, None
    t = float(np.mean(gaps)) / np.sqrt((1 / j + test_train_ratio) * var)
    return round(t, 6), float(2 * student_t.sf(abs(t), j - 1))


def _ratio(runs: Sequence[RunInfo]) -> float | None:
    """n_test / n_train of the runs' splits (train: what a model learned from, train+val)."""
    ratios = [r.record.n["test"] / (r.record.n.get("train", 0) + r.record.n.get("val", 0))
              for r in runs if r.record.n.get("train", 0) + r.record.n.get("val", 0) > 0]
    return round(float(np.mean(ratios)), 6) if ratios else None


def _gap(comparison: tuple[str, str, str], chosen: dict[str, list[RunInfo]],
         labels: dict[str, str]) -> RepeatedGap | None:
    a, b, what = comparison
    if a not in chosen or b not in chosen:
        return None
    per_split: dict[str, float] = {}
    for sha, label in labels.items():  # one split at a time: runs are paired within it
        ra = [r.test.metrics()["balanced_accuracy"] for r in chosen[a]
              if r.record.splits_sha256 == sha]
        rb = [r.test.metrics()["balanced_accuracy"] for r in chosen[b]
              if r.record.splits_sha256 == sha]
        if ra and rb:
            per_split[label] = round(float(np.mean(ra) - np.mean(rb)), 6)
    if not per_split:
        return None
    gaps = list(per_split.values())
    mean = float(np.mean(gaps))
    ratio = _ratio(chosen[a])
    t, p = nadeau_bengio(gaps, ratio)
    return RepeatedGap(comparison=what, a=a, b=b, a_config=_describe(chosen[a][0]),
                       b_config=_describe(chosen[b][0]), per_split=per_split,
                       mean_gap=round(mean, 6), sd_gap=_sd(gaps),
                       agree=sum(1 for g in gaps if np.sign(g) == np.sign(mean)),
                       n_splits=len(gaps), test_train_ratio=ratio, t=t, p_value=p)


def _describe(run: RunInfo) -> str:
    return f"{run.classifier} · {run.features}"


def _task(runs: Sequence[RunInfo], labels: dict[str, str], n_boot: int, seed: int,
          left_out: list[str]) -> RepeatsTask:
    from emofeat.report.analysis import COMPARISONS

    groups: dict[tuple[str, ...], list[RunInfo]] = {}
    for r in sorted(runs, key=lambda r: r.name):
        groups.setdefault(config_key(r), []).append(r)
    for key, members in list(groups.items()):
        units = [(m.record.splits_sha256, run_seed(m)) for m in members]
        if len(set(units)) < len(units):
            left_out.append(f"{' · '.join(key[1:])} ({key[0]}): several runs share a split "
                            f"and a seed ({', '.join(m.name for m in members[:3])}); left out")
            del groups[key]
    summaries = {key: _summary(members, labels, n_boot, seed) for key, members in groups.items()}
    chosen: dict[str, list[RunInfo]] = {}
    for f in FAMILIES:
        keys = [k for k in groups if summaries[k].family == f.key]
        if keys:
            chosen[f.key] = groups[max(keys, key=lambda k: summaries[k].val_balanced_accuracy)]
    gaps = tuple(g for c in COMPARISONS if (g := _gap(c, chosen, labels)) is not None)
    order = sorted(summaries.values(), key=lambda s: -s.metrics["balanced_accuracy"].mean)
    position = {id(s): i for i, s in enumerate(order)}
    return RepeatsTask(configs=tuple(order), gaps=gaps, chosen={
        f: position[id(summaries[config_key(runs_[0])])] for f, runs_ in chosen.items()})


def analyse_repeats(runs: Sequence[RunInfo], n_boot: int = 1000, seed: int = 0
                    ) -> RepeatsReport:
    """The repeats section over classification runs of one data set (any splits)."""
    labels = split_labels(runs)
    left_out: list[str] = []
    tasks = {}
    for task in in_task_order(r.task for r in runs if r.is_classification):
        tasks[task] = _task([r for r in runs if r.task == task], labels, n_boot, seed,
                            left_out)
    return RepeatsReport(splits={label: sha for sha, label in labels.items()},
                         reference_split=next(iter(labels.values())), tasks=tasks,
                         left_out=tuple(left_out))
