"""Run directories: one fitted or fine-tuned model, its predictions and metrics.

```
run.json          kind, model, task, classes, features, hashes, hyperparameters, search
                  table, timings, versions, model files with SHA-256; written LAST
predictions.csv   id, split, y_true, y_pred, score_<class>...
metrics.json      per split
model.*           the model file(s); loaded only after their hash matches run.json
```

A run is complete exactly when ``run.json`` exists with ``status: complete``: it is written
atomically after every other file, so a crash never leaves a run that looks complete.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emofeat.atomic import replacing, write_json
from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_file
from emofeat.metrics import classification_metrics
from emofeat.provenance import now, versions

RUN_FORMAT = "emofeat-run"
FORMAT_VERSION = 1
RUN_FILE = "run.json"
PREDICTIONS_FILE = "predictions.csv"
METRICS_FILE = "metrics.json"
KINDS = ("classical", "finetune", "baseline")


def is_complete(run_dir: str | Path) -> bool:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("status") == "complete"
    except json.JSONDecodeError:
        return False


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


# --------------------------------------------------------------------------- predictions


@dataclass(frozen=True)
class Predictions:
    """Rows of predictions.csv: class indices into ``classes`` and a score per class."""

    ids: list[str]
    splits: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray  # (N, K)
    classes: tuple[str, ...]

    def select(self, split: str) -> Predictions:
        keep = [i for i, s in enumerate(self.splits) if s == split]
        return Predictions([self.ids[i] for i in keep], [split] * len(keep),
                           self.y_true[keep], self.y_pred[keep], self.scores[keep],
                           self.classes)

    def metrics(self) -> dict[str, Any]:
        return classification_metrics(self.y_true, self.y_pred, self.classes, self.scores)

    def metrics_by_split(self, in_sample: Sequence[str] = ()) -> dict[str, Any]:
        out = {}
        for split in ("train", "val", "test"):
            if split in self.splits:
                out[split] = self.select(split).metrics()
                if split in in_sample:
                    out[split]["in_sample"] = True
        return out


def write_predictions(path: Path, preds: Predictions) -> None:
    with replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "split", "y_true", "y_pred", *(f"score_{c}" for c in preds.classes)])
        for i, image_id in enumerate(preds.ids):
            writer.writerow([image_id, preds.splits[i], preds.classes[preds.y_true[i]],
                             preds.classes[preds.y_pred[i]],
                             *(f"{s:.7g}" for s in preds.scores[i])])


def read_predictions(path: str | Path, classes: Sequence[str]) -> Predictions:
    """Read predictions.csv back into class indices and scores."""
    path = Path(path)
    index = {c: i for i, c in enumerate(classes)}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise EmofeatError(f"cannot read {path}: {exc.strerror}") from None
    columns = [f"score_{c}" for c in classes]
    if rows and any(c not in rows[0] for c in ("id", "split", "y_true", "y_pred", *columns)):
        raise EmofeatError(f"{path} lacks columns of its run's classes {list(classes)}")
    try:
        return Predictions(
            ids=[r["id"] for r in rows],
            splits=[r["split"] for r in rows],
            y_true=np.array([index[r["y_true"]] for r in rows], dtype=np.int64),
            y_pred=np.array([index[r["y_pred"]] for r in rows], dtype=np.int64),
            scores=np.array([[float(r[c]) for c in columns] for r in rows],
                            dtype=np.float64).reshape(len(rows), len(classes)),
            classes=tuple(classes),
        )
    except (KeyError, ValueError) as exc:
        raise EmofeatError(f"{path} has a row that does not fit its run ({exc})") from None


# --------------------------------------------------------------------------- run.json


def model_file_entry(run_dir: Path, name: str) -> dict[str, str]:
    return {"file": name, "sha256": sha256_file(run_dir / name)}


def finish_run(run_dir: Path, meta: Mapping[str, Any], preds: Predictions,
               in_sample: Sequence[str] = ()) -> dict[str, Any]:
    """Write predictions.csv and metrics.json, then run.json (last, atomically)."""
    write_predictions(run_dir / PREDICTIONS_FILE, preds)
    metrics = preds.metrics_by_split(in_sample)
    write_json(run_dir / METRICS_FILE, metrics)
    record = {"format": RUN_FORMAT, "format_version": FORMAT_VERSION, "status": "complete",
              **meta, "classes": list(preds.classes), "finished": now(),
              "versions": versions()}
    write_json(run_dir / RUN_FILE, record)
    return record


@dataclass(frozen=True)
class Run:
    """A complete run directory, read back."""

    path: Path
    meta: dict[str, Any]

    @classmethod
    def open(cls, run_dir: str | Path) -> Run:
        run_dir = Path(run_dir)
        path = run_dir / RUN_FILE
        if not path.is_file():
            raise EmofeatError(f"{run_dir} is not a run directory (no {RUN_FILE})")
        try:
            meta = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise EmofeatError(f"{path} is not valid JSON ({exc})") from None
        if meta.get("format") != RUN_FORMAT or meta.get("status") != "complete":
            raise EmofeatError(f"{run_dir} is not a complete emofeat run")
        for name in (PREDICTIONS_FILE, METRICS_FILE):
            if not (run_dir / name).is_file():
                raise EmofeatError(f"{run_dir} lacks {name}")
        return cls(run_dir, meta)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.meta["classes"])

    def predictions(self) -> Predictions:
        return read_predictions(self.path / PREDICTIONS_FILE, self.classes)

    def metrics(self) -> dict[str, Any]:
        return json.loads((self.path / METRICS_FILE).read_text())

    def model_path(self, name: str) -> Path:
        """A model file of this run, after checking its SHA-256 against run.json."""
        entries = {e["file"]: e for e in self.meta.get("model_files", [])}
        if name not in entries:
            raise EmofeatError(f"{self.path}: run.json lists no model file '{name}'")
        path = self.path / name
        if not path.is_file():
            raise EmofeatError(f"{path} is missing")
        if sha256_file(path) != entries[name]["sha256"]:
            raise EmofeatError(f"{path} does not match the SHA-256 in run.json; refusing to "
                               "load a model file that was changed")
        return path

    def verify_model_files(self) -> None:
        for entry in self.meta.get("model_files", []):
            self.model_path(entry["file"])
