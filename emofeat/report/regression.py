"""The numbers of a rating task's report: Pearson r and MAE with bootstrap intervals,
Spearman rho and R^2, each run's r against the best run's (paired), per rating task.

As everywhere in emofeat, "best" is chosen on val (the lowest val MAE, the criterion the
regressors were tuned by), never on test. r gaps are taken against the best on val among
runs with a defined r (the best itself, unless that predicts a constant, as the mean rating
does). Every number comes from the runs' predictions.csv.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emofeat.metrics import LEVEL, bootstrap_counts, bootstrap_regression, percentile_ci
from emofeat.report.collect import RunInfo, common_test_rows
from emofeat.report.families import FAMILIES
from emofeat.report.model import Estimate, RatingGap, RegressionReport, RegressionRow
from emofeat.runs import RatingPredictions


@dataclass(frozen=True, eq=False)
class _Scored:
    """One run on the test images all runs share: point metrics and bootstrap draws."""

    info: RunInfo
    preds: RatingPredictions
    point: dict
    dist: dict[str, np.ndarray]

    def estimate(self, key: str) -> Estimate | None:
        if self.point[key] is None:
            return None
        return Estimate(self.point[key], percentile_ci(self.dist[key], LEVEL))

    def gap(self, other: _Scored) -> RatingGap | None:
        """self - other in Pearson r, paired on the same resamples (None: self is other, or
        an r is undefined)."""
        if self is other or self.point["pearson_r"] is None or other.point["pearson_r"] is None:
            return None
        lo, hi = percentile_ci(self.dist["pearson_r"] - other.dist["pearson_r"], LEVEL)
        return RatingGap(pearson_r_gap=round(self.point["pearson_r"] - other.point["pearson_r"],
                                             6), ci=(lo, hi), significant=bool(lo > 0 or hi < 0))


def aligned(runs: Sequence[RunInfo]) -> list[RatingPredictions]:
    """Every run's test ratings restricted to the test ids all of them scored, id order."""
    tests = [r.test for r in runs]
    assert all(isinstance(t, RatingPredictions) for t in tests)
    ids, rows = common_test_rows(runs)
    return [RatingPredictions(ids, ["test"] * len(ids), t.y_true[idx], t.y_pred[idx])
            for t, idx in zip(tests, rows, strict=True)]


def _row(s: _Scored, reference: _Scored | None) -> RegressionRow:
    r, mae = s.info, s.estimate("mae")
    assert mae is not None  # defined whenever there are test images
    return RegressionRow(
        run=r.name, kind=r.kind, family=r.family, model=r.classifier, features=r.features,
        backbone=r.backbone, weights=r.weights, layer=r.layer, val_mae=round(r.val_mae, 6),
        pearson_r=s.estimate("pearson_r"), mae=mae, spearman_rho=s.point["spearman_rho"],
        r2=s.point["r2"], vs_best=s.gap(reference) if reference else None)


def _lowest_val_mae(scored: Sequence[_Scored]) -> _Scored | None:
    return min(scored, key=lambda s: s.info.val_mae) if scored else None


def analyse_rating_task(runs: Sequence[RunInfo], n_boot: int, seed: int) -> RegressionReport:
    preds = aligned(runs)
    counts = bootstrap_counts(len(preds[0].ids), n_boot, seed)
    scored = [_Scored(r, p, p.metrics(), bootstrap_regression(p.y_true, p.y_pred, counts))
              for r, p in zip(runs, preds, strict=True)]
    best = _lowest_val_mae(scored)
    assert best is not None
    # r gaps need an r: against the best on val among runs whose r is defined
    reference = _lowest_val_mae([s for s in scored if s.point["pearson_r"] is not None])
    order = sorted(scored, key=lambda s: (s.point["pearson_r"] is None,
                                          -(s.point["pearson_r"] or 0.0)))
    families = {f.key: chosen.info.name for f in FAMILIES
                if (chosen := _lowest_val_mae([s for s in scored if s.info.family == f.key]))}
    return RegressionReport(
        n_test=len(preds[0].ids), n_runs=len(runs), best=best.info.name,
        r_reference=reference.info.name if reference else None,
        rows=tuple(_row(s, reference) for s in order), best_of_family=families)


def analyse_ratings(runs: Sequence[RunInfo], n_boot: int = 1000, seed: int = 0
                    ) -> dict[str, RegressionReport]:
    """A report per rating task, in task order (valence before arousal)."""
    by_task: dict[str, list[RunInfo]] = {}
    for r in runs:
        by_task.setdefault(r.task, []).append(r)
    order = sorted(by_task, key=lambda t: ({"valence_score": 0, "arousal_score": 1}.get(t, 2), t))
    return {t: analyse_rating_task(by_task[t], n_boot, seed) for t in order}
