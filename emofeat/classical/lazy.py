"""LightGBM out of core: a Dask array over the store's shards and lightgbm's Dask estimator.

:func:`lazy_features` is one layer (or ``a+b``) as a Dask array with one block per shard;
each block is read from its HDF5 file by the worker that needs it (a task that opens the
file by path: an open h5py dataset, as ``dask.array.from_array`` would hold, cannot travel
to other processes). The matrix is never in this process's memory; it must fit in the
memory of the cluster's workers together (LightGBM then bins it to one byte per value).

The search follows the local protocol exactly, so the run directory is the same as a local
fit's: every candidate is fitted on train with ``lightgbm.DaskLGBMClassifier``; its early
stopping is found after the fact on val from the trees' raw scores, by LightGBM's own rule
(the val log loss, 20 rounds without improvement), because Dask training cannot stop early
on an evaluation set split across workers; the first trees of a longer training are the
trees an early-stopped training keeps. The best candidate is refitted on train+val with
its best number of trees. Class weights become sample weights computed over all of train,
as LGBMClassifier computes them. PCA and L2 normalisation are not offered on this path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight

from emofeat.classical.estimators import EstimatorSpec, FitOptions
from emofeat.classical.searchdata import EARLY_STOPPING_ROUNDS, SearchResult, SplitData, val_weights
from emofeat.errors import EmofeatError
from emofeat.metrics import balanced_accuracy
from emofeat.store import Store

log = logging.getLogger(__name__)


def _read(path: str, layer: str) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        return f["features"][layer][...].astype(np.float32, copy=False)


def lazy_features(store: Store, layers: Sequence[str]) -> Any:
    """The layers' features (concatenated), float32, as a Dask array: one block per shard,
    rows in store order."""
    import dask
    import dask.array as da

    dims = {la.name: la.dim for la in store.layers}
    blocks = []
    for shard in sorted(store.record.shards, key=lambda s: s.index):
        path = str(store.path / shard.file)
        cols = [da.from_delayed(dask.delayed(_read, pure=True)(path, name),
                                shape=(shard.rows, dims[name]), dtype=np.float32)
                for name in layers]
        blocks.append(da.concatenate(cols, axis=1))
    X = da.concatenate(blocks, axis=0).rechunk({1: -1})
    bad = np.flatnonzero(~da.isfinite(X).all(axis=1).compute())
    if bad.size:
        raise EmofeatError(f"layer(s) {'+'.join(layers)} of {store.path} hold NaN or Inf in "
                           f"{bad.size} rows, e.g. {[store.ids[r] for r in bad[:3]]}")
    return X


def _model(spec: EstimatorSpec, params: Mapping[str, Any], options: FitOptions) -> Any:
    from lightgbm import DaskLGBMClassifier

    if options.pca or options.l2norm:
        raise EmofeatError("PCA and --l2norm are not available for LightGBM out of core; "
                           "raise --out-of-core-above or drop them")
    return DaskLGBMClassifier(**{**spec.fixed, **params, "random_state": options.seed,
                                 "tree_learner": "data"})


def _no_threads_note(record: logging.LogRecord) -> bool:
    return "Parameter n_jobs will be ignored" not in record.getMessage()  # always said


def _blocks(n_rows: int) -> tuple[int, ...]:
    """One block of rows per Dask worker, in order: lightgbm.dask concatenates a worker's
    blocks in no fixed order, and the row order decides the bagging. With one worker the
    model is then the local fit's, exactly."""
    from emofeat.classical.backend import active

    workers = max(1, len(active().client.scheduler_info()["workers"]))
    edges = np.linspace(0, n_rows, min(workers, n_rows) + 1).astype(int)
    return tuple(int(n) for n in np.diff(edges))


def _fit(spec: EstimatorSpec, params: Mapping[str, Any], options: FitOptions, X: Any,
         y: np.ndarray, **kwargs: Any) -> Any:
    import dask.array as da
    import lightgbm

    logger = logging.getLogger("lightgbm")
    if _no_threads_note not in logger.filters:
        logger.addFilter(_no_threads_note)
    lightgbm.register_logger(logger)  # not print() ("Finding random open ports ...")
    rows = _blocks(len(y))
    weight = (da.from_array(compute_sample_weight(options.class_weight, y), chunks=rows)
              if options.class_weight else None)
    return _model(spec, params, options).fit(X.rechunk({0: rows}),
                                             da.from_array(y, chunks=rows),
                                             sample_weight=weight, **kwargs)


