"""``emofeat compare``: runs that share a split -> report.json, report.md, report.html.

Runs of several splits (folds, repeats) or seeds also get a repeats section
(:mod:`emofeat.report.repeats`); the per-run tables then show the first split's runs.

Every number is computed from the runs' ``predictions.csv`` (test rows): point estimates with
scikit-learn, 95% intervals by bootstrap over test images (seeded), paired comparisons on
the same resamples, and exact McNemar tests. Runs of rating tasks get a section of their own
(:mod:`emofeat.report.regression`) with a scatter of predicted against rated, runs of the
distribution task one with the six LDL measures and bar charts of test images
(:mod:`emofeat.report.distribution`). Evaluation
folders among the inputs (``emofeat evaluate``) add a cross-dataset matrix per task
(:mod:`emofeat.report.cross`). Each classification task also gets a gallery of the reference
run's most confident right and wrong test images (:mod:`emofeat.report.gallery`, thumbnails
from the data set's files) and a 2-D map of the best linear probe's features
(:mod:`emofeat.report.featuremap`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from emofeat.atomic import write_text
from emofeat.errors import EmofeatError
from emofeat.metrics import LEVEL
from emofeat.provenance import now, versions
from emofeat.report import plots
from emofeat.report.analysis import analyse, layer_series
from emofeat.report.collect import RunInfo, load_runs
from emofeat.report.consistency import settings_warnings
from emofeat.report.cross import cross_matrices
from emofeat.report.cross import summary_lines as cross_summary
from emofeat.report.distribution import analyse_distributions
from emofeat.report.families import family
from emofeat.report.featuremap import feature_map
from emofeat.report.gallery import gallery
from emofeat.report.model import REPORT_JSON, RegressionReport, Report, RunEntry, TaskReport
from emofeat.report.pictures_model import MAP_FIGURE
from emofeat.report.regression import aligned, analyse_ratings
from emofeat.report.render import html_page, markdown, reference, short_table
from emofeat.report.render_distribution import distribution_figures
from emofeat.report.render_repeats import summary_lines as repeats_summary
from emofeat.report.repeats import analyse_repeats, is_repeated

log = logging.getLogger(__name__)

#: Families whose best run gets a confusion matrix (besides the reference run).
CONFUSION_FAMILIES = ("finetune", "pretrained", "zeroshot", "random")


def _figures(task_name: str, task: TaskReport, runs: Sequence[RunInfo]) -> dict[str, bytes]:
    figs = {"transfer": plots.transfer_bars(task_name, plots.transfer_data(task.transfer))}
    if task.by_layer:
        order = list(dict.fromkeys(layer for r in runs for layer in r.store_layers))
        layers, series = plots.layer_data(task, {layer_series(r): r.family for r in runs},
                                          order)
        figs["by_layer"] = plots.by_layer(task_name, layers, series)
    rows = {r.run: r for r in task.rows}
    best = task.transfer.best_of_family
    # the reference and the best of each network family: what the two questions compare
    shown = [reference(task), *(best[f].run for f in CONFUSION_FAMILIES if f in best)]
    for name in dict.fromkeys(shown):
        figs[f"confusion:{name}"] = plots.confusion(task_name, name, task.classes,
                                                rows[name].confusion_matrix,
                                                family(rows[name].family).label)
    figs["per_class_f1"] = plots.per_class_f1(task_name, task.classes,
                                              plots.per_class_data(task))
    return figs


def _pictures(task_name: str, task: TaskReport, runs: Sequence[RunInfo], seed: int
              ) -> tuple[TaskReport, dict[str, bytes]]:
    """The task with its gallery (of the reference run) and 2-D feature map, and their
    pictures: thumbnails by ``thumb:<id>``, the map as ``feature_map``."""
    shown, thumbs = gallery(runs, reference(task))
    fmap, png = feature_map(task_name, runs, seed)
    return (replace(task, gallery=shown, feature_map=fmap),
            thumbs | ({MAP_FIGURE: png} if png else {}))


def _rating_figures(task_name: str, task: RegressionReport, runs: Sequence[RunInfo]
                    ) -> dict[str, bytes]:
    tests = {r.name: (p.y_true, p.y_pred) for r, p in zip(runs, aligned(runs), strict=True)}
    return {"scatter": plots.scatter(task_name, plots.scatter_data(task, tests))}


def _entry(r: RunInfo) -> RunEntry:
    return RunEntry(name=r.name, path=str(r.run.path.resolve()), kind=r.kind, family=r.family,
                    task=r.task, classifier=r.classifier, backbone=r.backbone,
                    weights=r.weights, layer=r.layer)


def compare(inputs: Sequence[str | Path], out_dir: str | Path, n_boot: int = 1000,
            seed: int = 0) -> dict[str, Any]:
    """Write the report for the runs given (or found below the folders given).

    Returns report.json as a dict, with ``summary_lines`` for the terminal added.
    """
    if n_boot < 1000:
        raise EmofeatError("--bootstrap needs at least 1000 resamples for 95% intervals")
    all_runs = load_runs(inputs)
    warnings = settings_warnings(all_runs)
    repeats = analyse_repeats(all_runs, n_boot, seed) if is_repeated(all_runs) else None
    # several splits: the per-run tables show the first; the repeats section covers all
    reference = repeats.splits[repeats.reference_split] if repeats else None
    runs = [r for r in all_runs if reference in (None, r.record.splits_sha256)]
    for line in [*warnings, *(repeats.left_out if repeats else ())]:
        log.warning("%s", line)
    tasks = analyse([r for r in runs if r.is_classification], n_boot=n_boot, seed=seed)
    pictures = {t: _pictures(t, tasks[t], [r for r in runs if r.task == t], seed)
                for t in tasks}
    tasks = {t: task for t, (task, _) in pictures.items()}
    ratings = analyse_ratings([r for r in runs if r.is_regression], n_boot=n_boot, seed=seed)
    dists = analyse_distributions([r for r in runs if r.is_distribution], n_boot=n_boot,
                                  seed=seed)
    cross = cross_matrices(inputs, n_boot=n_boot, seed=seed,
                           known={r.run.path.resolve(): r.name for r in all_runs})
    report = Report(created=now(), splits_sha256=runs[0].record.splits_sha256,
                    split_groups=getattr(runs[0].record, "split_groups", None), n_boot=n_boot,
                    seed=seed, level=LEVEL, synthetic=any(r.synthetic for r in runs),
                    warnings=tuple(warnings), runs=tuple(_entry(r) for r in all_runs),
                    tasks=tasks, regression=ratings or None, distribution=dists or None,
                    cross=cross or None,
                    versions=versions(), repeats=repeats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = {t: _figures(t, tasks[t], [r for r in runs if r.task == t]) | pictures[t][1]
               for t in tasks}
    figures |= {t: _rating_figures(t, ratings[t], [r for r in runs if r.task == t])
                for t in ratings}
    figures |= {t: distribution_figures(t, dists[t]) for t in dists}
    REPORT_JSON.write(out / "report.json", report)
    write_text(out / "report.md", markdown(report))
    write_text(out / "report.html", html_page(report, lambda t: figures[t]))
    return {**REPORT_JSON.dump(report),
            "summary_lines": [*short_table(report), *repeats_summary(repeats),
                              *cross_summary(cross)]}
