"""The repeats section's cells (both formats), and the lines saying which uncertainty each
number carries; laid out by ``templates/_repeats.md.j2`` and ``_repeats.html.j2``."""

from __future__ import annotations

from typing import Any

from emofeat.report.families import FAMILIES, family
from emofeat.report.model import Report
from emofeat.report.repeats_model import Aggregate, RepeatedGap, RepeatsReport, RepeatsTask
from emofeat.report.table import Table

CONFIG_HEADER = ("configuration", "family", "splits x seeds", "val balanced acc. (mean)",
                 "balanced acc. mean ± sd", "sd between splits", "sd between seeds",
                 "pooled balanced acc. [95% CI]", "accuracy mean ± sd", "macro-F1 mean ± sd")
GAP_HEADER = ("comparison", "a (chosen on val)", "b (chosen on val)", "gap per split",
              "mean gap ± sd", "splits agreeing in sign", "corrected t (df)", "p")

UNCERTAINTY = (
    "mean ± sd: across every run of a configuration (splits and seeds together).",
    "sd between splits: of the per-split means (over seeds), across splits: how much "
    "another split moves the result.",
    "sd between seeds: the spread across training seeds within a split (pooled over "
    "splits): how much another seed moves the result.",
    "pooled [95% CI]: balanced accuracy of all the configuration's test predictions "
    "together, with a bootstrap interval that resamples test images (an image keeps its "
    "predictions from every run): test-image sampling only, not split or seed.",
    "gaps: each family's configuration with the best mean val score; on each split, a's "
    "mean over its seeds minus b's, never pairing runs of different splits; then the mean "
    "and sd across splits, how many splits agree with the mean's sign, and Nadeau and "
    "Bengio's corrected resampled t-test (variance times 1/J + n_test/n_train, J - 1 "
    "degrees of freedom), which accounts for the splits' overlapping training sets.",
)


def _pm(a: Aggregate) -> str:
    return f"{a.mean:.3f}" + ("" if a.sd is None else f" ± {a.sd:.3f}")


def _opt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _config_rows(task: RepeatsTask) -> list[list[str]]:
    rows = []
    for c in task.configs:
        ba = c.metrics["balanced_accuracy"]
        rows.append([
            f"{c.classifier} · {c.features}", family(c.family).label,
            f"{len(c.splits)} x {len(c.seeds)}", f"{c.val_balanced_accuracy:.3f}", _pm(ba),
            _opt(ba.sd_splits), _opt(ba.sd_seeds),
            f"{ba.pooled:.3f} [{ba.pooled_ci[0]:.3f}, {ba.pooled_ci[1]:.3f}]",
            _pm(c.metrics["accuracy"]), _pm(c.metrics["macro_f1"])])
    return rows


def _gap_row(g: RepeatedGap) -> list[str]:
    test = "-" if g.t is None else f"{g.t:+.2f} ({g.n_splits - 1})"
    return [g.comparison, g.a_config, g.b_config,
            ", ".join(f"{k} {v:+.3f}" for k, v in g.per_split.items()),
            f"{g.mean_gap:+.3f}" + ("" if g.sd_gap is None else f" ± {g.sd_gap:.3f}"),
            f"{g.agree}/{g.n_splits}", test,
            "-" if g.p_value is None else f"{g.p_value:.3g}"]


def _intro(rep: RepeatsReport, n_runs: int) -> str:
    splits = ", ".join(f"{k} ({v[:8]})" for k, v in rep.splits.items())
    shown = (f" The per-run tables below show the runs of {rep.reference_split} only."
             if len(rep.splits) > 1 else "")
    return (f"{n_runs} runs on {len(rep.splits)} split(s): {splits}. Each configuration "
            f"is aggregated over its splits and training seeds.{shown}")


def repeats_context(report: Report) -> dict[str, Any] | None:
    """The repeats section's text and tables (as :class:`~emofeat.report.table.Table`), or None."""
    rep = report.repeats
    if rep is None:
        return None
    tasks = [{"name": name,
              "configs": Table(CONFIG_HEADER, _config_rows(task), numeric_from=2),
              "gaps": Table(GAP_HEADER, [_gap_row(g) for g in task.gaps], numeric_from=3)}
             for name, task in rep.tasks.items()]
    return {"intro": _intro(rep, len(report.runs)), "uncertainty": UNCERTAINTY,
            "tasks": tasks, "left_out": list(rep.left_out)}


def summary_lines(rep: RepeatsReport | None) -> list[str]:
    """A line per task for the terminal: per family, the mean ± sd (across splits and
    seeds) of its configuration with the best mean val score (the one its gaps use)."""
    if rep is None:
        return []
    lines = []
    for name, task in rep.tasks.items():
        chosen = {f: task.configs[i] for f, i in (task.chosen or {}).items()}
        lines.append(f"{name} over {len(rep.splits)} split(s) and their seeds, mean ± sd: "
                     + " | ".join(f"{f.label} {_pm(chosen[f.key].metrics['balanced_accuracy'])}"
                                  for f in FAMILIES if f.key in chosen))
    return lines