def _log_loss(raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """LightGBM's binary_logloss / multi_logloss of raw scores, summed with weights ``w``."""
    eps = 1e-15
    if raw.ndim == 1:
        p = 1.0 / (1.0 + np.exp(-raw))
        return float((-np.log(np.maximum(np.where(y > 0, p, 1.0 - p), eps)) * w).sum())
    z = np.exp(raw - raw.max(axis=1, keepdims=True))
    p = z[np.arange(len(y)), y] / z.sum(axis=1)
    return float((-np.log(np.maximum(p, eps)) * w).sum())


def best_iteration(losses: Sequence[float], rounds: int = EARLY_STOPPING_ROUNDS) -> int:
    """LightGBM's early stopping on a curve of val losses: the (1-based) best round."""
    best, best_at = np.inf, 0
    for i, loss in enumerate(losses):
        if loss < best:
            best, best_at = loss, i
        elif i - best_at >= rounds:
            break
    return best_at + 1


ROUND_TREES = "emofeat_round_trees"


class RoundTrees:
    """A LightGBM callback that keeps in the booster (as ``emofeat_round_trees``, which
    travels with it from the worker) the model's number of iterations after each boosting
    round. A round whose trees cannot split adds none (LightGBM rolls it back), yet early
    stopping counts rounds, not iterations."""

    order = 50

    def __call__(self, env: Any) -> None:
        done = getattr(env.model, ROUND_TREES, [])
        setattr(env.model, ROUND_TREES, [*done, env.model.current_iteration()])


def _val_losses(model: Any, X_val: Any, y_val: np.ndarray, weights: np.ndarray | None
                ) -> np.ndarray:
    """The (weighted) val log loss after each iteration of the model, block by block (one
    block in memory at a time)."""
    booster, n_trees = model.booster_, model.booster_.current_iteration()
    w_all = np.ones(len(y_val)) if weights is None else weights
    sums, start = np.zeros(n_trees), 0
    for i in range(X_val.numblocks[0]):
        block = np.asarray(X_val.blocks[i].compute())
        y, w = y_val[start:start + len(block)], w_all[start:start + len(block)]
        start += len(block)
        raw = 0.0
        for k in range(n_trees):
            raw = raw + booster.predict(block, start_iteration=k, num_iteration=1,
                                        raw_score=True)
            sums[k] += _log_loss(np.asarray(raw), y, w)
    return sums / max(float(w_all.sum()), 1e-12)


def early_stopping(model: Any, X_val: Any, y_val: np.ndarray,
                   weights: np.ndarray | None = None) -> tuple[int, int]:
    """(best round, iterations its predictions use), as an early-stopped local fit has them:
    the rounds' val curve (val rows weighted as in training), the best round by LightGBM's
    rule, and the iterations of the model it would have kept (``best_iteration_`` is a
    round; predict counts iterations)."""
    trees = np.asarray(getattr(model.booster_, ROUND_TREES), dtype=int)
    by_trees = _val_losses(model, X_val, y_val, weights)
    best = best_iteration([by_trees[t - 1] if t else np.inf for t in trees])
    kept = trees[min(best + EARLY_STOPPING_ROUNDS, len(trees)) - 1]
    return best, int(min(best, kept))


def _evaluate(spec: EstimatorSpec, params: dict[str, Any], options: FitOptions,
              data: SplitData) -> dict[str, Any]:
    start = time.perf_counter()
    model = _fit(spec, params, options, data.X["train"], data.y["train"],
                 callbacks=[RoundTrees()])
    fit_s = time.perf_counter() - start
    best, iterations = early_stopping(model, data.X["val"], data.y["val"], val_weights(
        options.class_weight, data.y["train"], data.y["val"]))
    local = model.to_local()
    pred = np.concatenate([local.predict(np.asarray(data.X["val"].blocks[i].compute()),
                                         num_iteration=iterations)
                           for i in range(data.X["val"].numblocks[0])])
    return {"params": params,
            "val_balanced_accuracy": round(balanced_accuracy(data.y["val"], pred), 6),
            "val_accuracy": round(float(np.mean(pred == data.y["val"])), 6),
            "fit_seconds": round(fit_s, 3), "best_iteration": best}


def search_lazy(spec: EstimatorSpec, grid: Mapping[str, Sequence[Any]], data: SplitData,
                options: FitOptions) -> SearchResult:
    """The grid, one candidate at a time, each trained across the cluster."""
    if spec.name != "lightgbm":
        raise EmofeatError(f"{spec.name} cannot be fitted out of core; only lightgbm")
    start = time.perf_counter()
    table = [_evaluate(spec, params, options, data) for params in ParameterGrid(dict(grid))]
    winner = table[int(np.argmax([row["val_balanced_accuracy"] for row in table]))]
    best = {**winner["params"], "n_estimators": winner["best_iteration"]}
    return SearchResult(table, best, time.perf_counter() - start)


class BlockwiseClassifier(ClassifierMixin, BaseEstimator):
    """A fitted LGBMClassifier that also predicts Dask arrays, block by block on the cluster
    (lightgbm's own Dask predict needs dask.dataframe, and so pyarrow). Saved like any
    LightGBM model: its ``booster_`` in LightGBM's text format."""

    def __init__(self, model: Any = None) -> None:
        self.model = model

    @property
    def booster_(self) -> Any:
        return self.model.booster_

    @property
    def classes_(self) -> np.ndarray:
        return self.model.classes_

    def fit(self, X: Any, y: Any = None) -> BlockwiseClassifier:
        raise TypeError("a BlockwiseClassifier wraps a fitted model; it is not fitted")

    def __sklearn_is_fitted__(self) -> bool:
        return self.model is not None

    def predict_proba(self, X: Any) -> Any:
        if isinstance(X, np.ndarray):
            return self.model.predict_proba(X)
        return X.map_blocks(self.model.predict_proba, dtype=np.float64,
                            chunks=(X.chunks[0], (len(self.classes_),)))

    def predict(self, X: Any) -> Any:
        if isinstance(X, np.ndarray):
            return self.model.predict(X)
        return X.map_blocks(self.model.predict, dtype=self.classes_.dtype, drop_axis=1)


def refit_lazy(spec: EstimatorSpec, best: Mapping[str, Any], data: SplitData,
               options: FitOptions) -> Pipeline:
    """The chosen hyperparameters on train+val; predicts Dask arrays (and NumPy ones)."""
    import dask.array as da

    X = da.concatenate([data.X["train"], data.X["val"]])
    y = np.concatenate([data.y["train"], data.y["val"]])
    model = _fit(spec, best, options, X, y).to_local()
    return Pipeline([("clf", BlockwiseClassifier(model))])
