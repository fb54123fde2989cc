"""Fitting on Dask: the grid through joblib's Dask backend, LightGBM out of core on the
store's shards; both equal to the local fit for the same seed (one Dask worker)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from emofeat.classical.backend import QUIET_CLUSTER, Backend, use_backend
from emofeat.classical.options import FitOptions
from emofeat.classical.run import fit_all
from emofeat.classical.search import _evaluate as _real_evaluate
from emofeat.cli.main import app
from emofeat.errors import EmofeatError

distributed = pytest.importorskip("distributed")
pytest.importorskip("pandas")  # lightgbm.dask needs it

TASKS = ["emotion8", "valence"]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """One in-process worker (LightGBM on one worker is the local fit) with two threads
    (joblib runs one-thread backends in the caller, not on the cluster)."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  **QUIET_CLUSTER) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def _fit(store: Path, out: Path, models: list[str], grid: list[str],
         backend: Backend | None = None, client: Any = None) -> None:
    kwargs: dict[str, Any] = {"grid": grid, "options": FitOptions(seed=0), "nested": True}
    if backend is None:
        fit_all(store, models, TASKS, ["blocks.6"], out, **kwargs)
        return
    with use_backend(backend, client=client):
        fit_all(store, models, TASKS, ["blocks.6"], out, **kwargs)


def _same_runs(a: Path, b: Path) -> None:
    runs = sorted(p.name for p in a.iterdir())
    assert runs == sorted(p.name for p in b.iterdir()) and runs
    for run in runs:
        ra, rb = (json.loads((d / run / "run.json").read_text()) for d in (a, b))
        assert ra["hyperparameters"] == rb["hyperparameters"], run
        strip = [[{k: v for k, v in row.items() if k != "fit_seconds"}
                  for row in r["search"]["table"]] for r in (ra, rb)]
        assert strip[0] == strip[1], run
        for name in ("predictions.csv", "metrics.json"):
            assert (a / run / name).read_bytes() == (b / run / name).read_bytes(), (run, name)
        assert sorted(p.name for p in (a / run).iterdir()) == \
            sorted(p.name for p in (b / run).iterdir())


RAN_IN: list[str] = []  # threads that ran a grid candidate (module level: shared in-process)


def _recording_evaluate(*args: Any) -> Any:
    RAN_IN.append(threading.current_thread().name)
    return _real_evaluate(*args)


def test_dask_grid_equals_local(demo_store: Path, tmp_path: Path, client: Any,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    _fit(demo_store, tmp_path / "local", ["logreg"], ["C=0.001,0.1,1"])
    from emofeat.classical import search

    monkeypatch.setattr(search, "_evaluate", _recording_evaluate)
    RAN_IN.clear()
    _fit(demo_store, tmp_path / "dask", ["logreg"], ["C=0.001,0.1,1"], Backend("dask"), client)
    assert len(RAN_IN) == 3 * len(TASKS) and all("Dask-" in t for t in RAN_IN), RAN_IN
    _same_runs(tmp_path / "local", tmp_path / "dask")


def test_out_of_core_lightgbm_equals_local(demo_store: Path, tmp_path: Path, client: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    grid = ["num_leaves=7,15"]
    _fit(demo_store, tmp_path / "local", ["lightgbm"], grid)

    def never(*args: Any) -> None:
        raise AssertionError("the features were loaded into this process")

    monkeypatch.setattr("emofeat.classical.run.load_features", never)
    _fit(demo_store, tmp_path / "dask", ["lightgbm"], grid, Backend("dask", out_of_core_gb=0),
         client)
    _same_runs(tmp_path / "local", tmp_path / "dask")
    trees = [[line for line in (d / "lightgbm-emotion8-blocks.6/model.lgb.txt").read_text()
              .splitlines() if not line.startswith("[")] for d in (tmp_path / "local",
                                                                  tmp_path / "dask")]
    assert trees[0] == trees[1]  # the same trees; only training parameters (ports) differ


def test_early_stopping_counts_rounds_like_lightgbm() -> None:
    from emofeat.classical.lazy import best_iteration

    assert best_iteration([3, 2, 1, 1.5] + [2] * 30) == 3
    assert best_iteration([3, 2] + [2.5] * 20 + [1]) == 2  # stopped before the later dip
    assert best_iteration([3, 2] + [2.5] * 19 + [1]) == 22


def test_backend_choices_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for backend, message in ((Backend("spark"), "unknown backend 'spark'"),
                             (Backend("local", "local:2"), "--scheduler is for --backend dask"),
                             (Backend("dask", "local:0"), "local:N takes a number of workers"),
                             (Backend("dask", out_of_core_gb=-1), "--out-of-core-above")):
        with pytest.raises(EmofeatError, match=message), use_backend(backend):
            pass
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(EmofeatError, match=r"pip install 'emofeat\[dask\]'"), \
            use_backend(Backend("dask")):
        pass


@pytest.mark.slow
def test_cli_fit_on_a_local_cluster(demo_store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(app, ["fit", str(demo_store), "--out", str(out), "--model",
                                 "lightgbm", "--task", "valence", "--layer", "blocks.6",
                                 "--grid", "num_leaves=7", "--backend", "dask", "--scheduler",
                                 "local:1", "--out-of-core-above", "0"])
    assert result.exit_code == 0, result.output
    assert "test balanced acc" in result.stdout
    predictions = (out / "predictions.csv").read_text().splitlines()
    assert len(predictions) == 1 + 80 and np.isfinite(
        [float(x) for x in predictions[1].split(",")[-1:]]).all()
    bad = runner.invoke(app, ["fit", str(demo_store), "--out", str(tmp_path / "x"),
                              "--scheduler", "local:2"])
    assert bad.exit_code == 2 and "--scheduler is for --backend dask" in bad.stderr
