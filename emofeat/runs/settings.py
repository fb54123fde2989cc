"""What made a run: its settings, compared with those asked for before a run is reused.

A complete run is reused only when the settings it recorded are the ones asked for now;
:func:`changes` names what differs in one line, like a feature store does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emofeat.errors import EmofeatError
from emofeat.runs.record import (
    RUN_JSON,
    FeatureRun,
    FinetuneRun,
    MajorityRun,
    RunRecord,
    ZeroshotRun,
)

#: Settings that do not change a result (parallelism, where it ran).
IGNORED = frozenset({"jobs", "workers", "device"})


def _plain(value: Any) -> Any:
    """The value as JSON reads it back (tuples as lists, 1 and 1.0 kept apart)."""
    return json.loads(json.dumps(value, default=str))


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef"
                                                           for c in value):
        return value[:12]  # a SHA-256
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def changes(recorded: Mapping[str, Any], requested: Mapping[str, Any],
            holder: str = "run") -> str:
    """``key: run has A, asked for B; ...`` for every setting that differs (empty: none)."""
    keys = sorted((set(recorded) | set(requested)) - IGNORED)
    return "; ".join(f"{k}: {holder} has {_show(recorded.get(k))}, asked for "
                     f"{_show(requested.get(k))}" for k in keys
                     if _plain(recorded.get(k)) != _plain(requested.get(k)))


def feature_settings(record: FeatureRun) -> dict[str, Any]:
    """A classifier run's settings; runs written before ``request`` existed rebuild it."""
    if record.request:
        return dict(record.request)
    options = {k: v for k, v in record.options.items() if k not in IGNORED}
    return {"model": record.model, "task": record.task, "layer": record.layer,
            "store_sha256": record.features.store_sha256,
            "splits_sha256": record.splits_sha256, **options, "grid": record.search.grid}


def majority_settings(task: str, splits_sha256: str, manifest_sha256: str,
                      drop_invalid: bool | None = None) -> dict[str, Any]:
    """A baseline's settings (``drop_invalid``: the mean distribution's only)."""
    return {"task": task, "splits_sha256": splits_sha256, "manifest_sha256": manifest_sha256,
            **({} if drop_invalid is None else {"drop_invalid": drop_invalid})}


def settings_of(record: RunRecord) -> dict[str, Any]:
    """The settings a run recorded, in the shape its step asks with."""
    if isinstance(record, FinetuneRun):
        return dict(record.hyperparameters)
    if isinstance(record, ZeroshotRun):
        return dict(record.request)
    if isinstance(record, MajorityRun):
        return majority_settings(record.task, record.splits_sha256, record.manifest_sha256,
                                 record.hyperparameters.get("drop_invalid")
                                 if record.model == "mean-distribution" else None)
    return feature_settings(record)


def run_changes(run_dir: str | Path, requested: Mapping[str, Any]) -> str:
    """What differs between the complete run in ``run_dir`` and ``requested``."""
    return changes(settings_of(RUN_JSON.read(Path(run_dir) / "run.json")), requested)


def refuse_changed(run_dir: str | Path, requested: Mapping[str, Any]) -> None:
    """A complete run made with other settings is never reused silently: one line naming
    what differs and how to go on."""
    if diff := run_changes(run_dir, requested):
        raise EmofeatError(f"{run_dir} holds a complete run made with other settings ({diff});"
                           " pass --overwrite to replace it, or choose another --out")
