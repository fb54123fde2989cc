"""From a feature store to run directories: load a layer once, fit every model and task.

What a fit reads from the store (split, features, targets) is :mod:`~emofeat.classical.storedata`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from emofeat.classical.backend import out_of_core
from emofeat.classical.caveats import small_val_of, wants_extension
from emofeat.classical.criteria import SEARCH_METRIC
from emofeat.classical.estimators import EstimatorSpec, FitOptions, get_spec, parse_grid
from emofeat.classical.lazy import lazy_features
from emofeat.classical.options import plan_fits
from emofeat.classical.persist import save_model
from emofeat.classical.search import SplitData, fit_and_search, scores_of
from emofeat.classical.storedata import (
    AnyTask,
    features_record,
    load_features,
    parse_layers,
    split_data,
    store_split,
    store_task_labels,
)
from emofeat.distributions import refuse_invalid
from emofeat.runs import (
    DistributionPredictions,
    FeatureRun,
    Predictions,
    RatingPredictions,
    SearchRecord,
    finish_run,
    is_complete,
    model_file_entry,
    prepare_run_dir,
)
from emofeat.runs.settings import refuse_changed, run_changes
from emofeat.splits import SPLIT_NAMES, Split
from emofeat.store import Store
from emofeat.taxonomy import DISTRIBUTION_TASKS, SCORE_TASKS, DistributionTask, RatingTask

log = logging.getLogger(__name__)

#: What :func:`fit_all` does with a complete run made with other settings.
Changed = Literal["refuse", "redo"]


def predictions_of(pipe: Any, data: SplitData, classes: Sequence[str], kind: str = ""
                   ) -> Predictions | RatingPredictions | DistributionPredictions:
    """Every split's predictions; no classes: a rating task's (no scores); ``kind``
    ``distribution``: true and predicted distributions."""
    ids, splits, y_true, y_pred, scores = [], [], [], [], []
    if kind == "distribution":
        present = [s for s in SPLIT_NAMES if len(data.y[s])]
        for s in present:
            ids += data.ids[s]
            splits += [s] * len(data.ids[s])
        return DistributionPredictions(
            ids, splits, np.concatenate([data.y[s] for s in present]),
            np.concatenate([np.asarray(pipe.predict(data.X[s]), dtype=np.float64)
                            for s in present]), tuple(classes))
    if not classes:
        for s in SPLIT_NAMES:
            ids += data.ids[s]
            splits += [s] * len(data.ids[s])
        return RatingPredictions(
            ids, splits, np.concatenate([data.y[s] for s in SPLIT_NAMES]).astype(np.float64),
            np.concatenate([np.asarray(pipe.predict(data.X[s]), dtype=np.float64)
                            for s in SPLIT_NAMES if len(data.y[s])] or [np.zeros(0)]))
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


def fit_request(spec: EstimatorSpec, task: AnyTask, layers: Sequence[str],
                store: Store, split: Split, options: FitOptions, grid: dict[str, list[Any]],
                extend: bool = False, drop: bool = False) -> dict[str, Any]:
    """The settings of one run as asked for: recorded, and compared before it is reused
    (``grid_extend`` only when asked for, so earlier runs keep their settings; ``drop``:
    the distribution task left invalid rows out, only said where there were some)."""
    return {"model": spec.name, "task": task.name, "layer": "+".join(layers),
            "store_sha256": store.sha256, "splits_sha256": split.sha256,
            **{k: v for k, v in asdict(options).items() if k != "jobs"}, "grid": grid,
            **({"grid_extend": True} if extend else {}),
            **({"drop_invalid": True} if drop else {})}


def fit_one(spec: EstimatorSpec, task: AnyTask, data: SplitData,
            layers: Sequence[str],
            store: Store, split: Split, run_dir: Path, options: FitOptions,
            grid: dict[str, list[Any]], overwrite: bool = False, extend: bool = False,
            drop: bool = False) -> dict[str, Any]:
    """Search (``extend``: a grid edge extended once), refit, predict every split, and
    write one run directory."""
    prepare_run_dir(run_dir, overwrite)
    request = fit_request(spec, task, layers, store, split, options, grid, extend, drop)
    started = time.perf_counter()
    fitted = fit_and_search(spec, data, options, grid, extend,
                            f"{spec.name} {task.name} {'+'.join(layers)}")
    t0 = time.perf_counter()
    preds = predictions_of(fitted.pipeline, data, task.classes, task.kind)
    predict_s = time.perf_counter() - t0
    files = save_model(fitted.pipeline, run_dir)
    record = FeatureRun(
        kind="baseline" if store.record.handcrafted else "classical",
        model=spec.name,
        model_summary=spec.summary,
        task=task.name,
        layer="+".join(layers),
        features=features_record(store, layers),
        splits_sha256=split.sha256,
        split_groups=split.group_info,
        options=asdict(fitted.options),
        request=request,
        hyperparameters=fitted.search.best,
        search=SearchRecord(metric=SEARCH_METRIC[spec.kind], grid=fitted.grid,
                            table=tuple(fitted.search.table)),
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


@dataclass(frozen=True)
class _Planned:
    """One (model, task, layer) run of :func:`fit_all` and what reusing it would mean."""

    run_dir: Path
    spec: EstimatorSpec
    task: AnyTask
    layers: list[str]
    request: dict[str, Any]
    action: str = "fit"  # fit | skip (complete, same settings) | redo (other settings)
    drop: bool = False  # invalid distributions left out (there were some)


def _plan_one(run_dir: Path, request: dict[str, Any], overwrite: bool, single: bool,
              changed: Changed) -> str:
    if overwrite or not is_complete(run_dir):
        return "fit"
    if diff := run_changes(run_dir, request):
        if changed == "refuse":
            refuse_changed(run_dir, request)
        log.warning("%s was made with other settings (%s); fitting it again", run_dir, diff)
        return "redo"
    return "fit" if single else "skip"  # a single run refuses to replace itself


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
    changed: Changed = "refuse",
    drop_invalid: bool = False,
) -> list[Path]:
    """Fit every (model, task, layer), pairing each task with the models of its kind
    (:func:`~emofeat.classical.options.plan_fits`: classifiers for classification tasks,
    regressors for rating tasks). Several combinations (or ``nested=True``) write
    ``out/<model>-<task>-<layer>/`` and skip those already complete with the same settings
    (resume); a single one writes ``out`` itself. A rating task on a store without that
    rating is refused before anything is written.

    A complete run made with other settings (options, grid, seed, store, split) is refused
    before anything is fitted, naming what differs (``changed="refuse"``), or fitted again
    with a warning (``changed="redo"``: the experiment runner, whose config decides).
    ``on_done(run_dir, record)`` is called after each run (record None: skipped).

    The distribution task on a store whose distributions have invalid rows is refused,
    naming the first, unless ``drop_invalid``: then those images are left out, counted.
    """
    options = options or FitOptions()
    store = Store.open(store_dir)
    pairs = plan_fits(models, tasks)
    task_names = list(dict.fromkeys(t for _, t in pairs))
    labels = {t: store_task_labels(store, t) for t in task_names
              if t not in SCORE_TASKS and t not in DISTRIBUTION_TASKS}
    task_objs: list[AnyTask] = [
        labels[t].task if t in labels else
        DistributionTask(t, store.distribution_classes(t)) if t in DISTRIBUTION_TASKS else
        RatingTask(t) for t in task_names]
    drops: dict[str, bool] = {}
    for t in task_objs:
        if isinstance(t, RatingTask):
            store.check_rating(t.name)
        if isinstance(t, DistributionTask):
            info = (store.record.distributions or {})[t.name]
            refuse_invalid(f"the store {store.path}", info.first_invalid, drop_invalid)
            drops[t.name] = bool(info.invalid)
    specs = {t.name: [get_spec(m, t.kind) for m, name in pairs if name == t.name]
             for t in task_objs}
    extend, grid = wants_extension(grid)
    grids = {(s.kind, s.name): parse_grid(s, grid) for ss in specs.values() for s in ss}
    layer_sets = [parse_layers(store, layer) for layer in layers]
    split = store_split(store, splits_file)
    small_val_of(task_objs, store.ids, {t: tl.labels for t, tl in labels.items()},
                 split.assignment)
    single = not nested if nested is not None else len(pairs) * len(layer_sets) == 1
    out = Path(out)
    plan = []
    for names in layer_sets:
        for task in task_objs:
            for spec in specs[task.name]:
                run_dir = out if single else out / f"{spec.name}-{task.name}-{'+'.join(names)}"
                drop = drops.get(task.name, False)
                request = fit_request(spec, task, names, store, split, options,
                                      grids[spec.kind, spec.name], extend, drop)
                plan.append(_Planned(run_dir, spec, task, names, request,
                                     _plan_one(run_dir, request, overwrite, single, changed),
                                     drop))
    return _fit_planned(plan, store, split, options, grids, overwrite, on_done, extend)


def _fit_planned(plan: Sequence[_Planned], store: Store, split: Split, options: FitOptions,
                 grids: dict[tuple[str, str], dict[str, list[Any]]], overwrite: bool,
                 on_done: Callable[[Path, dict[str, Any] | None], None] | None,
                 extend: bool) -> list[Path]:
    # one layer set at a time, in memory or out of core (a Dask array over the shards)
    matrices: dict[tuple[str, bool], Any] = {}
    for p in plan:
        if p.action == "skip":
            if on_done is None:  # else the caller says it, once
                log.info("%s is complete; skipped", p.run_dir)
            record = None
        else:
            key = ("+".join(p.layers), out_of_core(p.spec, store, p.layers))
            if key not in matrices:
                matrices = {k: v for k, v in matrices.items() if k[0] == key[0]}
                matrices[key] = (lazy_features if key[1] else load_features)(store, p.layers)
            data = split_data(store, matrices[key], p.task, split)
            record = fit_one(p.spec, p.task, data, p.layers, store, split, p.run_dir, options,
                             grids[p.spec.kind, p.spec.name], overwrite or p.action == "redo",
                             extend, p.drop)
        if on_done:
            on_done(p.run_dir, record)
    return [p.run_dir for p in plan]
