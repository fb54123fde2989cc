"""``emofeat evaluate``: a fitted or fine-tuned run applied to another data set.

From a feature store, the run's classifier reads the store's features, allowed only when
the store was made as the run's own (backbone, weights, layers, pooling, data config);
from a data set folder, features are extracted on the fly by :mod:`emofeat.predict`.
Target labels become the run's classes through :mod:`emofeat.transfer.mapping`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from emofeat.atomic import write_json
from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_file
from emofeat.metrics import classes_absent_from_truth_allowed
from emofeat.provenance import now, versions
from emofeat.records import read_json_object
from emofeat.runs import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    RUN_FILE,
    FeatureRun,
    FinetuneRun,
    Predictions,
    Run,
    ZeroshotRun,
    write_predictions,
)
from emofeat.transfer.mapping import Mapped, map_labels, mapping_kind
from emofeat.transfer.record import (
    EVAL_FILE,
    EVAL_JSON,
    EVAL_SPLITS,
    DatasetRef,
    EvaluationRecord,
    dataset_name,
    is_evaluation,
)
from emofeat.transfer.target import Target, open_target

log = logging.getLogger(__name__)


def _weights_id(weights: dict[str, Any]) -> str:
    return weights.get("sha256") or f"{weights.get('source')} (seed {weights.get('seed')})"


def feature_differences(run: FeatureRun, store: Any) -> list[str]:
    """What differs between the features a run was fitted on and a store's (empty: none)."""
    f, s = run.features, store.record
    diffs = []
    if f.backbone != s.backbone:
        diffs.append(f"backbone: run {f.backbone}, store {s.backbone}")
    if _weights_id(f.weights) != _weights_id(s.weights):
        diffs.append(f"weights: run {_weights_id(f.weights)}, store {_weights_id(s.weights)}")
    for layer in f.layers:
        if layer not in s.layers:
            diffs.append(f"layer {layer.name}: not in the store with the run's dim, channels "
                         f"and stride (store layers: {', '.join(s.layer_names)})")
    if f.pooling != s.pooling:
        diffs.append(f"pooling: run {f.pooling}, store {s.pooling}")
    if f.data_config != s.data_config:
        keys = sorted(k for k in {*f.data_config, *s.data_config}
                      if f.data_config.get(k) != s.data_config.get(k))
        diffs.append(f"data config: differs in {', '.join(keys)}")
    own = _own_store_value(f.store, "prefix_tokens", s.prefix_tokens)
    if own != s.prefix_tokens:
        diffs.append(f"prefix tokens left out of pooling: run {own}, store {s.prefix_tokens}")
    return diffs


def _own_store_value(store: str, key: str, default: Any) -> Any:
    """A setting of the store a run was fitted on, where that store is still on disk."""
    meta = Path(store) / "store.json"
    return read_json_object(meta).get(key) if meta.is_file() else default


def numeric_differences(run: FeatureRun, store: Any) -> list[str]:
    """Precision and dtype: the same features up to rounding, so a warning, not a refusal."""
    f, s = run.features, store.record
    return [f"{key}: run {getattr(f, key)}, store {getattr(s, key)}"
            for key in ("precision", "dtype") if getattr(f, key) != getattr(s, key)]


def _check_not_training_data(run: Run, target: Target, split: str) -> None:
    """A run's own data set is only scored on the run's own test split: anything else would
    score images it was trained or tuned on as if they were new."""
    record = run.record
    if target.ref.manifest_sha256 != record.manifest_sha256:
        return
    if split == "test" and target.ref.splits_sha256 == record.splits_sha256:
        return
    raise EmofeatError(f"{target.ref.name} is the data set {run.path} was trained on; "
                       "evaluate it there only with --split test and the run's own split "
                       "(its train and val images would be scored as new ones)")


def _source(run: Run) -> DatasetRef:
    record = run.record
    root = None
    if isinstance(record, FeatureRun):
        meta = Path(record.features.store) / "store.json"
        if meta.is_file():
            root = read_json_object(meta).get("dataset_root")
    fmt = record.dataset_format
    return DatasetRef(name=dataset_name(fmt, root), format=fmt,
                      manifest_sha256=record.manifest_sha256,
                      splits_sha256=record.splits_sha256, root=root)


