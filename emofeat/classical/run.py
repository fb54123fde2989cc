"""From a feature store to run directories: load a layer once, fit every model and task."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from emofeat.classical.backend import out_of_core
from emofeat.classical.estimators import EstimatorSpec, FitOptions, get_spec, parse_grid
from emofeat.classical.lazy import lazy_features
from emofeat.classical.persist import save_model
from emofeat.classical.search import SplitData, fit_and_search, scores_of
from emofeat.errors import EmofeatError
from emofeat.runs import (
    FeatureRun,
    FeaturesRecord,
    Predictions,
    SearchRecord,
    finish_run,
    is_complete,
    model_file_entry,
    prepare_run_dir,
)
from emofeat.splits import SPLIT_NAMES, Split, check_split_matches, read_split
from emofeat.store import Store
from emofeat.taxonomy import Task, get_task

log = logging.getLogger(__name__)


def parse_layers(store: Store, layer: str) -> list[str]:
    """``a`` or ``a+b`` (concatenated), each checked against the store's layers."""
    names = [x.strip() for x in layer.split("+") if x.strip()]
    if not names:
        raise EmofeatError("--layer is empty")
    for name in names:
        store.check_layer(name)
    return names


def store_split(store: Store, splits_file: str | Path | None = None) -> Split:
    """The store's own split, or a given one, checked against the store's ids.

    Ids in the split but not in the store are fine only if extraction recorded them as
    failed; ids in the store but not in the split are an error.
    """
    split = read_split(splits_file) if splits_file else store.split()
    source = str(splits_file) if splits_file else f"{store.path}/splits.csv"
    check_split_matches(split, store.ids, source=source, unreadable=store.failed,
                        data=f"the store {store.path}")
    return split


def load_features(store: Store, layers: Sequence[str]) -> np.ndarray:
    """Concatenated features of the layers, float32, checked for NaN and Inf."""
    X = np.concatenate([store.load(name).astype(np.float32, copy=False) for name in layers],
                       axis=1)
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise EmofeatError(f"layer(s) {'+'.join(layers)} of {store.path} hold NaN or Inf in "
                           f"{rows.size} rows, e.g. {[store.ids[r] for r in rows[:3]]}")
    return X


def split_data(store: Store, X: np.ndarray, task: Task, split: Split) -> SplitData:
    y_all = task.encode(store.labels)
    where = {s: [] for s in SPLIT_NAMES}
    for row, image_id in enumerate(store.ids):
        where[split.assignment[image_id]].append(row)
    data = SplitData(X={s: X[r] for s, r in where.items()},
                     y={s: y_all[r] for s, r in where.items()},
                     ids={s: [store.ids[i] for i in r] for s, r in where.items()})
    if not len(data.y["val"]):
        raise EmofeatError("the split has no val images; hyperparameters are chosen on val")
    missing = [task.classes[k] for k in range(task.n_classes) if k not in set(data.y["train"])]
    if missing:
        raise EmofeatError(f"class(es) {', '.join(missing)} have no train images for task "
                           f"'{task.name}'")
    return data


def _features_record(store: Store, layers: Sequence[str]) -> FeaturesRecord:
    rec = store.record
    return FeaturesRecord(
        store=str(store.path.resolve()),
        store_sha256=store.sha256,
        backbone=rec.backbone,
        weights=rec.weights,
        manifest_sha256=rec.dataset.manifest_sha256,
        dataset_format=rec.dataset.format,
        data_config=rec.data_config,
        layers=tuple(la for la in rec.layers if la.name in layers),
        layer_order=tuple(layers),
        store_layers=tuple(rec.layer_names),
        pooling=rec.pooling,
        precision=rec.precision,
        dtype=rec.dtype,
    )


def predictions_of(pipe: Any, data: SplitData, classes: Sequence[str]) -> Predictions:
    ids, splits, y_true, y_pred, scores = [], [], [], [], []
    for s in SPLIT_NAMES:
        if not len(data.y[s]):
            continue
        ids += data.ids[s]
        splits += [s] * len(data.ids[s])
        y_true.append(data.y[s])
        y_pred.append(np.asarray(pipe.predict(data.X[s])))
        scores.append(scores_of(pipe, data.X[s]))
    return Predictions(ids, splits, np.concatenate(y_true), np.concatenate(y_pred),
                       np.concatenate(scores), tuple(classes))


