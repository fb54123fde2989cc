"""The families of runs a report compares, in one table: key, label, order and colour.

Every table, chart and summary line of a report takes its families from :data:`FAMILIES`,
in its order, with its labels and colours; :func:`family_of` says which family a run is in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from emofeat.runs import FeatureRun, FinetuneRun, MajorityRun, RunRecord, ZeroshotRun


@dataclass(frozen=True)
class Family:
    key: str  # as written in report.json
    label: str  # in tables, legends and the terminal summary
    colour: str  # in every chart
    linestyle: str = "-"  # of its lines in the by-layer chart
    frozen_backbone: bool = False  # features of a frozen network: compared layer by layer
    per_class: bool = True  # drawn in the per-class F1 chart
    baseline: bool = False  # a yardstick from below: never the report's reference run


#: The families in the order of every table and chart (from the yardstick down).
FAMILIES: tuple[Family, ...] = (
    Family("finetune", "fine-tuned", "#d62728"),
    Family("pretrained", "frozen pretrained features", "#1f77b4", frozen_backbone=True),
    # an image-text model's embeddings against class prompts: nothing fitted
    Family("zeroshot", "zero-shot (text prompts)", "#2ca02c", ":"),
    Family("random", "frozen random-init features", "#7f7f7f", "--", frozen_backbone=True),
    Family("colour", "hand-crafted colour", "#9467bd", baseline=True),
    # F1 0 on every class but one: nothing to see per class
    Family("majority", "majority class", "#bcbd22", per_class=False, baseline=True),
    # a rating task's baseline: the mean rating of train+val
    Family("mean", "mean rating", "#8c564b", per_class=False, baseline=True),
    # the distribution task's: the mean distribution of train+val
    Family("mean-distribution", "mean distribution", "#17becf", per_class=False,
           baseline=True),
)

_BY_KEY = {f.key: f for f in FAMILIES}


def family(key: str) -> Family:
    return _BY_KEY[key]


def in_order(keys: Iterable[str]) -> list[Family]:
    """The families among ``keys``, in table order."""
    present = set(keys)
    return [f for f in FAMILIES if f.key in present]


def family_of(record: RunRecord) -> Family:
    """How a run answers the transfer-learning question."""
    if isinstance(record, FinetuneRun):
        return family("finetune")
    if isinstance(record, ZeroshotRun):
        return family("zeroshot")
    if isinstance(record, MajorityRun):
        return family(record.model)  # "majority", "mean" (ratings), "mean-distribution"
    assert isinstance(record, FeatureRun)
    if record.features.backbone.startswith("handcrafted"):
        return family("colour")
    return family("random" if record.features.weights.get("source") == "random"
                  else "pretrained")
