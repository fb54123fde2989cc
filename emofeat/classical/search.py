"""Search on val, refit on train+val, and class scores from a fitted pipeline.

Each candidate is scored on val by :mod:`emofeat.classical.criteria`: balanced accuracy for
classifiers, mean absolute error (lowest wins) for the regressors of rating tasks.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from joblib import Parallel, delayed, parallel_config
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC, LinearSVC

from emofeat.classical.caveats import GRID_EXTEND, Edge, extended_axis, grid_edges
from emofeat.classical.criteria import criterion, val_scores
from emofeat.classical.estimators import EstimatorSpec, FitOptions, build_pipeline
from emofeat.classical.searchdata import (  # re-exported: the names' old home
    EARLY_STOPPING_ROUNDS,
    SearchResult,
    SplitData,
    val_weights,
)
from emofeat.classical.threads import ThreadBudget, limited, refit_budget, search_budget
from emofeat.errors import EmofeatError

log = logging.getLogger(__name__)


def _fit(pipe: Pipeline, spec: EstimatorSpec, X: np.ndarray, y: np.ndarray,
         X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
         class_weight: str | None = None) -> Pipeline:
    """Fit a pipeline; LightGBM stops early on (preprocessed) val when val is given, val
    weighted by the class weights of training. A hyperparameter the estimator refuses (a
    ``--grid`` value: C=-1, max_iter=1.5) is one line naming it."""
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        return _fit_pipeline(pipe, spec, X, y, X_val, y_val, class_weight)
    except Exception as exc:
        if not (isinstance(exc, InvalidParameterError) or type(exc).__name__ == "LightGBMError"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EmofeatError(f"{spec.name} refused its hyperparameters: {first} (see --grid)"
                           ) from None


def _fit_pipeline(pipe: Pipeline, spec: EstimatorSpec, X: np.ndarray, y: np.ndarray,
                  X_val: np.ndarray | None, y_val: np.ndarray | None,
                  class_weight: str | None) -> Pipeline:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if not (spec.early_stopping and X_val is not None):
            return pipe.fit(X, y)
        import lightgbm

        pre = pipe[:-1]
        Xt = pre.fit_transform(X, y) if len(pre) else X
        Xv = pre.transform(X_val) if len(pre) else X_val
        weights = val_weights(class_weight, y, y_val) if spec.kind == "classification" \
            else None
        pipe[-1].fit(Xt, y, eval_X=(Xv,), eval_y=(y_val,),
                     eval_sample_weight=None if weights is None else [weights], callbacks=[
            lightgbm.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)])
        return pipe


def _evaluate(spec: EstimatorSpec, params: dict[str, Any], options: FitOptions,
              inner_jobs: int, data: SplitData) -> dict[str, Any]:
    start = time.perf_counter()
    with limited(inner_jobs):  # BLAS/OpenMP of this fit; LightGBM's n_jobs too
        pipe = _fit(build_pipeline(spec, params, options, inner_jobs), spec,
                    data.X["train"], data.y["train"], data.X["val"], data.y["val"],
                    options.class_weight)
    fit_s = time.perf_counter() - start
    pred = pipe.predict(data.X["val"])
    row = {"params": params, **val_scores(spec.kind, data.y["val"], pred),
           "fit_seconds": round(fit_s, 3)}
    if spec.early_stopping:
        row["best_iteration"] = int(pipe[-1].best_iteration_ or spec.fixed["n_estimators"])
    return row


def _is_lazy(X: Any) -> bool:
    """A Dask array over the store's shards (:mod:`emofeat.classical.lazy`)."""
    return not isinstance(X, np.ndarray)


def _jobs(spec: EstimatorSpec, options: FitOptions, n_candidates: int, rows: int
          ) -> ThreadBudget:
    """Candidates fitted at once, and threads for each (:mod:`emofeat.classical.threads`);
    with the Dask backend (:mod:`emofeat.classical.backend`), one task per candidate, one
    thread each, and the cluster's workers decide how many run at once."""
    from emofeat.classical.backend import active

    if active().client is not None:
        return ThreadBudget(n_candidates if options.jobs <= 0
                            else min(options.jobs, n_candidates), 1)
    return search_budget(options.jobs, n_candidates, rows, spec.name == "lightgbm")


def search(spec: EstimatorSpec, grid: Mapping[str, Sequence[Any]], data: SplitData,
           options: FitOptions) -> SearchResult:
    """Fit every grid candidate on train, score it on val; the best balanced accuracy (a
    regressor: the lowest MAE) wins; ties go to the earlier candidate of the grid."""
    if _is_lazy(data.X["train"]):
        from emofeat.classical.lazy import search_lazy

        return search_lazy(spec, grid, data, options)
    candidates = list(ParameterGrid(dict(grid)))
    budget = _jobs(spec, options, len(candidates), len(data.y["train"]))
    start = time.perf_counter()
    with _worker_pool():
        table = Parallel(n_jobs=budget.jobs)(
            delayed(_evaluate)(spec, params, options, budget.threads, data)
            for params in candidates)
    return SearchResult(table, choose(spec, table), time.perf_counter() - start)


