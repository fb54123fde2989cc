"""The thread budget of fits (emofeat.classical.threads): counts, not times."""

from __future__ import annotations

import numpy as np
import pytest

from emofeat.classical import threads
from emofeat.classical.threads import ThreadBudget, limited, refit_budget, search_budget


@pytest.fixture
def cpus16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cpus", lambda: 16)


def test_search_budget_on_16_cpus(cpus16: None) -> None:
    # the demo's grids: logreg 6 candidates, svm 5, lightgbm 2, on ~360 training rows
    assert search_budget(-1, 6, 360, lightgbm=False) == ThreadBudget(16, 2)
    assert search_budget(-1, 5, 360, lightgbm=False) == ThreadBudget(16, 3)
    assert search_budget(-1, 2, 360, lightgbm=True) == ThreadBudget(16, 1)  # was 8 threads
    # FI-sized training sets: LightGBM gets its share of the cores
    assert search_budget(-1, 2, 16_000, lightgbm=True) == ThreadBudget(16, 8)
    assert search_budget(-1, 2, 400_000, lightgbm=True) == ThreadBudget(16, 8)
    # --jobs 4: four processes, four threads each
    assert search_budget(4, 6, 100_000, lightgbm=True) == ThreadBudget(4, 1)
    assert search_budget(4, 2, 100_000, lightgbm=True) == ThreadBudget(4, 2)


def test_jobs_do_not_follow_the_grid(cpus16: None) -> None:
    """The same joblib settings for every grid of a process: its pool is kept."""
    assert {search_budget(-1, n, rows, lgb).jobs for n in (1, 2, 5, 6, 40)
            for rows in (100, 10**6) for lgb in (True, False)} == {16}


def test_search_budget_on_2_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    assert search_budget(-1, 6, 360, lightgbm=False) == ThreadBudget(2, 1)
    assert search_budget(-1, 1, 50_000, lightgbm=True) == ThreadBudget(2, 2)


def test_refit_budget(cpus16: None) -> None:
    assert refit_budget(-1, 430, lightgbm=True) == ThreadBudget(1, 1)
    assert refit_budget(-1, 430, lightgbm=False) == ThreadBudget(1, 16)
    assert refit_budget(-1, 20_000, lightgbm=True) == ThreadBudget(1, 10)
    assert refit_budget(3, 20_000, lightgbm=True) == ThreadBudget(1, 3)


def test_limited_sets_every_pool_of_this_process() -> None:
    import lightgbm  # noqa: F401  (its OpenMP runtime loaded too)
    from threadpoolctl import threadpool_info

    with limited(1):
        assert {p["num_threads"] for p in threadpool_info()} == {1}


def test_refit_gives_lightgbm_its_threads(cpus16: None, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """A real LightGBM refit on a few hundred rows gets one thread, and the whole budget when
    the rows allow (the threshold lowered for the test)."""
    from emofeat.classical.estimators import FitOptions, get_spec
    from emofeat.classical.search import SplitData, refit

    rng = np.random.default_rng(0)
    X = {s: rng.normal(size=(n, 8)).astype(np.float32) for s, n in
         (("train", 120), ("val", 30), ("test", 30))}
    y = {s: np.arange(len(x)) % 2 for s, x in X.items()}
    data = SplitData(X, y, {s: [str(i) for i in range(len(x))] for s, x in X.items()})
    spec, best = get_spec("lightgbm"), {"num_leaves": 7, "learning_rate": 0.1,
                                        "n_estimators": 5}
    assert refit(spec, best, data, FitOptions())[-1].n_jobs == 1
    monkeypatch.setattr(threads, "LIGHTGBM_ROWS_PER_THREAD", 10)
    assert refit(spec, best, data, FitOptions())[-1].n_jobs == 15  # 150 rows // 10
