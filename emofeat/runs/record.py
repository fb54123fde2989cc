"""run.json as a typed record, read and written by :data:`RUN_JSON`.

A run is one of three shapes, told apart by its fields:

- :class:`FeatureRun`: a classifier on stored features (kind ``classical``, or ``baseline``
  for the hand-crafted colour features), with the store it read (``features``);
- :class:`FinetuneRun`: a fine-tuned network (kind ``finetune``), with its training history;
- :class:`MajorityRun`: the majority-class baseline (kind ``baseline``, model ``majority``),
  or for a rating task the mean rating of train+val (model ``mean``);
- :class:`ZeroshotRun`: a vision-language model's image embeddings against class prompts
  (kind ``zeroshot``), with the prompts, their hash and every template's val and test score.

Each declares its fields in the order they appear in the file. ``classes``, ``finished``
and ``versions`` are filled in by :func:`emofeat.runs.finish_run`.

``task_kind`` says whether the run predicts a class (``classification``: ``classes`` and a
score per class), a rating (``regression``: the rating tasks, no classes) or a distribution
over ``classes`` (``distribution``: a share per class). Runs written
before the field existed have none and are classification runs; they read and write back
unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from emofeat.records import OMIT_IF_NONE, RecordFile
from emofeat.store.record import StoredLayer

RUN_FORMAT = "emofeat-run"
FORMAT_VERSION = 1
KINDS = ("classical", "finetune", "baseline", "zeroshot")
TaskKind = Literal["classification", "regression", "distribution"]


@dataclass(frozen=True)
class ModelFile:
    """A model file of the run and its SHA-256 (checked before the file is loaded)."""

    file: str
    sha256: str


@dataclass(frozen=True, kw_only=True)
class FeaturesRecord:
    """The stored features a classifier was fitted on: the store and how it was made."""

    store: str
    store_sha256: str
    backbone: str
    weights: dict[str, Any]  # the backbone's WeightsInfo: requested, source, origin, ...
    manifest_sha256: str
    dataset_format: str
    # the release's label rule where it has several (Emotion6: folder or ratings)
    label_from: str | None = field(default=None, metadata=OMIT_IF_NONE)
    data_config: dict[str, Any]
    layers: tuple[StoredLayer, ...]
    layer_order: tuple[str, ...]  # concatenated in this order
    store_layers: tuple[str, ...]  # every layer of the store, shallow to deep
    pooling: str
    precision: str
    dtype: str


@dataclass(frozen=True)
class SearchRecord:
    """The hyperparameter search: every candidate's val scores, fitted on train."""

    metric: str
    grid: dict[str, list[Any]]
    # {params, val_balanced_accuracy, ...} per candidate; a rating task: {params, val_mae,
    # val_pearson_r, ...}
    table: tuple[dict[str, Any], ...]


@dataclass(frozen=True, kw_only=True)
class FeatureRun:
    status: Literal["complete"] = "complete"
    kind: Literal["classical", "baseline"]
    model: str
    model_summary: str
    task: str
    task_kind: TaskKind | None = field(default=None, metadata=OMIT_IF_NONE)
    layer: str  # "a" or "a+b" (concatenated)
    features: FeaturesRecord
    splits_sha256: str
    # a grouped split: {by, n_groups} (no group in two splits)
    split_groups: dict[str, Any] | None = field(default=None, metadata=OMIT_IF_NONE)
    options: dict[str, Any]  # as used (PCA may have been lowered to fit the data)
    # the settings asked for, compared before the run is reused (absent in older runs)
    request: dict[str, Any] | None = field(default=None, metadata=OMIT_IF_NONE)
    hyperparameters: dict[str, Any]
    search: SearchRecord
    refit_on: tuple[str, ...]
    score_kind: str
    n: dict[str, int]
    timings: dict[str, float]
    model_files: tuple[ModelFile, ...]
    classes: tuple[str, ...] = ()
    finished: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def manifest_sha256(self) -> str:
        return self.features.manifest_sha256

    @property
    def dataset_format(self) -> str:
        return self.features.dataset_format

    @property
    def is_regression(self) -> bool:
        return self.task_kind == "regression"

    @property
    def is_distribution(self) -> bool:
        return self.task_kind == "distribution"

    @property
    def val_kl_divergence(self) -> float:
        """The distribution task: the search's lowest mean KL divergence on val."""
        return float(min(row["val_kl_divergence"] for row in self.search.table))

    @property
    def val_balanced_accuracy(self) -> float:
        """The best candidate of the search on val (fitted on train)."""
        return float(max(row["val_balanced_accuracy"] for row in self.search.table))

    @property
    def val_mae(self) -> float:
        """A rating task: the MAE on val of the search's best candidate (fitted on train)."""
        return float(min(row["val_mae"] for row in self.search.table))


