"""Finding run directories, checking they belong together, and describing each one."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emofeat.errors import EmofeatError
from emofeat.paths import gather
from emofeat.report.families import family_of
from emofeat.runs import (
    RUN_FILE,
    DistributionPredictions,
    FeatureRun,
    FinetuneRun,
    MajorityRun,
    Predictions,
    RatingPredictions,
    Run,
    RunRecord,
    ZeroshotRun,
)

_WEIGHTS = {"bundled": "pretrained (bundled)", "hub": "pretrained (hub)",
            "file": "pretrained (file)"}


@dataclass(frozen=True)
class RunInfo:
    """One run as the report sees it: its test predictions and how to describe it."""

    name: str
    run: Run
    # ratings for a run of a rating task, distributions for one of the distribution task
    test: Predictions | RatingPredictions | DistributionPredictions

    @property
    def record(self) -> RunRecord:
        return self.run.record

    @property
    def is_regression(self) -> bool:
        return self.record.is_regression

    @property
    def is_distribution(self) -> bool:
        return self.record.is_distribution

    @property
    def is_classification(self) -> bool:
        return not (self.is_regression or self.is_distribution)

    @property
    def task(self) -> str:
        return self.record.task

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def family(self) -> str:
        return family_of(self.record).key

    @property
    def val_score(self) -> float:
        """Balanced accuracy on val as the run's own selection saw it (never test): the best
        candidate of a search (fitted on train), the chosen epoch of a fine-tuning."""
        if isinstance(self.record, MajorityRun):
            return float(self.run.metrics().get("val", {}).get("balanced_accuracy", 0.0))
        return self.record.val_balanced_accuracy

    @property
    def val_mae(self) -> float:
        """A rating task: MAE on val as the run's own selection saw it (fitted on train: the
        best candidate of a search; the mean baseline: the train mean)."""
        if isinstance(self.record, FeatureRun):
            return self.record.val_mae
        return float(self.record.hyperparameters.get("val_mae", float("inf")))

    @property
    def val_kl_divergence(self) -> float:
        """The distribution task: mean KL divergence on val as the run's own selection saw
        it (the best candidate of a search, the chosen epoch; the mean baseline: the train
        mean's)."""
        if isinstance(self.record, MajorityRun):
            return float(self.record.hyperparameters.get("val_kl_divergence", float("inf")))
        return self.record.val_kl_divergence

    @property
    def classifier(self) -> str:
        if isinstance(self.record, ZeroshotRun):
            return "zero-shot"
        return "fine-tuned" if isinstance(self.record, FinetuneRun) else self.record.model

    @property
    def backbone(self) -> str:
        if isinstance(self.record, FinetuneRun | ZeroshotRun):
            return self.record.model
        if isinstance(self.record, FeatureRun):
            return self.record.features.backbone
        return "-"

    @property
    def weights(self) -> str:
        if isinstance(self.record, FinetuneRun | ZeroshotRun):
            source = self.record.weights.get("source", "-")
        elif isinstance(self.record, FeatureRun):
            source = self.record.features.weights.get("source", "-")
        else:
            source = "-"
        return _WEIGHTS.get(source, source)

    @property
    def layer(self) -> str:
        return self.record.layer

    @property
    def store_layers(self) -> tuple[str, ...]:
        """The layers this run's layer was chosen from, shallow to deep."""
        if isinstance(self.record, FeatureRun):
            return self.record.features.store_layers
        return (self.layer,)

    @property
    def features(self) -> str:
        if self.family in ("majority", "mean", "mean-distribution"):
            return "-"
        if self.family == "colour":
            return "hand-crafted colour"
        weights = self.weights.split(" ")[0]  # "pretrained (bundled)" -> "pretrained"
        if self.kind == "finetune":
            return f"{self.backbone} {weights}, trained {self.layer}"
        if isinstance(self.record, ZeroshotRun):
            prompts = "template ensemble" if self.record.chosen_on is None else \
                f"template {self.record.chosen!r}, chosen on val"
            return f"{self.backbone} {weights} · prompts: {prompts}"
        return f"{self.backbone} {weights} · {self.layer}"

    @property
    def synthetic(self) -> bool:
        """Whether the run used the synthetic demo data set."""
        return self.record.dataset_format == "demo"


def find_runs(inputs: Sequence[str | Path]) -> list[Path]:
    """Run directories given directly, or found (recursively) below the given folders."""
    def is_run(path: Path) -> bool:
        return (path / RUN_FILE).is_file()

    return sorted(set(gather(inputs, is_run, is_run, "runs")), key=str)


def _name(path: Path, common: Path) -> str:
    try:
        rel = path.resolve().relative_to(common)
    except ValueError:
        return str(path)
    return rel.as_posix() if str(rel) != "." else path.name


def config_key(run: RunInfo) -> tuple[str, ...]:
    """What a run is apart from its split and seed: (task, family, classifier, features)."""
    return (run.task, run.family, run.classifier, run.features)


def _check_same_data(runs: Sequence[RunInfo]) -> None:
    """All runs share one data set, and one split, or (runs of several folds or repeats)
    every split holds the same configurations."""
    by_data: dict[str, list[RunInfo]] = {}
    for r in runs:
        by_data.setdefault(r.record.manifest_sha256, []).append(r)
    if len(by_data) > 1:
        majority = max(by_data, key=lambda h: len(by_data[h]))
        odd = [str(r.run.path) for h, rs in by_data.items() if h != majority for r in rs]
        raise EmofeatError(f"runs come from different data sets; these differ from the rest: "
                           f"{', '.join(odd[:3])}{' ...' if len(odd) > 3 else ''} (compare the "
                           "runs of one data set, e.g. OUT/runs of an experiment, and add "
                           "evaluation folders, e.g. OUT/cross/evaluations, for the "
                           "cross-dataset matrix)")
    by_split: dict[str, list[RunInfo]] = {}
    for r in runs:
        by_split.setdefault(r.record.splits_sha256, []).append(r)
    configs = [{config_key(r) for r in rs} for rs in by_split.values()]
    if any(c != configs[0] for c in configs):
        majority = max(by_split, key=lambda h: len(by_split[h]))
        odd = [str(r.run.path) for h, rs in by_split.items() if h != majority for r in rs]
        raise EmofeatError(f"runs come from different splits; these differ from the rest: "
                           f"{', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''} (runs of "
                           "several folds or repeats are compared when every split has the "
                           "same configurations)")


def load_runs(inputs: Sequence[str | Path]) -> list[RunInfo]:
    """Open every run, verify its files and hashes, and check they share one split (or
    several splits, each with the same configurations: folds or repeats)."""
    paths = find_runs(inputs)
    runs = []
    for path in paths:
        run = Run.open(path)
        run.verify_model_files()
        runs.append(run)
    common = Path(os.path.commonpath([str(p.resolve()) for p in paths]))
    if len(paths) == 1:
        common = common.parent
    infos = [RunInfo(_name(r.path, common), r, r.predictions().select("test")) for r in runs]
    _check_same_data(infos)
    return infos


def common_test_rows(runs: Sequence[RunInfo]) -> tuple[list[str], list[list[int]]]:
    """The test ids every run scored (id order), and each run's rows of them."""
    tests = [r.test for r in runs]
    common = set(tests[0].ids)
    for t in tests[1:]:
        common &= set(t.ids)
    ids = sorted(common)
    rows = []
    for t in tests:
        pos = {k: i for i, k in enumerate(t.ids)}
        rows.append([pos[k] for k in ids])
    return ids, rows
