"""report.md and a self-contained report.html (figures inline as PNG data, no network).

The numbers are formatted here, into :class:`Table` cells shared by both formats; the
layout is in the Jinja2 templates ``templates/report.md.j2`` and ``report.html.j2`` (HTML
autoescaped, so run names and labels are always escaped).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Mapping
from typing import Any

from emofeat.report.families import in_order
from emofeat.report.model import (
    Estimate,
    Gap,
    RatingGap,
    RegressionReport,
    RegressionRow,
    Report,
    RunRow,
    TaskReport,
)
from emofeat.report.table import Table

__all__ = ["Table", "html_page", "markdown", "reference", "runs_table", "short_table"]

METRIC_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced acc.",
                 "macro_f1": "macro-F1", "roc_auc": "ROC-AUC"}
FAMILY_HEADER = ("", "run (best on val)", "val balanced acc.", "test balanced acc. [95% CI]")
GAP_HEADER = ("comparison", "balanced-acc. gap", "95% CI (paired bootstrap)",
              "significant (CI excludes 0)", "McNemar p (accuracy)")
#: Below this (Holm-adjusted) p-value a gap in the runs table is marked *.
ALPHA = 0.05
REGRESSION_HEADER = ("run", "features / layer", "model", "val MAE", "Pearson r [95% CI]",
                     "MAE [95% CI]", "Spearman rho", "R²", "r vs best [95% CI]")
SYNTHETIC_NOTE = ("These runs use the SYNTHETIC demo data set: the numbers show the pipeline "
                  "works, they are not a benchmark.")

PROMPT_HEADER = ("run", "template", "val balanced acc.", "test balanced acc.", "used")
PROMPT_NOTE = ("Each template of a zero-shot run scored alone, and the ensemble of all of them "
               "(each class's text embedding averaged over templates): how much the wording "
               "moves the number. The prompts a run predicts with are fixed in advance (the "
               "ensemble) or chosen on val, never on test.")

WARNINGS_TITLE = ("Runs of one family were made with different settings: the family's best "
                  "run and the gaps between families may mix them.")


def _metric(m: Estimate | None) -> str:
    return "-" if m is None else f"{m.value:.3f} [{m.ci[0]:.2f}, {m.ci[1]:.2f}]"


def _pvalue(p: float) -> str:
    return f"{p:.3g}" if p >= 1e-15 else "<1e-15"


def _versus(gap: Gap | None) -> str:
    """A gap in a runs-table column: marked by its Holm-adjusted bootstrap p-value; in a
    report written before those existed, by its interval (shown instead)."""
    if gap is None:
        return "-"
    if gap.holm_p is None:
        mark = "*" if gap.significant else ""
        return f"{gap.balanced_accuracy_gap:+.3f}{mark} [{gap.ci[0]:+.2f}, {gap.ci[1]:+.2f}]"
    mark = "*" if gap.holm_p < ALPHA else ""
    return f"{gap.balanced_accuracy_gap:+.3f}{mark} (p={_pvalue(gap.holm_p)})"


def reference(task: TaskReport) -> str:
    """The run the runs table compares with (older reports: the best on val)."""
    return task.reference or task.best


def runs_table(task: TaskReport) -> Table:
    """Every run, best on test first, with intervals and its gaps to the reference run and
    to the best fine-tuned run, each column headed by the run it compares with."""
    keys = ["accuracy", "balanced_accuracy", "macro_f1"]
    if any("roc_auc" in r.metrics for r in task.rows):
        keys.append("roc_auc")
    versus = [("vs_best", f"vs reference: {reference(task)}")]
    if any(r.vs_finetune is not None for r in task.rows):
        versus.append(("vs_finetune", f"vs fine-tuned: {task.finetune}"))
    header = ("run", "features / layer", "classifier", *(METRIC_LABELS[k] for k in keys),
              *(label for _, label in versus))

    def cells(r: RunRow) -> list[str]:
        return [r.run, r.features, r.classifier, *(_metric(r.metrics.get(k)) for k in keys),
                *(_versus(getattr(r, column)) for column, _ in versus)]

    return Table(header, [cells(r) for r in task.rows], numeric_from=3, nowrap=(2,),
                 names=(0,))


def family_table(task: TaskReport) -> Table:
    """The best run on val of each family; baselines in rows of their own, so marked."""
    best = task.transfer.best_of_family
    ref = reference(task)
    return Table(FAMILY_HEADER, [
        [f"baseline: {f.label}" if f.baseline else f.label,
         f"{b.run} (reference)" if b.run == ref else b.run, f"{b.val_balanced_accuracy:.3f}",
         f"{b.balanced_accuracy:.3f} [{b.ci[0]:.3f}, {b.ci[1]:.3f}]"]
        for f in in_order(best) for b in [best[f.key]]], numeric_from=2, names=(1,))


def gap_table(task: TaskReport) -> Table:
    return Table(GAP_HEADER, [
        [str(g.comparison), f"{g.balanced_accuracy_gap:+.3f}",
         f"[{g.ci[0]:+.3f}, {g.ci[1]:+.3f}]", "yes" if g.significant else "no",
         _pvalue(g.mcnemar_p)] for g in task.transfer.gaps], numeric_from=1)


def prompt_table(task: TaskReport) -> Table:
    """Every zero-shot run's templates with their val and test balanced accuracy."""
    return Table(PROMPT_HEADER, [
        [p.run, p.template, _number(p.val_balanced_accuracy), _number(p.test_balanced_accuracy),
         "yes" if p.used else ""] for p in task.prompts or ()], numeric_from=2, names=(0,))


