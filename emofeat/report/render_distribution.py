"""The distribution task's part of report.md and report.html: its table, its note and its
figure (the templates lay them out)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from emofeat.report.families import family
from emofeat.report.model import DistributionGap, DistributionReport, DistributionRow, Report
from emofeat.report.table import Table

#: Measure -> column label, with the direction that is better.
COLUMNS = {"kl_divergence": "KL ↓", "chebyshev": "Chebyshev ↓", "clark": "Clark ↓",
           "canberra": "Canberra ↓", "cosine": "cosine ↑", "intersection": "intersection ↑",
           "top1_accuracy": "top-1 acc. ↑"}


def _estimate(row: DistributionRow, key: str) -> str:
    m = row.metrics[key]
    return f"{m.value:.3f} [{m.ci[0]:.2f}, {m.ci[1]:.2f}]"


def _gap(gap: DistributionGap | None) -> str:
    if gap is None:
        return "-"
    mark = "*" if gap.significant else ""
    return f"{gap.kl_divergence_gap:+.3f}{mark} [{gap.ci[0]:+.2f}, {gap.ci[1]:+.2f}]"


def distribution_table(task: DistributionReport) -> Any:
    """Every run, lowest test KL first: each measure with its interval, and its KL gap to
    the best run on val."""
    header = ("run", "features / layer", "model", "val KL", *COLUMNS.values(),
              f"KL vs best: {task.best} [95% CI]")
    rows = [[r.run, r.features, r.model, f"{r.val_kl_divergence:.3f}",
             *(_estimate(r, k) for k in COLUMNS), _gap(r.vs_best)] for r in task.rows]
    return Table(header, rows, numeric_from=3, nowrap=(2,), names=(0,))


def distribution_note(report: Report, task: DistributionReport) -> str:
    from emofeat.metrics import LDL_EPS

    return (f"Each run predicts the share of annotators who felt each of {len(task.classes)} "
            f"emotions ({', '.join(task.classes)}). Best on val (lowest mean KL divergence, "
            f"the criterion the models were tuned by): {task.best}. The six measures of "
            "label distribution learning (Geng 2016), averaged over test images, with 95% "
            f"intervals from {report.n_boot} bootstrap resamples: Chebyshev, Clark, Canberra "
            "and KL divergence (↓ lower is better), cosine and intersection (↑ higher is "
            "better); top-1 acc. is how often the predicted dominant emotion is the "
            "annotators'. Clark, Canberra and KL clip shares to at least "
            f"{LDL_EPS:.3g} (a predicted zero share costs KL a large finite amount). "
            "'KL vs best' is a run's KL minus the best run's, paired on the same resamples "
            "(* = the interval excludes 0; negative = closer to the annotators).")


def distribution_context(report: Report,
                         figures: Callable[[str], Mapping[str, bytes]] | None,
                         uri: Callable[[bytes], str]) -> list[dict[str, Any]]:
    out = []
    for name, task in (report.distribution or {}).items():
        figs = figures(name) if figures else {}
        out.append({"name": name, "n_test": task.n_test, "n_classes": len(task.classes),
                    "note": distribution_note(report, task),
                    "runs": distribution_table(task),
                    "figures": {k: uri(v) for k, v in figs.items()}})
    return out


def distribution_figures(name: str, task: DistributionReport) -> dict[str, bytes]:
    from emofeat.report import plots

    colours = {run: (f"{family(key).label}: {run}", family(key).colour)
               for key, run in task.best_of_family.items()}
    return {"bars": plots.distribution_bars(name, task.classes, task.images, colours)}
