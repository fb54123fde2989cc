"""The repeats section of report.json, typed: runs of one configuration on several splits
(k folds, R random splits) or with several training seeds, aggregated.

Each number says which uncertainty it carries:

- ``mean`` and ``sd``: across every run of the configuration (splits and seeds together);
- ``sd_splits``: of the per-split means (over seeds), across splits: what another split
  would move; ``sd_seeds``: the runs' spread across seeds within a split (pooled over
  splits): what another training seed would move;
- ``pooled`` and ``pooled_ci``: the metric on every run's test predictions pooled, with a
  bootstrap interval that resamples test images (an image carries all its predictions):
  the sampling of test images only;
- a :class:`RepeatedGap`: per split, one family's configuration minus another's (each the
  mean over its seeds on that split), then combined across splits, never mixing splits in
  one paired difference; the t-test is Nadeau and Bengio's corrected resampled t-test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emofeat.records import OMIT_IF_NONE


@dataclass(frozen=True, kw_only=True)
class Aggregate:
    """A test metric of one configuration across its runs."""

    mean: float
    sd: float | None  # None with a single run
    sd_splits: float | None  # None with a single split
    sd_seeds: float | None  # None where no split has two seeds
    pooled: float
    pooled_ci: tuple[float, float]


@dataclass(frozen=True, kw_only=True)
class ConfigSummary:
    """One configuration (task, family, classifier, features and layer) over its runs."""

    family: str
    classifier: str
    features: str
    runs: tuple[str, ...]
    splits: tuple[str, ...]  # labels of the splits it ran on
    seeds: tuple[int, ...]
    val_balanced_accuracy: float  # mean over its runs: what chose a family's configuration
    metrics: dict[str, Aggregate]  # accuracy, balanced_accuracy, macro_f1


@dataclass(frozen=True, kw_only=True)
class RepeatedGap:
    """Family a's chosen configuration minus family b's, in balanced accuracy, per split."""

    comparison: str
    a: str
    b: str
    a_config: str
    b_config: str
    per_split: dict[str, float]  # split label -> gap (means over seeds on that split)
    mean_gap: float
    sd_gap: float | None  # across splits; None with a single split
    agree: int  # splits whose gap has the sign of the mean gap
    n_splits: int
    # Nadeau-Bengio: t = mean / sqrt((1/J + n_test/n_train) * sd^2), J - 1 degrees of freedom
    test_train_ratio: float | None
    t: float | None  # None where it does not apply (one split, or no spread)
    p_value: float | None


@dataclass(frozen=True, kw_only=True)
class RepeatsTask:
    configs: tuple[ConfigSummary, ...]  # by mean test balanced accuracy, best first
    gaps: tuple[RepeatedGap, ...]
    # family -> position in configs of its configuration with the best mean val score (the
    # one its gaps use); absent in reports written before it was recorded
    chosen: dict[str, int] | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, kw_only=True)
class RepeatsReport:
    """Every configuration aggregated over splits and seeds (classification tasks)."""

    splits: dict[str, str]  # label -> SHA-256, in order
    reference_split: str  # the label of the split the per-run tables show
    tasks: dict[str, RepeatsTask]
    # configurations left out (e.g. two runs of one split and seed), one line each
    left_out: tuple[str, ...] = ()