def _check_run(run: Run) -> None:
    if not isinstance(run.record, FeatureRun | FinetuneRun | ZeroshotRun):
        raise EmofeatError(f"{run.path}: a {run.record.model} baseline predicts no images; "
                           "evaluate fitted or fine-tuned runs")
    if run.record.is_distribution:
        raise EmofeatError(f"{run.path} predicts emotion distributions; cross-dataset "
                           "evaluation maps class labels between taxonomies and takes runs "
                           "of classification tasks (valence, emotion8, label)")
    run.verify_model_files()


@dataclass(frozen=True)
class _Scored:
    rows: list[int]  # positions in the target
    y_pred: np.ndarray
    scores: np.ndarray
    failed: tuple[tuple[str, str], ...] = ()


def _from_store(run: Run, target: Target, rows: list[int]) -> _Scored:
    from emofeat.classical import load_model, scores_of
    from emofeat.classical.storedata import load_features

    record = run.record
    assert isinstance(record, FeatureRun) and target.store is not None
    model = load_model({e.file: run.model_path(e.file) for e in record.model_files})
    X = load_features(target.store, record.features.layer_order)[rows]
    return _Scored(rows, np.asarray(model.predict(X)), scores_of(model, X))


def _check_store(run: Run, target: Target) -> None:
    record = run.record
    assert isinstance(record, FeatureRun) and target.store is not None
    diffs = feature_differences(record, target.store)
    if diffs:
        raise EmofeatError(f"the store {target.store.path} was not made like the run's "
                           f"features, so its features cannot be used: {'; '.join(diffs)}")
    if rounding := numeric_differences(record, target.store):
        log.warning("%s: features computed otherwise than the run's (%s); scores may differ "
                    "by rounding", target.store.path, "; ".join(rounding))


def _from_images(run: Run, target: Target, rows: list[int], batch_size: int,
                 device: str) -> _Scored:
    from emofeat.predict import predict_images

    if target.root is None:
        raise EmofeatError("the target has no image folder")
    paths = [target.root / target.files.get(target.ids[r], target.ids[r]) for r in rows]
    classes, predicted = predict_images(run.path, paths, batch_size=batch_size, device=device)
    kept, y_pred, scores, failed = [], [], [], []
    for row, p in zip(rows, predicted, strict=True):
        if p.label is None:
            failed.append((target.ids[row], p.error))
            continue
        kept.append(row)
        y_pred.append(classes.index(p.label))
        scores.append([p.scores[c] for c in classes])
    return _Scored(kept, np.array(y_pred, dtype=np.int64),
                   np.array(scores, dtype=np.float64).reshape(len(kept), len(classes)),
                   tuple(failed))


def _metrics(preds: Predictions, split: str, known: bool) -> dict[str, Any]:
    """metrics.json in the run format: per split; "all" as well when every image was
    evaluated. Balanced accuracy averages over the classes the target has."""
    with classes_absent_from_truth_allowed():
        if split == "test":
            return {"test": preds.metrics()}
        return {"all": preds.metrics(), **(preds.metrics_by_split() if known else {})}


def _prepare(out: Path, request: dict[str, Any], overwrite: bool, reuse: bool
             ) -> EvaluationRecord | None:
    """The complete evaluation to reuse (same request, ``reuse``), or None with ``out``
    ready for a new one (eval.json removed first, so it never looks complete)."""
    if out.exists() and not out.is_dir():
        raise EmofeatError(f"{out} exists and is not a directory")
    if is_evaluation(out):
        old = EVAL_JSON.read(out / EVAL_FILE)
        if reuse and old.request == request and not overwrite:
            return old
        if not (overwrite or reuse):
            raise EmofeatError(f"{out} already holds a complete evaluation; pass --overwrite "
                               "to replace it")
        if not overwrite:
            log.warning("%s was made with other settings; evaluating again", out)
        (out / EVAL_FILE).unlink()
    elif out.is_dir():
        ours = (EVAL_FILE, PREDICTIONS_FILE, METRICS_FILE)
        if any(p.name not in ours and not p.name.startswith(".") for p in out.iterdir()):
            raise EmofeatError(f"{out} is not empty and is not an evaluation; choose another")
    out.mkdir(parents=True, exist_ok=True)
    return None


