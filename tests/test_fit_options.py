"""The fit options every pipeline is built from: PCA, L2 normalisation, class weighting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emofeat.classical import FitOptions, SplitData, fit_and_search, get_spec, load_model
from emofeat.cli.main import app
from emofeat.errors import EmofeatError
from emofeat.runs import Run

ONE_C = {"C": [1.0]}


def data(n: tuple[int, int] = (60, 60), dim: int = 10, shift: float = 1.0,
         seed: int = 0) -> SplitData:
    """Two Gaussian classes (``n`` images each per split), overlapping."""
    rng = np.random.default_rng(seed)
    X, y, ids = {}, {}, {}
    for s in ("train", "val", "test"):
        parts = [rng.normal(k * shift, 1.0, size=(m, dim)) for k, m in enumerate(n)]
        X[s] = np.concatenate(parts).astype(np.float32)
        y[s] = np.repeat([0, 1], n)
        ids[s] = [f"{s}/{i}" for i in range(sum(n))]
    return SplitData(X, y, ids)


def test_pca_reduces_what_the_classifier_sees() -> None:
    fitted = fit_and_search(get_spec("logreg"), data(), FitOptions(pca=3, jobs=1), ONE_C)
    pipe = fitted.pipeline
    assert [name for name, _ in pipe.steps] == ["scale", "pca", "clf"]
    assert pipe["pca"].n_components_ == 3 and pipe["clf"].coef_.shape == (1, 3)


def test_pca_larger_than_the_data_is_lowered() -> None:
    d = data(n=(6, 6), dim=20)
    fitted = fit_and_search(get_spec("logreg"), d, FitOptions(pca=50, jobs=1), ONE_C)
    assert fitted.options.pca == 11  # train rows - 1
    assert fitted.pipeline["pca"].n_components_ == 11


def test_l2norm_makes_scores_ignore_each_rows_scale() -> None:
    d = data()
    x, scaled = d.X["test"][:5], d.X["test"][:5] * 7.0
    with_l2 = fit_and_search(get_spec("logreg"), d, FitOptions(l2norm=True, jobs=1), ONE_C)
    assert with_l2.pipeline.steps[0][0] == "l2norm"
    assert np.allclose(with_l2.pipeline.predict_proba(x), with_l2.pipeline.predict_proba(scaled),
                       atol=1e-6)
    without = fit_and_search(get_spec("logreg"), d, FitOptions(jobs=1), ONE_C)
    assert not np.allclose(without.pipeline.predict_proba(x),
                           without.pipeline.predict_proba(scaled), atol=1e-3)


def test_class_weight_none_favours_the_frequent_class() -> None:
    d = data(n=(90, 10), dim=5, shift=1.0)
    minority = {}
    for weight in ("balanced", "none"):
        fitted = fit_and_search(get_spec("logreg"), d, FitOptions(class_weight=weight, jobs=1),
                                ONE_C)
        assert fitted.pipeline["clf"].class_weight == (None if weight == "none" else weight)
        minority[weight] = int((fitted.pipeline.predict(d.X["test"]) == 1).sum())
    assert minority["none"] < minority["balanced"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"class_weight": "balancd"}, "class_weight must be one of balanced, none, got 'balancd'"),
    ({"pca": -1}, "pca must be 0"),
])
def test_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(EmofeatError, match=message):
        FitOptions(**kwargs)


def test_cli_fit_with_every_option(demo_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "fit", str(demo_store), "--model", "logreg", "--task", "valence", "--layer", "bn2",
        "--class-weight", "none", "--pca", "8", "--l2norm", "--grid", "C=0.1", "--jobs", "1",
        "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = Run.open(out)
    assert run.meta["options"] == {"class_weight": None, "pca": 8, "l2norm": True, "seed": 0,
                                   "jobs": 1}
    model = load_model({e["file"]: run.model_path(e["file"]) for e in run.meta["model_files"]})
    assert [name for name, _ in model.steps] == ["l2norm", "scale", "pca", "clf"]
    assert model["clf"].class_weight is None and model["pca"].n_components_ == 8
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert f"test balanced acc {test['balanced_accuracy']:.3f}" in result.stdout


def test_cli_fit_refuses_a_class_weight_typo(demo_store: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["fit", str(demo_store), "--class-weight", "balancd",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "class_weight must be one of balanced, none, got 'balancd'" in result.stderr
    assert not (tmp_path / "run").exists()
