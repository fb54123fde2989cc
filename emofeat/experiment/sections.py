"""The sections of an experiment file as dataclasses (no reading, no checks: :mod:`schema`).

Sections of library settings derive from the library's own config dataclasses
(:class:`ExtractConfig`, :class:`FinetuneConfig`), so every setting has one name and one
default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from emofeat.classical.options import FitOptions
from emofeat.demo import DemoSpec
from emofeat.extract_config import ExtractConfig
from emofeat.finetune.config import FinetuneConfig
from emofeat.splits import DEFAULT_FRACTIONS, DEFAULT_SEED

T = TypeVar("T")


def _as(base: type[T], section: Any, **changes: Any) -> T:
    """The settings of ``base`` that ``section`` (a subclass) holds, as a ``base``."""
    settings = {f.name: getattr(section, f.name) for f in dataclasses.fields(base)}
    return base(**{**settings, **changes})


@dataclass
class DataSection:
    path: str | None = None  # relative to the config file
    format: str = "auto"
    min_agree: int | None = None
    allow_outside_root: bool = False  # a CSV list may name images outside its folder
    label_from: str | None = None  # a release's label rule (Emotion6: folder | ratings)
    demo: bool = False  # generate the synthetic demo set into OUT/data
    demo_per_class: int = DemoSpec.per_class
    demo_size: int = DemoSpec.size
    demo_seed: int = DemoSpec.seed


@dataclass
class SplitSection:
    file: str | None = None  # an existing splits.csv (relative to the config file)
    seed: int = DEFAULT_SEED
    fractions: list[float] = field(default_factory=lambda: list(DEFAULT_FRACTIONS))
    folds: int | None = None  # K stratified folds (test one part, val as in fractions)
    repeats: int | None = None  # R seeded random splits (seeds seed, seed + 1, ...)
    group_by: str | None = None  # a text column of the data, or "duplicates"


@dataclass
class ExtractSection(ExtractConfig):
    """Every ExtractConfig setting (same names and defaults), and the store's name."""

    name: str = ""  # the store is OUT/stores/<name>

    def extract_config(self) -> ExtractConfig:
        return _as(ExtractConfig, self)


@dataclass
class FitSection:
    """Classifiers and regressors: each task is fitted with the models of its kind
    (classification tasks with classifiers, rating tasks such as valence_score with the
    regressors ridge, svr, lightgbm)."""

    models: list[str] = field(default_factory=lambda: ["logreg", "svm", "lightgbm"])
    # all: valence and emotion8 where the data serves them, else label (datasets.tasks)
    tasks: list[str] = field(default_factory=lambda: ["all"])
    layers: list[str] = field(default_factory=lambda: ["all"])
    jobs: int = -1
    class_weight: str = "balanced"
    seed: int = 0
    # the distribution task: images with an invalid distribution left out (counted)
    drop_invalid: bool = False

    def options(self) -> FitOptions:
        return FitOptions(class_weight=self.class_weight, seed=self.seed, jobs=self.jobs)


@dataclass
class FinetuneSection(FinetuneConfig):
    """Every FinetuneConfig setting (same defaults), for each of ``tasks``."""

    enabled: bool = True
    tasks: list[str] = field(default_factory=lambda: ["all"])  # as [fit]'s
    seeds: list[int] | None = None  # one run per seed (OUT/runs/.../seed-<s>/), not seed

    def for_task(self, task: str, seed: int | None = None) -> FinetuneConfig:
        """The settings of one task (and one of ``seeds``, where given)."""
        return _as(FinetuneConfig, self, task=task, seed=self.seed if seed is None else seed)


@dataclass
class BaselinesSection:
    majority: bool = True
    colour: bool = True
    colour_models: list[str] = field(default_factory=lambda: ["logreg", "lightgbm"])


@dataclass
class ZeroshotSection:
    """Zero-shot runs on the stores of open_clip [[extract]] sections (their layer
    ``embedding``), for every classification task of [fit], next to their linear probes:
    OUT/runs/[<fold>/]<store>/zeroshot-<task>/."""

    stores: list[str] = field(default_factory=list)  # [[extract]] names
    prompts: str | None = None  # a TOML file (relative to the config); None: the shipped set
    prompt_choice: str = "ensemble"  # or best-on-val


@dataclass
class CompareSection:
    bootstrap: int = 1000
    seed: int = 0


@dataclass
class CrossTarget(DataSection):
    """A data set the runs are tested on ([data]'s keys, and a name)."""

    name: str = ""  # its folder: OUT/cross/<name>/
    demo_domain: str = "b"  # with demo = true: the synthetic domain (emofeat.demo.DOMAINS)


@dataclass
class CrossSection:
    """Cross-dataset transfer: every run tested on every target (and back, for runs fitted
    on a target with ``models``)."""

    split: str = "test"  # all | test: the images of a target that are tested
    models: list[str] = field(default_factory=list)  # fitted on each target's stores too
    stores: list[str] | None = None  # the [[extract]] stores made of each target; None: all
    targets: list[CrossTarget] = field(default_factory=list)


@dataclass
class ExperimentConfig:
    out: str | None = None  # relative to the config file; the CLI's --out wins
    data: DataSection = field(default_factory=DataSection)
    split: SplitSection = field(default_factory=SplitSection)
    extract: list[ExtractSection] = field(default_factory=list)
    fit: FitSection = field(default_factory=FitSection)
    finetune: FinetuneSection = field(default_factory=FinetuneSection)
    baselines: BaselinesSection = field(default_factory=BaselinesSection)
    zeroshot: ZeroshotSection = field(default_factory=ZeroshotSection)
    compare: CompareSection = field(default_factory=CompareSection)
    cross: CrossSection = field(default_factory=CrossSection)
