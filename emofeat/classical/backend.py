"""Where fitting runs: joblib on this machine, or a Dask cluster.

``with use_backend(Backend("dask", scheduler="tcp://host:8786")): fit_all(...)`` is a context,
like joblib's own ``parallel_config``: inside it,

- the grid search runs through joblib's Dask backend (one task per candidate, the data
  scattered once to the workers; the refit stays in this process), with the same results as
  the local backend for the same seed;
- LightGBM on a layer whose matrix is larger than ``out_of_core_gb`` (0: always) is fitted
  out of core (:mod:`emofeat.classical.lazy`): the features stay in the store's shards, read
  by the workers, and this process never holds them.

Dask is optional (``pip install 'emofeat[dask]'``) and imported only here, when asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emofeat.errors import EmofeatError

if TYPE_CHECKING:
    from emofeat.classical.estimators import EstimatorSpec
    from emofeat.store import Store

log = logging.getLogger(__name__)

BACKENDS = ("local", "dask")
#: LightGBM goes out of core (with the Dask backend) above this many GB of features.
OUT_OF_CORE_GB = 8.0
#: The one family with a Dask estimator (lightgbm.DaskLGBMClassifier).
OUT_OF_CORE_MODELS = ("lightgbm",)
#: A LocalCluster without a dashboard, its HTTP routes on a free port (not 8787).
QUIET_CLUSTER: dict[str, Any] = {"dashboard_address": None,
                                 "scheduler_kwargs": {"dashboard_address": ":0"}}


@dataclass(frozen=True)
class Backend:
    """``local``, or ``dask`` on the scheduler at ``scheduler`` (an address, or ``local:N``
    for a LocalCluster of N worker processes here; None: ``local`` with Dask's defaults)."""

    name: str = "local"
    scheduler: str | None = None
    out_of_core_gb: float = OUT_OF_CORE_GB

    def check(self) -> None:
        if self.name not in BACKENDS:
            raise EmofeatError(f"unknown backend '{self.name}'; valid: {', '.join(BACKENDS)}")
        if self.scheduler is not None and self.name != "dask":
            raise EmofeatError("--scheduler is for --backend dask")
        if self.out_of_core_gb < 0:
            raise EmofeatError("--out-of-core-above must be 0 (always) or more GB")
        _local_workers(self.scheduler)


@dataclass(frozen=True)
class Active:
    backend: Backend
    client: Any = None  # a distributed.Client with the dask backend


_ACTIVE: ContextVar[Active | None] = ContextVar("emofeat_fit_backend", default=None)


def active() -> Active:
    """The backend of the innermost :func:`use_backend` (local if none)."""
    return _ACTIVE.get() or Active(Backend())


def require_dask() -> Any:
    try:
        import dask.array  # noqa: F401
        import distributed
    except ImportError:
        raise EmofeatError("--backend dask needs Dask, which is not installed: "
                           "pip install 'emofeat[dask]'") from None
    return distributed


def _local_workers(scheduler: str | None) -> int | None:
    """N of ``local:N`` (None for ``local`` or None); -1 for an address."""
    if scheduler is None or scheduler == "local":
        return None
    if not scheduler.startswith("local:"):
        return -1
    text = scheduler.removeprefix("local:")
    if not text.isdigit() or int(text) < 1:
        raise EmofeatError(f"--scheduler local:N takes a number of workers; got '{scheduler}'")
    return int(text)


@contextmanager
def _client(scheduler: str | None) -> Iterator[Any]:
    distributed = require_dask()
    n = _local_workers(scheduler)
    if n == -1:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except OSError as exc:
            raise EmofeatError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        with client:
            yield client
        return
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                  **QUIET_CLUSTER) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@contextmanager
def use_backend(backend: Backend, client: Any = None) -> Iterator[Active]:
    """Fit with ``backend`` inside the block; with ``dask``, connect (or start a
    LocalCluster), unless a ``distributed.Client`` is given."""
    backend.check()
    with ExitStack() as stack:
        if backend.name == "dask":
            import joblib

            if client is None:
                client = stack.enter_context(_client(backend.scheduler))
            else:
                require_dask()
            stack.enter_context(joblib.parallel_config(backend="dask", client=client))
            log.info("fitting on Dask: %s", client)
        current = Active(backend, client)
        token = _ACTIVE.set(current)
        try:
            yield current
        finally:
            _ACTIVE.reset(token)


def out_of_core(spec: EstimatorSpec, store: Store, layers: Sequence[str]) -> bool:
    """Whether ``spec`` on these layers is fitted out of core by the active backend."""
    current = active()
    if (current.client is None or spec.name not in OUT_OF_CORE_MODELS
            or spec.kind != "classification"):  # rating regressors fit in memory
        return False
    dims = {la.name: la.dim for la in store.layers}
    gb = store.record.n_rows * sum(dims[n] for n in layers) * 4 / 1e9  # float32
    return current.backend.out_of_core_gb == 0 or gb > current.backend.out_of_core_gb
