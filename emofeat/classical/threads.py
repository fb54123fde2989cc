"""The thread budget of a fit: how many candidates run at once, and threads for each.

Without one, the threads multiply: joblib runs several candidates at once, each LightGBM fit
starts a thread per core (OpenMP), each scikit-learn fit's BLAS its own pool, and torch's
pool sits in the same process. On 16 cores the demo ran slower than on 2 (benchmarks/
README.md). Here every level is explicit:

- ``jobs``: joblib processes of the grid search: this process's CPUs (or ``--jobs``), the
  same for every search of a process, and the workers start with one OpenMP/BLAS thread
  each, so joblib keeps its loky pool from one grid to the next. It used to pass
  ``min(CPUs, candidates)`` processes, and loky's default thread limit in them is
  ``CPUs // processes``: on 2 cores both were 2 and 1 for every grid, but on 16 cores the
  demo's grids (6, 5 and 2 candidates) changed them at almost every search, and loky shuts
  its pool down and starts a new one (every worker importing scikit-learn and LightGBM
  again) whenever the thread limits change;
- ``threads``: each fit's share, ``CPUs // candidates at once``: LightGBM's ``n_jobs``, and
  the OpenMP/BLAS limit of the fit (threadpoolctl, :func:`limited`, in whichever process it
  runs);
- LightGBM gets at most one thread per :data:`LIGHTGBM_ROWS_PER_THREAD` training rows:
  LightGBM's docs warn against many threads on small data (its histograms are built per
  thread and merged per split, which costs more than it saves on a few hundred rows).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

#: Training rows per LightGBM thread (the demo's ~360 rows: one thread; FI's ~16,000: 8).
LIGHTGBM_ROWS_PER_THREAD = 2_000


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. under SLURM or taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ThreadBudget:
    """Candidates fitted at once (joblib processes) and threads per fit."""

    jobs: int
    threads: int


def _cpus(requested_jobs: int) -> int:
    cpus = usable_cpus()
    return min(cpus, requested_jobs) if requested_jobs > 0 else cpus


def _cap(threads: int, rows: int, lightgbm: bool) -> int:
    if lightgbm:
        threads = min(threads, max(1, rows // LIGHTGBM_ROWS_PER_THREAD))
    return max(1, threads)


def search_budget(requested_jobs: int, n_candidates: int, rows: int,
                  lightgbm: bool) -> ThreadBudget:
    """The grid search's budget: ``requested_jobs`` (``--jobs``; 0 or less: every usable
    CPU) processes, each fit ``CPUs // min(jobs, candidates)`` threads (LightGBM capped by
    ``rows``)."""
    jobs = _cpus(requested_jobs)
    busy = max(1, min(jobs, n_candidates))
    return ThreadBudget(jobs, _cap(jobs // busy, rows, lightgbm))


def refit_budget(requested_jobs: int, rows: int, lightgbm: bool) -> ThreadBudget:
    """The refit on train+val, alone in this process: every CPU of the budget."""
    return ThreadBudget(1, _cap(_cpus(requested_jobs), rows, lightgbm))


@contextlib.contextmanager
def limited(threads: int) -> Iterator[None]:
    """OpenMP and BLAS pools of this process (LightGBM's, NumPy's, torch's) limited to
    ``threads`` inside (threadpoolctl)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield
