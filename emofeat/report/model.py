"""report.json as a typed record: :class:`Report`, read and written by :data:`REPORT_JSON`.

The fields are declared in the order they appear in the file. Balanced accuracies, gaps and
intervals are on the test images; ``val_balanced_accuracy`` is what chose between runs.
Rating tasks are in ``regression`` (absent when the report has none): Pearson r and MAE with
intervals, Spearman rho and R^2 on test; ``val_mae`` is what chose between runs. The
distribution task is in ``distribution`` (absent when the report has none): the six LDL
measures and top-1 accuracy with intervals; ``val_kl_divergence`` chose between runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emofeat.records import OMIT_IF_NONE, RecordFile
from emofeat.report.cross_model import CrossMatrix
from emofeat.report.pictures_model import FeatureMap, Gallery
from emofeat.report.repeats_model import RepeatsReport

REPORT_FORMAT = "emofeat-report"
FORMAT_VERSION = 1  # reports written before the field existed have none: read as version 1


@dataclass(frozen=True)
class Estimate:
    """A metric on test with its bootstrap interval."""

    value: float
    ci: tuple[float, float]


@dataclass(frozen=True, kw_only=True)
class Gap:
    """One run (or family) minus another in balanced accuracy, paired on the test images."""

    # gaps of the transfer summary name what they compare, and the families a - b
    comparison: str | None = field(default=None, metadata=OMIT_IF_NONE)
    a: str | None = field(default=None, metadata=OMIT_IF_NONE)
    b: str | None = field(default=None, metadata=OMIT_IF_NONE)
    balanced_accuracy_gap: float
    ci: tuple[float, float]  # paired bootstrap
    only_this_correct: int  # McNemar's discordant pairs
    only_other_correct: int
    mcnemar_p: float  # exact McNemar test on accuracy (correct / wrong per image)
    significant: bool  # the interval excludes 0
    # two-sided paired-bootstrap p-value of the gap (< 0.05 when the interval excludes 0);
    # absent in reports written before it was
    bootstrap_p: float | None = field(default=None, metadata=OMIT_IF_NONE)
    # bootstrap_p Holm-adjusted over every run compared with the same reference in a column
    # of the runs table; absent elsewhere
    holm_p: float | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, kw_only=True)
class RunRow:
    """A run in the table of all runs."""

    run: str
    kind: str
    family: str
    classifier: str
    features: str
    backbone: str
    weights: str
    layer: str
    val_balanced_accuracy: float
    metrics: dict[str, Estimate]  # accuracy, balanced_accuracy, macro_f1[, roc_auc]
    per_class_f1: dict[str, float]
    confusion_matrix: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted
    # against the task's reference run (its best on val when the report names none);
    # absent for the reference itself
    vs_best: Gap | None = field(default=None, metadata=OMIT_IF_NONE)
    # absent without a fine-tuned run, or for it
    vs_finetune: Gap | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, kw_only=True)
class FamilyBest:
    """The run of a family with the best val score."""

    run: str
    val_balanced_accuracy: float
    balanced_accuracy: float
    ci: tuple[float, float]
    accuracy: float


@dataclass(frozen=True)
class Transfer:
    """The transfer-learning summary: the best run of each family and the gaps between."""

    best_of_family: dict[str, FamilyBest]  # in the order of the family table
    gaps: tuple[Gap, ...]


@dataclass(frozen=True, kw_only=True)
class PromptRow:
    """A zero-shot run's score with one template (or the ensemble of all), on val and test:
    how much the wording moves the number."""

    run: str
    template: str  # "ensemble": every template averaged
    val_balanced_accuracy: float | None
    test_balanced_accuracy: float | None
    used: bool  # the prompts the run predicts with


@dataclass(frozen=True, kw_only=True)
class TaskReport:
    classes: tuple[str, ...]
    n_test: int
    n_runs: int
    best: str  # the run with the best val score
    finetune: str | None  # the fine-tuned run with the best val score
    rows: tuple[RunRow, ...]  # by balanced accuracy on test, best first
    transfer: Transfer
    by_layer: dict[str, dict[str, float]]  # "<classifier> on <backbone>, <weights>" -> layer
    # the run every row's vs_best compares with: the best non-baseline run on val (absent in
    # reports written before it was named: there, the best run on val)
    reference: str | None = field(default=None, metadata=OMIT_IF_NONE)
    # test images left out because not every run scored them (absent: none)
    test_ids_dropped: int | None = field(default=None, metadata=OMIT_IF_NONE)
    # zero-shot runs' prompt sensitivity, each template's row (absent without zero-shot runs)
    prompts: tuple[PromptRow, ...] | None = field(default=None, metadata=OMIT_IF_NONE)
    # the reference run's most confident right and wrong test images, and a 2-D map of the
    # best linear probe's features (absent in reports written before they were drawn)
    gallery: Gallery | None = field(default=None, metadata=OMIT_IF_NONE)
    feature_map: FeatureMap | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, kw_only=True)
class RatingGap:
    """One run's Pearson r minus the reference run's, paired on the test images."""

    pearson_r_gap: float
    ci: tuple[float, float]  # paired bootstrap
    significant: bool  # the interval excludes 0


@dataclass(frozen=True, kw_only=True)
class RegressionRow:
    """A run of a rating task in its table."""

    run: str
    kind: str
    family: str
    model: str
    features: str
    backbone: str
    weights: str
    layer: str
    val_mae: float
    pearson_r: Estimate | None  # None: undefined (constant predictions, as the mean's)
    mae: Estimate
    spearman_rho: float | None
    r2: float | None
    # against the report's r_reference; absent for it, and where r is undefined
    vs_best: RatingGap | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, kw_only=True)
class RegressionReport:
    """A rating task: every run, the best by val MAE, the best of each family."""

    n_test: int
    n_runs: int
    best: str  # the run with the lowest val MAE
    # the r gaps' reference: the lowest val MAE among runs with a defined r (normally best)
    r_reference: str | None
    rows: tuple[RegressionRow, ...]  # by Pearson r on test, best first (undefined last)
    best_of_family: dict[str, str]  # family -> its run with the lowest val MAE


@dataclass(frozen=True, kw_only=True)
class DistributionGap:
    """One run's mean KL divergence minus the reference run's, paired on the test images
    (negative: closer to the annotators than the reference)."""

    kl_divergence_gap: float
    ci: tuple[float, float]  # paired bootstrap
    significant: bool  # the interval excludes 0


@dataclass(frozen=True, kw_only=True)
class DistributionRow:
    """A run of the distribution task in its table: each LDL measure on test."""

    run: str
    kind: str
    family: str
    model: str
    features: str
    val_kl_divergence: float
    # chebyshev, clark, canberra, kl_divergence (lower is better), cosine, intersection
    # (higher is better), top1_accuracy: each with its bootstrap interval
    metrics: dict[str, Estimate]
    # against the report's best run on val; absent for it
    vs_best: DistributionGap | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True)
class ShownImage:
    """A test image in the report's bar charts: its true and predicted distributions."""

    id: str
    true: tuple[float, ...]
    predicted: dict[str, tuple[float, ...]]  # run -> its predicted distribution


