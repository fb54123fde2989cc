"""Runs of one family made with different settings: said in the report, never hidden.

A family's best run stands for the family, so its runs should differ only in what the
report compares (classifier, layer, task). Two fine-tuned runs with other epochs or
learning rates, or frozen runs of one backbone from stores with other preprocessing,
pooling or weights, are named in a warning: ``family: runs differ in KEY (A: run1, run2;
B: run3)``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from emofeat.report.collect import RunInfo
from emofeat.report.families import family
from emofeat.runs import FeatureRun, FinetuneRun, ZeroshotRun

#: Settings that legitimately differ inside a family (what the report compares, the split
#: and seed of repeated runs), or that do not change a result.
COMPARED = frozenset({"task", "jobs", "workers", "device", "pca", "seed", "splits_sha256",
                      "drop_invalid"})
MAX_VALUES, MAX_NAMES = 3, 3


def _kind(run: RunInfo) -> str:
    """Runs of rating and distribution tasks are compared among themselves (their models
    have no class weights, their losses other terms)."""
    kind = run.record.task_kind
    return f" ({kind} tasks)" if kind not in (None, "classification") else ""


def _settings(run: RunInfo) -> tuple[str, dict[str, Any]]:
    """(group, settings): runs of one group should share every setting."""
    fam = family(run.family)
    record = run.record
    if isinstance(record, FinetuneRun):
        return fam.label + _kind(run), dict(record.hyperparameters)
    if isinstance(record, FeatureRun):
        f = record.features
        weights = {k: f.weights.get(k) for k in ("source", "origin", "sha256", "seed")}
        group = f"{fam.label} of {f.backbone}" if fam.frozen_backbone else fam.label
        return group + _kind(run), {
            "preprocessing": f.data_config, "pooling": f.pooling, "dtype": f.dtype,
            "precision": f.precision, "weights": weights, **record.options}
    if isinstance(record, ZeroshotRun):
        weights = {k: record.weights.get(k) for k in ("source", "origin", "sha256", "seed")}
        return f"{fam.label} of {record.model}", {
            "preprocessing": record.data_config, "weights": weights,
            "prompt_sha256": record.prompt_sha256, "prompt_choice": record.prompt_choice}
    return fam.label, {}


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _names(names: Sequence[str]) -> str:
    more = f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else ""
    return ", ".join(names[:MAX_NAMES]) + more


def settings_warnings(runs: Sequence[RunInfo]) -> list[str]:
    """One line per (family group, setting) whose runs do not agree."""
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for run in runs:
        group, settings = _settings(run)
        groups.setdefault(group, []).append((run.name, settings))
    lines = []
    for group, members in groups.items():
        keys = sorted({k for _, s in members for k in s} - COMPARED)
        for key in keys:
            values: dict[str, list[str]] = {}
            for name, settings in members:
                values.setdefault(_show(settings.get(key)), []).append(name)
            if len(values) > 1:
                shown = "; ".join(f"{v}: {_names(n)}"
                                  for v, n in list(values.items())[:MAX_VALUES])
                lines.append(f"{group}: runs differ in {key} ({shown})")
    return lines