def _worker_pool() -> contextlib.AbstractContextManager:
    """joblib's local processes started with one OpenMP/BLAS thread each (each fit then sets
    its own share, :func:`_evaluate`): the same settings for every search, so joblib reuses
    its pool (loky starts a new one, every worker respawned, whenever the thread limits
    change; they used to be CPUs // candidates, which differed from grid to grid). The Dask
    backend, when active, is left as it is."""
    from emofeat.classical.backend import active

    if active().client is not None:
        return contextlib.nullcontext()
    return parallel_config(backend="loky", inner_max_num_threads=1)


def choose(spec: EstimatorSpec, table: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The winning candidate's hyperparameters (ties: the earlier row); LightGBM's with the
    number of trees its early stopping kept."""
    winner = winning_row(spec, table)
    best = dict(winner["params"])
    if spec.early_stopping:
        best["n_estimators"] = winner["best_iteration"]
    return best


def winning_row(spec: EstimatorSpec, table: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The search table's winning row (ties: the earlier)."""
    return table[int(np.argmax([criterion(spec.kind, dict(row)) for row in table]))]


def _extend(spec: EstimatorSpec, grid: dict[str, list[Any]], data: SplitData,
            options: FitOptions, result: SearchResult, edges: Sequence[Edge]
            ) -> tuple[SearchResult, dict[str, list[Any]]]:
    """Each edge axis extended once beyond its edge: the new candidates searched, the
    tables merged, the winner chosen again among all of them."""
    table, seconds, grid = list(result.table), result.seconds, dict(grid)
    for edge in edges:
        new = extended_axis(edge)
        if not new:
            continue
        log.info("extending %s beyond %s: %s", edge.axis, edge.value, new)
        more = search(spec, {**grid, edge.axis: new}, data, options)
        table += more.table
        seconds += more.seconds
        grid[edge.axis] = sorted([*grid[edge.axis], *new])
    return SearchResult(table, choose(spec, table), seconds), grid


def _search_warned(spec: EstimatorSpec, grid: dict[str, list[Any]], data: SplitData,
                   options: FitOptions, extend: bool, what: str
                   ) -> tuple[SearchResult, dict[str, list[Any]]]:
    """The search, extended once where the choice is on a grid edge (``extend``); a choice
    still on an edge is a warning naming it."""
    result = search(spec, grid, data, options)
    # on the grid's own values (not the number of trees early stopping kept)
    edges = grid_edges(grid, winning_row(spec, result.table)["params"])
    if edges and extend:
        result, grid = _extend(spec, grid, data, options, result, edges)
        edges = grid_edges(grid, winning_row(spec, result.table)["params"])
    for edge in edges:
        log.warning("%s; %s", edge.describe(what or spec.name),
                    "even after extending the grid once" if extend else
                    f"`--grid {GRID_EXTEND}` extends it once in that direction, "
                    f"`--grid {edge.axis}=...` sets other values")
    return result, grid


def refit(spec: EstimatorSpec, best: Mapping[str, Any], data: SplitData,
          options: FitOptions) -> Pipeline:
    """The chosen hyperparameters, fitted on train+val (no early stopping)."""
    if _is_lazy(data.X["train"]):
        from emofeat.classical.lazy import refit_lazy

        return refit_lazy(spec, best, data, options)
    X, y = data.train_val()
    budget = refit_budget(options.jobs, len(y), spec.name == "lightgbm")
    with limited(budget.threads):
        return _fit(build_pipeline(spec, best, options, budget.threads), spec, X, y)


# --------------------------------------------------------------------------- scores


def scores_of(model: Any, X: np.ndarray) -> np.ndarray:
    """(N, K) class scores: probabilities where the model has them, else decision values."""
    if hasattr(model, "predict_proba") and not _is_decision_model(model):
        return np.asarray(model.predict_proba(X))
    d = np.asarray(model.decision_function(X))
    return np.stack([-d, d], axis=1) if d.ndim == 1 else d


def _is_decision_model(model: Any) -> bool:
    last = model[-1] if isinstance(model, Pipeline) else model
    return isinstance(last, (LinearSVC, SVC))


@dataclass
class FittedRun:
    """What a fit produced, before it is written to a run directory."""

    pipeline: Pipeline
    search: SearchResult
    refit_seconds: float
    options: FitOptions  # as used (PCA may have been lowered to fit the data)
    grid: dict[str, list[Any]] = field(default_factory=dict)


def fit_and_search(spec: EstimatorSpec, data: SplitData, options: FitOptions,
                   grid: Mapping[str, Sequence[Any]] | None = None, extend: bool = False,
                   what: str = "") -> FittedRun:
    """Search on val, then refit on train+val. A choice on the edge of its grid is a
    warning (``what`` names the fit in it); ``extend``: the grid is first extended once in
    that direction (the run records the extended grid)."""
    grid = {k: list(v) for k, v in (grid or spec.grid).items()}
    if spec.kind != "classification":
        options = replace(options, class_weight=None)  # no classes to weight
    pca = spec.pca if options.pca is None else options.pca
    limit = min(data.X["train"].shape[0] - 1, data.X["train"].shape[1])
    if pca and pca > limit:
        log.warning("PCA components lowered from %d to %d (train rows or feature dim)",
                    pca, limit)
        options = replace(options, pca=limit)
    result, grid = _search_warned(spec, grid, data, options, extend, what)
    start = time.perf_counter()
    pipe = refit(spec, result.best, data, options)
    return FittedRun(pipe, result, time.perf_counter() - start, options, grid)