def fit_one(spec: EstimatorSpec, task: Task, data: SplitData, layers: Sequence[str],
            store: Store, split: Split, run_dir: Path, options: FitOptions,
            grid: dict[str, list[Any]], overwrite: bool = False) -> dict[str, Any]:
    """Search, refit, predict every split, and write one run directory."""
    prepare_run_dir(run_dir, overwrite)
    started = time.perf_counter()
    fitted = fit_and_search(spec, data, options, grid)
    t0 = time.perf_counter()
    preds = predictions_of(fitted.pipeline, data, task.classes)
    predict_s = time.perf_counter() - t0
    files = save_model(fitted.pipeline, run_dir)
    record = FeatureRun(
        kind="baseline" if store.record.handcrafted else "classical",
        model=spec.name,
        model_summary=spec.summary,
        task=task.name,
        layer="+".join(layers),
        features=_features_record(store, layers),
        splits_sha256=split.sha256,
        options=asdict(fitted.options),
        hyperparameters=fitted.search.best,
        search=SearchRecord(metric="balanced_accuracy on val (fit on train)",
                            grid=fitted.grid, table=tuple(fitted.search.table)),
        refit_on=("train", "val"),
        score_kind=spec.scores,
        n={s: len(data.ids[s]) for s in SPLIT_NAMES},
        timings={"search_seconds": round(fitted.search.seconds, 3),
                 "refit_seconds": round(fitted.refit_seconds, 3),
                 "predict_seconds": round(predict_s, 3),
                 "total_seconds": round(time.perf_counter() - started, 3)},
        model_files=tuple(model_file_entry(run_dir, f) for f in files),
    )
    return finish_run(run_dir, record, preds, in_sample=("train", "val"))


def fit_all(
    store_dir: str | Path,
    models: Sequence[str],
    tasks: Sequence[str],
    layers: Sequence[str],
    out: str | Path,
    splits_file: str | Path | None = None,
    grid: Sequence[str] = (),
    options: FitOptions | None = None,
    overwrite: bool = False,
    on_done: Callable[[Path, dict[str, Any] | None], None] | None = None,
    nested: bool | None = None,
) -> list[Path]:
    """Fit every (model, task, layer). Several combinations (or ``nested=True``) write
    ``out/<model>-<task>-<layer>/`` and skip those already complete (resume); a single one
    writes ``out`` itself.

    ``on_done(run_dir, record)`` is called after each run (record None: skipped).
    """
    options = options or FitOptions()
    store = Store.open(store_dir)
    specs = [get_spec(m) for m in models]
    grids = {s.name: parse_grid(s, grid) for s in specs}
    layer_sets = [parse_layers(store, layer) for layer in layers]
    task_objs = [get_task(t, store.labels) for t in tasks]
    split = store_split(store, splits_file)
    single = not nested if nested is not None else \
        len(specs) * len(task_objs) * len(layer_sets) == 1
    out = Path(out)
    done: list[Path] = []
    for names in layer_sets:
        matrices: dict[bool, Any] = {}  # in memory, and out of core (a Dask array), as needed
        for task in task_objs:
            for spec in specs:
                run_dir = out if single else out / f"{spec.name}-{task.name}-{'+'.join(names)}"
                if not single and is_complete(run_dir) and not overwrite:
                    log.info("%s is complete; skipped", run_dir)
                    if on_done:
                        on_done(run_dir, None)
                    done.append(run_dir)
                    continue
                lazy = out_of_core(spec, store, names)
                if lazy not in matrices:
                    matrices[lazy] = (lazy_features if lazy else load_features)(store, names)
                data = split_data(store, matrices[lazy], task, split)
                record = fit_one(spec, task, data, names, store, split, run_dir, options,
                                 grids[spec.name], overwrite)
                if on_done:
                    on_done(run_dir, record)
                done.append(run_dir)
    return done