def task_note(task: TaskReport, n_boot: int) -> str:
    """What the runs table compares with, and by which criterion."""
    ref = reference(task)
    rows = {r.run: r for r in task.rows}
    text = (f"Reference run: {ref} (val balanced acc. {rows[ref].val_balanced_accuracy:.3f})"
            + (", the best run on val that is not a baseline" if task.reference else
               ", the best run on val"))
    if task.reference and rows[task.best].val_balanced_accuracy > \
            rows[ref].val_balanced_accuracy:
        text += (f"; the best on val overall is the baseline {task.best} "
                 f"({rows[task.best].val_balanced_accuracy:.3f})")
    if any(r.vs_best is not None and r.vs_best.holm_p is not None for r in task.rows):
        text += (". A 'vs' column gives a run's balanced accuracy minus that of the run in "
                 "its header, with p = a two-sided paired-bootstrap p-value, Holm-corrected "
                 f"over the runs in the column; * = p < {ALPHA} (with {n_boot} bootstrap "
                 f"resamples no p is below {2 / (n_boot + 1):.2g}; compare with more "
                 "resamples to resolve smaller ones).")
    else:
        text += ". The 'vs' columns give balanced-accuracy gaps with paired bootstrap " \
                "intervals; * = the interval excludes 0."
    if task.test_ids_dropped:
        text += (f" {task.test_ids_dropped} test images are left out: not every run scored "
                 "them.")
    return text


