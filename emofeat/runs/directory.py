"""A run directory: made ready, finished (run.json last), and opened again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from emofeat.atomic import write_json
from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_file
from emofeat.provenance import now, versions
from emofeat.records import says_complete
from emofeat.runs.predictions import (
    AnyPredictions,
    DistributionPredictions,
    RatingPredictions,
    read_distribution_predictions,
    read_predictions,
    read_rating_predictions,
    write_predictions,
)
from emofeat.runs.record import RUN_JSON, ModelFile, RunRecord

RUN_FILE = "run.json"
PREDICTIONS_FILE = "predictions.csv"
METRICS_FILE = "metrics.json"


def is_complete(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a run.json that says the run is complete (its shape is
    checked when the run is opened)."""
    return says_complete(Path(run_dir) / RUN_FILE)


def _is_run_file(name: str) -> bool:
    """Files a run (possibly interrupted) may hold; anything else is not ours to replace."""
    return name.startswith((".", "model", "checkpoint")) or name in (
        RUN_FILE, PREDICTIONS_FILE, METRICS_FILE)


def prepare_run_dir(run_dir: str | Path, overwrite: bool = False) -> Path:
    """Make ``run_dir`` ready for a new run. A complete run is refused unless ``overwrite``;
    its run.json goes first, so an interrupted overwrite never looks complete.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise EmofeatError(f"{run_dir} exists and is not a directory")
    if is_complete(run_dir):
        if not overwrite:
            raise EmofeatError(f"{run_dir} already holds a complete run; pass --overwrite "
                               "to replace it")
        (run_dir / RUN_FILE).unlink()
    elif run_dir.is_dir() and not all(_is_run_file(p.name) for p in run_dir.iterdir()):
        raise EmofeatError(f"{run_dir} is not empty and is not a run directory; choose another")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def model_file_entry(run_dir: Path, name: str) -> ModelFile:
    return ModelFile(file=name, sha256=sha256_file(run_dir / name))


def finish_run(run_dir: Path, record: RunRecord, preds: AnyPredictions,
               in_sample: Sequence[str] = ()) -> dict[str, Any]:
    """Write predictions.csv and metrics.json, then run.json (last, atomically): ``record``
    with the task kind (from the predictions), the classes, the time and the library
    versions filled in.

    Returns run.json as a dict (what callers of earlier versions received).
    """
    write_predictions(run_dir / PREDICTIONS_FILE, preds)
    write_json(run_dir / METRICS_FILE, preds.metrics_by_split(in_sample))
    kind = "regression" if isinstance(preds, RatingPredictions) else \
        "distribution" if isinstance(preds, DistributionPredictions) else "classification"
    record = replace(record, task_kind=kind, classes=tuple(preds.classes), finished=now(),
                     versions=versions())
    RUN_JSON.write(run_dir / RUN_FILE, record)
    return RUN_JSON.dump(record)


@dataclass(frozen=True)
class Run:
    """A complete run directory, read back."""

    path: Path
    record: RunRecord

    @classmethod
    def open(cls, run_dir: str | Path) -> Run:
        run_dir = Path(run_dir)
        path = run_dir / RUN_FILE
        if not path.is_file():
            raise EmofeatError(f"{run_dir} is not a run directory (no {RUN_FILE})")
        record = RUN_JSON.read(path)
        for name in (PREDICTIONS_FILE, METRICS_FILE):
            if not (run_dir / name).is_file():
                raise EmofeatError(f"{run_dir} lacks {name}")
        return cls(run_dir, record)

    @cached_property
    def meta(self) -> dict[str, Any]:
        """run.json as a dict (older callers; new code reads :attr:`record`)."""
        return RUN_JSON.dump(self.record)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.record.classes

    @property
    def is_regression(self) -> bool:
        return self.record.is_regression

    @property
    def is_distribution(self) -> bool:
        return self.record.is_distribution

    def predictions(self) -> AnyPredictions:
        """Class predictions, ratings for a run of a rating task, distributions for a run of
        the distribution task."""
        if self.is_distribution:
            return read_distribution_predictions(self.path / PREDICTIONS_FILE, self.classes)
        if self.is_regression:
            return read_rating_predictions(self.path / PREDICTIONS_FILE)
        return read_predictions(self.path / PREDICTIONS_FILE, self.classes)

    def metrics(self) -> dict[str, Any]:
        return json.loads((self.path / METRICS_FILE).read_text())

    def model_path(self, name: str) -> Path:
        """A model file of this run, after checking its SHA-256 against run.json."""
        entries = {e.file: e for e in self.record.model_files}
        if name not in entries:
            raise EmofeatError(f"{self.path}: run.json lists no model file '{name}'")
        path = self.path / name
        if not path.is_file():
            raise EmofeatError(f"{path} is missing")
        if sha256_file(path) != entries[name].sha256:
            raise EmofeatError(f"{path} does not match the SHA-256 in run.json; refusing to "
                               "load a model file that was changed")
        return path

    def verify_model_files(self) -> None:
        for entry in self.record.model_files:
            self.model_path(entry.file)