@dataclass(frozen=True, kw_only=True)
class DistributionReport:
    """The distribution task: every run, the best by val KL, the best of each family, and
    a few test images' distributions."""

    classes: tuple[str, ...]
    n_test: int
    n_runs: int
    best: str  # the run with the lowest val KL divergence
    rows: tuple[DistributionRow, ...]  # by KL divergence on test, best first
    best_of_family: dict[str, str]  # family -> its run with the lowest val KL divergence
    images: tuple[ShownImage, ...]


@dataclass(frozen=True, kw_only=True)
class RunEntry:
    """A run the report read."""

    name: str
    path: str
    kind: str
    family: str
    task: str
    classifier: str
    backbone: str
    weights: str
    layer: str


@dataclass(frozen=True, kw_only=True)
class Report:
    created: str
    splits_sha256: str
    # a grouped split: {by, n_groups}; absent for ungrouped splits
    split_groups: dict[str, Any] | None = field(default=None, metadata=OMIT_IF_NONE)
    n_boot: int
    seed: int
    level: float
    synthetic: bool  # the runs use the synthetic demo set
    # runs of one family made with different settings, one line each (absent in reports
    # written before the field existed)
    warnings: tuple[str, ...] | None = field(default=None, metadata=OMIT_IF_NONE)
    runs: tuple[RunEntry, ...]
    tasks: dict[str, TaskReport]
    # rating tasks; absent when the report has none
    regression: dict[str, RegressionReport] | None = field(default=None, metadata=OMIT_IF_NONE)
    # the distribution task; absent when the report has none
    distribution: dict[str, DistributionReport] | None = field(default=None,
                                                               metadata=OMIT_IF_NONE)
    # cross-dataset matrices by task (emofeat evaluate); absent when the inputs hold none
    cross: dict[str, CrossMatrix] | None = field(default=None, metadata=OMIT_IF_NONE)
    versions: dict[str, str]
    # runs of several splits (folds, repeats) or seeds, aggregated; absent otherwise
    repeats: RepeatsReport | None = field(default=None, metadata=OMIT_IF_NONE)


REPORT_JSON: RecordFile[Report] = RecordFile(REPORT_FORMAT, FORMAT_VERSION, "report",
                                             lambda data: Report)


def read_report(path: str | Path) -> Report:
    """A report.json, checked (a report from a newer emofeat is refused)."""
    return REPORT_JSON.read(path)
