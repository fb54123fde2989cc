"""The numbers of the distribution task's report: the six LDL measures (Geng 2016) and
top-1 accuracy, each with a bootstrap interval, and each run's KL divergence against the best
run's, paired on the same resamples.

As everywhere in emofeat, "best" is chosen on val (the lowest val KL divergence, the
criterion the models were tuned by), never on test. Every number comes from the runs'
predictions.csv; the report also keeps a few test images' true and predicted distributions
for its bar charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emofeat.metrics import (
    LDL_METRICS,
    LEVEL,
    bootstrap_counts,
    bootstrap_ldl,
    distribution_metrics,
    percentile_ci,
)
from emofeat.report.collect import RunInfo, common_test_rows
from emofeat.report.families import FAMILIES
from emofeat.report.model import (
    DistributionGap,
    DistributionReport,
    DistributionRow,
    Estimate,
    ShownImage,
)
from emofeat.runs import DistributionPredictions

#: The measures of every row, in table order.
ROW_METRICS = (*LDL_METRICS, "top1_accuracy")
#: Test images drawn as bar charts.
N_SHOWN = 4


@dataclass(frozen=True, eq=False)
class _Scored:
    info: RunInfo
    preds: DistributionPredictions
    point: dict
    draws: dict[str, np.ndarray]

    def gap(self, other: _Scored) -> DistributionGap | None:
        """self - other in mean KL divergence, paired on the same resamples."""
        if self is other:
            return None
        lo, hi = percentile_ci(self.draws["kl_divergence"] - other.draws["kl_divergence"],
                               LEVEL)
        return DistributionGap(
            kl_divergence_gap=round(self.point["kl_divergence"] - other.point["kl_divergence"],
                                    6), ci=(lo, hi), significant=bool(lo > 0 or hi < 0))


def aligned(runs: Sequence[RunInfo]) -> list[DistributionPredictions]:
    """Every run's test distributions restricted to the test ids all of them scored, in id
    order (the true distributions are the same in every run of one store or data set)."""
    tests = [r.test for r in runs]
    assert all(isinstance(t, DistributionPredictions) for t in tests)
    ids, rows = common_test_rows(runs)
    return [DistributionPredictions(ids, ["test"] * len(ids), t.y_true[idx], t.y_pred[idx],
                                    t.classes) for t, idx in zip(tests, rows, strict=True)]


def _row(s: _Scored, best: _Scored) -> DistributionRow:
    r = s.info
    return DistributionRow(
        run=r.name, kind=r.kind, family=r.family, model=r.classifier, features=r.features,
        val_kl_divergence=round(r.val_kl_divergence, 6),
        metrics={k: Estimate(s.point[k], percentile_ci(s.draws[k], LEVEL))
                 for k in ROW_METRICS},
        vs_best=s.gap(best))


def _lowest_val_kl(scored: Sequence[_Scored]) -> _Scored | None:
    return min(scored, key=lambda s: s.info.val_kl_divergence) if scored else None


def _shown(scored: Sequence[_Scored], best: _Scored, families: dict[str, str]
           ) -> tuple[ShownImage, ...]:
    """A few test images spread over the dominant emotions (seeded by id order): their
    true distribution and the best run's of each family."""
    truth = best.preds.y_true
    top = truth.argmax(axis=1)
    picked: list[int] = []
    for k in range(truth.shape[1]):  # one image per dominant emotion first, then any
        picked += [int(i) for i in np.flatnonzero(top == k)[:1]]
    picked = (picked + [i for i in range(len(truth)) if i not in picked])[:N_SHOWN]
    by_name = {s.info.name: s for s in scored}
    shown = [by_name[n] for n in dict.fromkeys(families.values())]
    return tuple(ShownImage(id=best.preds.ids[i], true=tuple(round(float(v), 6)
                                                              for v in truth[i]),
                            predicted={s.info.name: tuple(round(float(v), 6)
                                                          for v in s.preds.y_pred[i])
                                       for s in shown})
                 for i in sorted(picked))


def analyse_distribution_task(runs: Sequence[RunInfo], n_boot: int, seed: int
                              ) -> DistributionReport:
    preds = aligned(runs)
    counts = bootstrap_counts(len(preds[0].ids), n_boot, seed)
    scored = [_Scored(r, p, distribution_metrics(p.y_true, p.y_pred),
                      bootstrap_ldl(p.y_true, p.y_pred, counts))
              for r, p in zip(runs, preds, strict=True)]
    best = _lowest_val_kl(scored)
    assert best is not None
    families = {f.key: chosen.info.name for f in FAMILIES
                if (chosen := _lowest_val_kl([s for s in scored if s.info.family == f.key]))}
    order = sorted(scored, key=lambda s: s.point["kl_divergence"])
    return DistributionReport(
        classes=tuple(preds[0].classes), n_test=len(preds[0].ids), n_runs=len(runs),
        best=best.info.name, rows=tuple(_row(s, best) for s in order),
        best_of_family=families, images=_shown(scored, best, families))


def analyse_distributions(runs: Sequence[RunInfo], n_boot: int = 1000, seed: int = 0
                          ) -> dict[str, DistributionReport]:
    """A report per distribution task (runs of one task must share its classes)."""
    by_task: dict[str, list[RunInfo]] = {}
    for r in runs:
        by_task.setdefault(r.task, []).append(r)
    return {t: analyse_distribution_task(by_task[t], n_boot, seed) for t in sorted(by_task)}