@dataclass(frozen=True, kw_only=True)
class FinetuneRun:
    status: Literal["complete"] = "complete"
    kind: Literal["finetune"] = "finetune"
    model: str  # the timm model name
    model_summary: str
    task: str
    task_kind: Literal["classification", "distribution"] | None = field(
        default=None, metadata=OMIT_IF_NONE)
    layer: str  # "finetuned", or "from <module>" when earlier modules stayed frozen
    splits_sha256: str
    # a grouped split: {by, n_groups} (no group in two splits)
    split_groups: dict[str, Any] | None = field(default=None, metadata=OMIT_IF_NONE)
    manifest_sha256: str
    dataset_format: str
    # the release's label rule where it has several (Emotion6: folder or ratings)
    label_from: str | None = field(default=None, metadata=OMIT_IF_NONE)
    hyperparameters: dict[str, Any]
    weights: dict[str, Any]  # the starting weights: requested, source, origin, ...
    data_config: dict[str, Any]
    best_epoch: int  # 1-based
    history: tuple[dict[str, Any], ...]  # one record per epoch
    failed: tuple[tuple[str, str], ...]  # (id, reason) of images that could not be read
    n: dict[str, int]
    stopped_early: bool
    timings: dict[str, float]
    device: str
    score_kind: str
    model_files: tuple[ModelFile, ...]
    classes: tuple[str, ...] = ()
    finished: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def is_regression(self) -> bool:
        return False

    @property
    def is_distribution(self) -> bool:
        return self.task_kind == "distribution"

    @property
    def val_balanced_accuracy(self) -> float:
        """Val balanced accuracy of the chosen epoch."""
        return float(self.history[self.best_epoch - 1]["val_balanced_accuracy"])

    @property
    def val_kl_divergence(self) -> float:
        """The distribution task: the chosen epoch's mean KL divergence on val."""
        return float(self.history[self.best_epoch - 1]["val_kl_divergence"])


@dataclass(frozen=True, kw_only=True)
class MajorityRun:
    status: Literal["complete"] = "complete"
    kind: Literal["baseline"] = "baseline"
    # mean: of train+val ratings; mean-distribution: of train+val distributions
    model: Literal["majority", "mean", "mean-distribution"] = "majority"
    model_summary: str
    task: str
    task_kind: TaskKind | None = field(default=None, metadata=OMIT_IF_NONE)
    layer: str = "-"
    splits_sha256: str
    # a grouped split: {by, n_groups} (no group in two splits)
    split_groups: dict[str, Any] | None = field(default=None, metadata=OMIT_IF_NONE)
    manifest_sha256: str
    dataset_format: str
    # the release's label rule where it has several (Emotion6: folder or ratings)
    label_from: str | None = field(default=None, metadata=OMIT_IF_NONE)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    n: dict[str, int]
    score_kind: str = "probability"
    model_files: tuple[ModelFile, ...] = ()
    classes: tuple[str, ...] = ()
    finished: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def is_regression(self) -> bool:
        return self.task_kind == "regression"

    @property
    def is_distribution(self) -> bool:
        return self.task_kind == "distribution"


@dataclass(frozen=True, kw_only=True)
class ZeroshotRun:
    """Cosine similarity of image and class-prompt embeddings, times the model's own logit
    scale, softmaxed: nothing is fitted; a prompt choice (``prompt_choice`` ``best-on-val``)
    is made on val, never on test."""

    status: Literal["complete"] = "complete"
    kind: Literal["zeroshot"] = "zeroshot"
    model: str  # open_clip:ARCH/PRETRAINED
    model_summary: str
    task: str
    task_kind: Literal["classification"] | None = field(default=None, metadata=OMIT_IF_NONE)
    layer: str = "embedding"
    weights: dict[str, Any]  # the model's WeightsInfo: requested, source, origin, ...
    data_config: dict[str, Any]
    # the images' embeddings: {"via": "store", "store", "store_sha256"} or {"via": "images"}
    features: dict[str, Any]
    splits_sha256: str
    split_groups: dict[str, Any] | None = field(default=None, metadata=OMIT_IF_NONE)
    manifest_sha256: str
    dataset_format: str
    label_from: str | None = field(default=None, metadata=OMIT_IF_NONE)
    request: dict[str, Any]  # the settings asked for, compared before the run is reused
    prompts: dict[str, Any]  # {"templates": [...], "synonyms": {class: [...]}}
    prompt_sha256: str
    prompt_choice: str  # ensemble (every template, fixed in advance) | best-on-val
    chosen: str  # "ensemble" or the template chosen
    chosen_on: str | None = field(default=None, metadata=OMIT_IF_NONE)  # "val" when chosen
    logit_scale: float
    # {template, val_balanced_accuracy, test_balanced_accuracy} per template, then the
    # ensemble's ({template: "ensemble"})
    prompt_table: tuple[dict[str, Any], ...]
    failed: tuple[tuple[str, str], ...] = ()  # (id, reason) of images that could not be read
    n: dict[str, int]
    score_kind: str = "probability"
    model_files: tuple[ModelFile, ...]
    classes: tuple[str, ...] = ()
    finished: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def backbone(self) -> str:
        return self.model

    @property
    def is_regression(self) -> bool:
        return False

    @property
    def is_distribution(self) -> bool:
        return False

    @property
    def val_balanced_accuracy(self) -> float:
        """Val balanced accuracy of the prompts used."""
        rows = {r["template"]: r for r in self.prompt_table}
        return float(rows[self.chosen]["val_balanced_accuracy"])


RunRecord = FeatureRun | FinetuneRun | MajorityRun | ZeroshotRun


def _shape(data: Mapping[str, Any]) -> type:
    if data.get("kind") == "finetune":
        return FinetuneRun
    if data.get("kind") == "zeroshot":
        return ZeroshotRun
    if data.get("kind") == "baseline" and data.get("model") in ("majority", "mean",
                                                                 "mean-distribution"):
        return MajorityRun
    return FeatureRun


RUN_JSON: RecordFile[RunRecord] = RecordFile(RUN_FORMAT, FORMAT_VERSION, "run", _shape)
