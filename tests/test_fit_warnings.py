"""Numbers that deserve a warning: a val set too small to choose on, a choice on the edge
of its grid (and ``--grid auto-extend``), LightGBM's early stopping weighted as training."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from emofeat.classical.caveats import extended_axis, grid_edges, small_val
from emofeat.classical.estimators import FitOptions, get_spec
from emofeat.classical.run import fit_all
from emofeat.classical.search import SplitData, search, val_weights

FAST = FitOptions(jobs=1)


def test_small_val_warns_and_says_how_to_get_more(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        line = small_val("emotion8", ["awe"] * 12 + ["fear"] * 3 + ["anger"] * 9)
    assert line is not None and "only 3 images of 'fear'" in line and "24 val images" in line
    assert "--fractions" in line and "--splits" in line and line in caplog.text
    assert small_val("valence", ["positive"] * 10 + ["negative"] * 10) is None


def test_fit_on_a_tiny_val_warns(demo_store: Path, tmp_path: Path,
                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        fit_all(demo_store, ["logreg"], ["valence"], ["bn2"], tmp_path / "run",
                grid=["C=0.01"], options=FAST)
    assert "valence: val has only" in caplog.text and "mostly noise" in caplog.text


def test_grid_edges_and_extension_values() -> None:
    grid = {"C": [1e-5, 1e-4, 1e-3], "gamma": ["scale", "auto"], "num_leaves": [15, 31]}
    edges = grid_edges(grid, {"C": 1e-5, "gamma": "auto", "num_leaves": 31})
    assert [(e.axis, e.side) for e in edges] == [("C", "smallest"), ("num_leaves", "largest")]
    assert extended_axis(edges[0]) == [1e-6, 1e-7]
    assert extended_axis(edges[1]) == [64, 132]
    assert grid_edges(grid, {"C": 1e-4, "num_leaves": 31, "gamma": "scale"})[0].axis == \
        "num_leaves"
    assert grid_edges({"C": [1.0]}, {"C": 1.0}) == []  # one value: no edge to speak of
    # C given as whole numbers is still a real number: extended below 1, not stopped at 0
    assert extended_axis(grid_edges({"C": [1, 10, 100]}, {"C": 1})[0]) == [0.1, 0.01]


def test_edge_choice_warns_and_auto_extend_extends_once(demo_store: Path, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    # C this small: every candidate predicts alike, and ties go to the first (smallest)
    with caplog.at_level(logging.WARNING):
        fit_all(demo_store, ["logreg"], ["valence"], ["bn2"], tmp_path / "plain",
                grid=["C=1e-9,1e-8"], options=FAST)
    assert "C=1e-09 was chosen, the smallest value of its grid [1e-09, 1e-08]" in caplog.text
    assert "--grid auto-extend" in caplog.text
    plain = json.loads((tmp_path / "plain" / "run.json").read_text())
    assert "grid_extend" not in plain["request"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        fit_all(demo_store, ["logreg"], ["valence"], ["bn2"], tmp_path / "ext",
                grid=["C=1e-9,1e-8", "auto-extend"], options=FAST)
    run = json.loads((tmp_path / "ext" / "run.json").read_text())
    assert run["search"]["grid"]["C"] == [1e-11, 1e-10, 1e-09, 1e-08]
    assert [row["params"]["C"] for row in run["search"]["table"]] == [1e-9, 1e-8, 1e-10, 1e-11]
    assert run["request"]["grid_extend"] is True and run["request"]["grid"] == \
        {"C": [1e-9, 1e-8]}
    # all tie, the first candidate (1e-9) wins again: now inside the extended grid
    assert run["hyperparameters"]["C"] == 1e-9 and "was chosen" not in caplog.text


def test_val_weights_follow_the_training_class_weights() -> None:
    w = val_weights("balanced", np.array([0, 0, 0, 1]), np.array([0, 1, 1]))
    assert w == pytest.approx([4 / 6, 2.0, 2.0])
    assert val_weights(None, np.array([0, 1]), np.array([0])) is None


def test_lightgbm_stops_early_on_val_weighted_like_training() -> None:
    """The number of trees is chosen on the weighted val loss: as a direct LightGBM fit
    with the training class weights on val has it, not as an unweighted one."""
    import lightgbm

    rng = np.random.default_rng(5)

    def make(n: int, p1: float) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < p1).astype(int)
        return (rng.normal(size=(n, 6)) + y[:, None] * 0.6).astype(np.float32), y

    (Xt, yt), (Xv, yv), (Xs, ys) = make(300, 0.15), make(120, 0.15), make(10, 0.5)
    data = SplitData({"train": Xt, "val": Xv, "test": Xs}, {"train": yt, "val": yv,
                                                            "test": ys}, {})
    spec = get_spec("lightgbm", "classification")
    found = search(spec, {"num_leaves": [15], "learning_rate": [0.1]}, data, FAST)
    kw = {**spec.fixed, "num_leaves": 15, "learning_rate": 0.1, "class_weight": "balanced",
          "random_state": 0, "n_jobs": 1}

    def direct(weights: list[np.ndarray] | None) -> int:
        model = lightgbm.LGBMClassifier(**kw).fit(
            Xt, yt, eval_X=(Xv,), eval_y=(yv,), eval_sample_weight=weights,
            callbacks=[lightgbm.early_stopping(20, verbose=False)])
        return int(model.best_iteration_)

    weighted, unweighted = direct([val_weights("balanced", yt, yv)]), direct(None)
    assert weighted != unweighted
    assert found.table[0]["best_iteration"] == weighted