def _number(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _rating_gap(gap: RatingGap | None) -> str:
    if gap is None:
        return "-"
    mark = "*" if gap.significant else ""
    return f"{gap.pearson_r_gap:+.3f}{mark} [{gap.ci[0]:+.2f}, {gap.ci[1]:+.2f}]"


def regression_table(task: RegressionReport) -> Table:
    """Every run of a rating task, by Pearson r on test, with intervals and its r gap to the
    best run on val."""
    def cells(r: RegressionRow) -> list[str]:
        return [r.run, r.features, r.model, f"{r.val_mae:.3f}", _metric(r.pearson_r),
                _metric(r.mae), _number(r.spearman_rho), _number(r.r2), _rating_gap(r.vs_best)]

    return Table(REGRESSION_HEADER, [cells(r) for r in task.rows], numeric_from=3, nowrap=(2,))


def _regression_note(report: Report, task: RegressionReport) -> str:
    reference = ""
    if task.r_reference is not None:
        than = "the best run" if task.r_reference == task.best else \
            f"{task.r_reference} (the best on val with a defined r)"
        reference = (f" 'r vs best' is a run's r minus that of {than}, with a paired "
                     "bootstrap interval (* = the interval excludes 0).")
    return (f"Best on val (lowest val MAE, the criterion the regressors were tuned by): "
            f"{task.best}. Pearson r and MAE (in rating units) on test with 95% intervals "
            f"from {report.n_boot} bootstrap resamples of the test images; Spearman rho and "
            f"R² on test.{reference} r is undefined ('-') for constant predictions, as the "
            "mean rating's.")


def _split_words(report: Report) -> str:
    words = f"split SHA-256 {report.splits_sha256[:16]}..."
    if report.split_groups:
        g = report.split_groups
        words += (f", grouped by {g['by']} ({g['n_groups']} groups, none in two of "
                  "train/val/test)")
    return words


def _intro(report: Report) -> str:
    if not report.tasks:  # rating tasks only
        return (f"Runs: {len(report.runs)}; {_split_words(report)}; "
                f"seed {report.seed}. 'Best' runs are chosen by their val score, never by "
                "test.")
    return (f"Runs: {len(report.runs)}; {_split_words(report)}; "
            f"95% intervals from {report.n_boot} bootstrap resamples of the test images "
            f"(seed {report.seed}). 'Best' runs are chosen by their val score, never by "
            "test. Gaps are in balanced accuracy on the same test images, with paired "
            "bootstrap intervals; each table says what its significance marks mean.")


def _data_uri(data: bytes) -> str:
    kind = "jpeg" if data[:2] == b"\xff\xd8" else "png"  # thumbnails are JPEG
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def _context(report: Report, figures: Callable[[str], Mapping[str, bytes]] | None
             ) -> dict[str, Any]:
    from emofeat.report.render_pictures import gallery_context, map_context

    tasks = []
    for name, task in report.tasks.items():
        uris = {k: _data_uri(v) for k, v in (figures(name) if figures else {}).items()}
        tasks.append({"name": name, "n_classes": len(task.classes), "n_test": task.n_test,
                      "families": family_table(task), "gaps": gap_table(task),
                      "note": task_note(task, report.n_boot),
                      "runs": runs_table(task), "figures": uris,
                      "prompts": prompt_table(task),
                      "gallery": gallery_context(task, uris),
                      "feature_map": map_context(task, uris),
                      "confusions": [(f"confusion matrix of {k.partition(':')[2]}", v)
                                     for k, v in uris.items() if k.startswith("confusion:")]})
    ratings = []
    for name, rating_task in (report.regression or {}).items():
        uris = {k: _data_uri(v) for k, v in (figures(name) if figures else {}).items()}
        ratings.append({"name": name, "n_test": rating_task.n_test,
                        "note": _regression_note(report, rating_task),
                        "runs": regression_table(rating_task), "figures": uris})
    from emofeat.report.cross import cross_context
    from emofeat.report.render_distribution import distribution_context
    from emofeat.report.render_repeats import repeats_context

    return {"intro": _intro(report), "tasks": tasks, "regression": ratings,
            "distribution": distribution_context(report, figures, _data_uri),
            "repeats": repeats_context(report),
            "cross": cross_context(report.cross or {}),
            "synthetic_note": SYNTHETIC_NOTE if report.synthetic else "",
            "prompt_note": PROMPT_NOTE,
            "warnings": list(report.warnings or ()), "warnings_title": WARNINGS_TITLE}


@functools.cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("emofeat.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters["md"] = lambda text: str(text).replace("|", "\\|")
    return env


def markdown(report: Report) -> str:
    return str(_environment().get_template("report.md.j2").render(_context(report, None)))


def html_page(report: Report, figures: Callable[[str], Mapping[str, bytes]]) -> str:
    """The HTML report; ``figures(task)`` gives that task's figures as PNG bytes by name
    (``transfer``, ``by_layer``, ``confusion:<run>``, ``per_class_f1``, ``feature_map``,
    gallery thumbnails ``thumb:<id>`` (JPEG); a rating task's ``scatter``)."""
    return str(_environment().get_template("report.html.j2").render(_context(report, figures)))


def short_table(report: Report) -> list[str]:
    """A few lines for the terminal: the transfer summary per task."""
    lines = []
    only = f" ({report.repeats.reference_split} only)" if report.repeats else ""
    for name, task in report.tasks.items():
        best = task.transfer.best_of_family
        lines.append(f"{name}{only}: " + " | ".join(
            f"{f.label} {best[f.key].balanced_accuracy:.3f}" for f in in_order(best)))
    for name, rating_task in (report.regression or {}).items():
        rows = {r.run: r for r in rating_task.rows}
        best = {key: rows[run] for key, run in rating_task.best_of_family.items()}
        lines.append(f"{name}: " + " | ".join(
            f"{f.label} r {_number(best[f.key].pearson_r.value if best[f.key].pearson_r else None)}"
            f", MAE {best[f.key].mae.value:.3f}" for f in in_order(best)))
    for name, dist in (report.distribution or {}).items():
        rows = {r.run: r for r in dist.rows}
        lines.append(f"{name}: " + " | ".join(
            f"{f.label} KL {rows[dist.best_of_family[f.key]].metrics['kl_divergence'].value:.3f}"
            for f in in_order(dist.best_of_family)))
    return lines