def _selected(target: Target, mapped: Mapped, split: str) -> list[int]:
    if split == "test":
        assert target.split is not None
        in_test = set(target.split.ids("test"))
        return [r for r, k in enumerate(target.ids)
                if mapped.index[r] is not None and k in in_test]
    return [r for r in range(len(target.ids)) if mapped.index[r] is not None]


def evaluate(run_dir: str | Path, data: str | Path, out: str | Path, split: str = "all",
             splits_file: str | Path | None = None, fmt: str = "auto",
             min_agree: int | None = None, allow_outside_root: bool = False,
             label_from: str | None = None, batch_size: int = 32, device: str = "auto",
             overwrite: bool = False,
             reuse: bool = False) -> EvaluationRecord:
    """Apply the run in ``run_dir`` to ``data`` (a feature store or a data set) and write
    ``out``: predictions.csv, metrics.json, then eval.json. ``split``: ``all`` images or
    the target's ``test`` split (``splits_file``, else a store's own, a release's own or the
    default seeded split). ``reuse``: keep a complete evaluation made the same way (and
    redo one made otherwise) instead of refusing it."""
    if split not in EVAL_SPLITS:
        raise EmofeatError(f"unknown split '{split}'; valid: {', '.join(EVAL_SPLITS)}")
    run = Run.open(run_dir)
    _check_run(run)
    target = open_target(data, splits_file, fmt, min_agree, allow_outside_root,
                         need_split=split == "test", label_from=label_from)
    via = "store" if target.store is not None else "images"
    if via == "store" and isinstance(run.record, FinetuneRun | ZeroshotRun):
        raise EmofeatError(f"{run.path} is a {run.record.kind} run: it needs the target's "
                           "images, not a feature store")
    if via == "store":  # refusals come before anything in ``out`` is touched
        _check_store(run, target)
    _check_not_training_data(run, target, split)
    if via == "images" and run.record.kind == "baseline":
        raise EmofeatError(f"{run.path}: colour-feature runs read colour stores; give the "
                           "target's colour store")
    mapped = map_labels(target.ref.format, target.labels, run.record.task, run.classes,
                        target.ratings, target=target.ref.name)
    out = Path(out)
    request = {"run_sha256": sha256_file(run.path / RUN_FILE),
               "target_manifest_sha256": target.ref.manifest_sha256,
               "target_splits_sha256": target.ref.splits_sha256, "split": split,
               "features": via,
               "store_sha256": target.store.sha256 if target.store is not None else None}
    if (kept := _prepare(out, request, overwrite, reuse)) is not None:
        return kept
    rows = _selected(target, mapped, split)
    scored = (_from_store(run, target, rows) if via == "store"
              else _from_images(run, target, rows, batch_size, device))
    return _write(out, run, target, mapped, split, scored, request)


def _write(out: Path, run: Run, target: Target, mapped: Mapped, split: str, scored: _Scored,
           request: dict[str, Any]) -> EvaluationRecord:
    if not scored.rows:
        raise EmofeatError(f"no image of {target.ref.name} could be evaluated "
                           f"(split '{split}')")
    y_true = np.array([mapped.index[r] for r in scored.rows], dtype=np.int64)
    splits = [target.split.assignment[target.ids[r]] if target.split else "all"
              for r in scored.rows]
    preds = Predictions([target.ids[r] for r in scored.rows], splits, y_true, scored.y_pred,
                        scored.scores, run.classes)
    write_predictions(out / PREDICTIONS_FILE, preds)
    write_json(out / METRICS_FILE, _metrics(preds, split, target.split is not None))
    record = EvaluationRecord(
        run=str(run.path.resolve()), run_sha256=str(request["run_sha256"]),
        kind=run.record.kind, model=run.record.model, task=run.record.task,
        layer=run.record.layer, classes=run.classes, source=_source(run), target=target.ref,
        split=split,  # type: ignore[arg-type]
        mapping=mapping_kind(run.record.task, run.classes), features=request["features"],
        store=str(target.store.path.resolve()) if target.store is not None else None,
        store_sha256=request["store_sha256"], n=len(scored.rows), unmapped=mapped.unmapped,
        failed=scored.failed, request=request)
    record = replace(record, finished=now(), versions=versions())
    EVAL_JSON.write(out / EVAL_FILE, record)
    return record
