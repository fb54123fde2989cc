"""Rating regression end to end, on a small Emotion6 replica built here: its ratings go into
the feature store at extraction, ridge / SVR / LightGBM are fitted on them, predict and
compare reproduce the numbers, and stores without ratings are refused clearly."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import mean_absolute_error, r2_score
from typer.testing import CliRunner

from emofeat.baselines import extract_colour, majority_run
from emofeat.classical import FitOptions, plan_fits
from emofeat.classical.run import fit_all
from emofeat.cli.main import app
from emofeat.datasets import Manifest, load_manifest
from emofeat.errors import EmofeatError
from emofeat.experiment import run_experiment
from emofeat.experiment.schema import ExperimentConfig, check_config
from emofeat.extract import ExtractConfig, extract
from emofeat.metrics import bootstrap_counts, bootstrap_regression
from emofeat.predict import predict_images
from emofeat.report import compare, read_report
from emofeat.runs import RUN_JSON, Run
from emofeat.splits import Split, make_split
from emofeat.store import Store

from .conftest import write_image
from .test_releases import EMOTION6_HEADER

KEYWORDS = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
REGRESSORS = ("ridge", "svr", "lightgbm")
FAST = FitOptions(jobs=1)
EXTRACT = ExtractConfig(backbone="test_efficientnet", weights="random", layers=["blocks.4"],
                        workers=0, batch_size=48, shard_size=20)
runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def make_emotion6_replica(root: Path, per_class: int = 8) -> Path:
    """Emotion6's layout, images of varied brightness; valence follows the brightness (with
    noise), so there is something to learn."""
    rng = np.random.default_rng(0)
    lines = [EMOTION6_HEADER]
    for c, keyword in enumerate(KEYWORDS):
        for k in range(per_class):
            name, level = f"{keyword}/{k}.jpg", rng.uniform(0.1, 0.9)
            noise = rng.normal(0, 20, size=(12, 12, 3))
            pixels = np.clip(255 * level + noise, 0, 255).astype(np.uint8)
            (root / "images" / keyword).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / "images" / name)
            valence = round(1 + 8 * level + rng.normal(0, 0.5), 2)
            arousal = round(float(rng.uniform(1, 9)), 2)
            probs = ["0.1"] * 6 + ["0.4"]
            lines.append("\t".join([name, str(valence), str(arousal), *probs]) + "\n")
        write_image(root / "images" / keyword / "unlisted.jpg", c, size=12)
    (root / "ground_truth.txt").write_text("".join(lines))
    return root


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    return load_manifest(make_emotion6_replica(tmp_path_factory.mktemp("e6") / "Emotion6"))


@pytest.fixture(scope="module")
def split(replica: Manifest) -> Split:
    return make_split(replica, (0.5, 0.25, 0.25))


@pytest.fixture(scope="module")
def store(replica: Manifest, split: Split, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extract(replica, tmp_path_factory.mktemp("store") / "tiny", EXTRACT, split=split)


@pytest.fixture(scope="module")
def runs(store: Path, replica: Manifest, split: Split,
         tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    fit_all(store, ["ridge", "svr"], ["valence_score"], ["blocks.4"], out, options=FAST,
            nested=True)
    fit_all(store, ["lightgbm"], ["valence_score"], ["blocks.4"], out, options=FAST,
            grid=["min_child_samples=3"], nested=True)
    majority_run(replica, split, "valence_score", out / "mean-valence_score")
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- the store


def test_store_records_the_ratings(store: Path, replica: Manifest) -> None:
    s = Store.open(store)
    assert s.rating_columns == ("valence_score", "arousal_score")
    position = {k: i for i, k in enumerate(replica.ids)}
    expected = [replica.extra["valence_score"][position[k]] for k in s.ids]
    assert s.ratings("valence_score").tolist() == expected
    assert s.verify() == []
    meta = json.loads((store / "store.json").read_text())
    assert meta["ratings"]["columns"] == ["valence_score", "arousal_score"]
    with h5py.File(store / "shard-00000.h5") as f:
        assert f["ratings/valence_score"].dtype == np.float64


def test_colour_store_has_ratings_and_fits(replica: Manifest, split: Split,
                                           tmp_path: Path) -> None:
    colour = extract_colour(replica, tmp_path / "colour", split,
                            ExtractConfig(workers=0, shard_size=64))
    assert Store.open(colour).rating_columns == ("valence_score", "arousal_score")
    (run_dir,) = fit_all(colour, ["ridge"], ["arousal_score"], ["colour"], tmp_path / "run",
                         options=FAST)
    run = Run.open(run_dir)
    assert run.record.kind == "baseline" and run.is_regression
    assert run.metrics()["test"]["n"] == len(split.ids("test"))


# --------------------------------------------------------------------------- fit


@pytest.mark.parametrize("model", REGRESSORS)
def test_regression_run_numbers_come_from_its_predictions(runs: Path, replica: Manifest,
                                                          model: str) -> None:
    run = Run.open(runs / f"{model}-valence_score-blocks.4")
    record = run.record
    assert record.task_kind == "regression" and record.classes == ()
    assert record.score_kind == "rating" and record.options["class_weight"] is None
    assert record.search.metric.startswith("mae on val")
    table = record.search.table
    best = min(table, key=lambda row: row["val_mae"])  # ties: the earlier one (min is stable)
    assert {k: v for k, v in best["params"].items()} == \
        {k: v for k, v in record.hyperparameters.items() if k != "n_estimators"}
    rows = read_csv(run.path / "predictions.csv")
    assert list(rows[0]) == ["id", "split", "y_true", "y_pred"]
    rating = dict(zip(replica.ids, replica.extra["valence_score"], strict=True))
    assert all(float(r["y_true"]) == rating[r["id"]] for r in rows)
    metrics = run.metrics()
    for split_name in ("train", "val", "test"):
        part = [r for r in rows if r["split"] == split_name]
        y = np.array([float(r["y_true"]) for r in part])
        p = np.array([float(r["y_pred"]) for r in part])
        got = metrics[split_name]
        assert got["n"] == len(part)
        assert got["mae"] == round(mean_absolute_error(y, p), 6)
        assert got["r2"] == round(r2_score(y, p), 6)
        if np.ptp(p) > 0:
            assert got["pearson_r"] == round(pearsonr(y, p).statistic, 6)
            assert got["spearman_rho"] == round(spearmanr(y, p).statistic, 6)
    assert metrics["train"]["in_sample"] and metrics["val"]["in_sample"]
    assert RUN_JSON.dump(RUN_JSON.read(run.path / "run.json")) == \
        json.loads((run.path / "run.json").read_text())


def test_a_classification_task_still_works_beside(store: Path, tmp_path: Path) -> None:
    done = fit_all(store, ["all"], ["label", "valence_score"], ["blocks.4"], tmp_path,
                   options=FAST, grid=())
    assert sorted(p.name for p in done) == sorted(
        f"{m}-{t}-blocks.4" for m, t in plan_fits(["all"], ["label", "valence_score"]))
    run = Run.open(tmp_path / "logreg-label-blocks.4")
    assert run.record.task_kind == "classification"
    assert run.classes == ("anger", "disgust", "fear", "joy", "sadness", "surprise")
    assert run.metrics() == run.predictions().metrics_by_split(in_sample=("train", "val"))
    assert "balanced_accuracy" in run.metrics()["test"]


def test_plan_fits_pairs_models_with_task_kinds() -> None:
    assert plan_fits(["all"], ["valence_score"]) == [
        ("ridge", "valence_score"), ("svr", "valence_score"), ("lightgbm", "valence_score")]
    assert plan_fits(["logreg", "lightgbm"], ["valence", "arousal_score"]) == [
        ("logreg", "valence"), ("lightgbm", "valence"), ("lightgbm", "arousal_score")]
    with pytest.raises(EmofeatError, match="task 'valence' needs a classifier"):
        plan_fits(["ridge"], ["valence"])
    with pytest.raises(EmofeatError, match="task 'valence_score' needs a regressor"):
        plan_fits(["logreg"], ["valence_score"])
    with pytest.raises(EmofeatError, match="ridge fit none of the tasks"):
        plan_fits(["logreg", "ridge"], ["valence"])


def test_mean_baseline(runs: Path, replica: Manifest, split: Split) -> None:
    run = Run.open(runs / "mean-valence_score")
    preds = run.predictions()
    y = dict(zip(replica.ids, replica.extra["valence_score"], strict=True))
    fitted = [y[k] for k in (*split.ids("train"), *split.ids("val"))]
    assert np.allclose(preds.y_pred, np.mean(fitted))
    train_mean = np.mean([y[k] for k in split.ids("train")])
    val_mae = np.mean([abs(y[k] - train_mean) for k in split.ids("val")])
    assert run.record.hyperparameters["val_mae"] == round(val_mae, 6)
    assert run.metrics()["test"]["pearson_r"] is None  # constant predictions


# --------------------------------------------------------------------------- refused


def old_store(store: Path, tmp_path: Path) -> Path:
    """The store as an emofeat without ratings wrote it: no ratings in store.json."""
    copy = tmp_path / "old"
    shutil.copytree(store, copy)
    meta = json.loads((copy / "store.json").read_text())
    del meta["ratings"]
    (copy / "store.json").write_text(json.dumps(meta, indent=2))
    return copy


def test_regression_on_a_store_without_ratings_is_refused(store: Path, tmp_path: Path) -> None:
    old = old_store(store, tmp_path)
    with pytest.raises(EmofeatError, match="holds no rating 'valence_score'; it has none"):
        fit_all(old, ["ridge"], ["valence_score"], ["blocks.4"], tmp_path / "run")
    assert not (tmp_path / "run").exists()
    result = cli("fit", old, "--model", "ridge", "--task", "valence_score",
                 "--out", tmp_path / "run")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "re-extract it with --overwrite" in line
    # classification on the old store is as before
    (run_dir,) = fit_all(old, ["logreg"], ["label"], ["blocks.4"], tmp_path / "cls",
                         options=FAST)
    assert Run.open(run_dir).metrics()["test"]["n"] > 0


def test_an_old_store_is_kept_as_it_is_when_extract_runs_again(
        store: Path, replica: Manifest, split: Split, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    old = old_store(store, tmp_path)
    before = (old / "store.json").read_bytes()
    with caplog.at_level(logging.WARNING):
        extract(replica, old, EXTRACT, split=split)
    assert "written without the data set's ratings" in caplog.text
    assert (old / "store.json").read_bytes() == before


# --------------------------------------------------------------------------- predict


@pytest.mark.parametrize("model", REGRESSORS)
def test_predict_reproduces_the_run(runs: Path, replica: Manifest, model: str,
                                    tmp_path: Path) -> None:
    run_dir = runs / f"{model}-valence_score-blocks.4"
    rows = [r for r in read_csv(run_dir / "predictions.csv") if r["split"] == "test"][:4]
    classes, predicted = predict_images(run_dir, [replica.root / r["id"] for r in rows],
                                        device="cpu")
    assert classes == ()
    got = list(predicted)
    assert [p.label for p in got] == [None] * 4
    assert np.allclose([p.rating for p in got], [float(r["y_pred"]) for r in rows],
                       rtol=1e-5, atol=1e-5)
    result = cli("predict", run_dir, replica.root / rows[0]["id"], "--out", tmp_path / "p.csv",
                 "--device", "cpu")
    assert result.exit_code == 0, result.output
    (written,) = read_csv(tmp_path / "p.csv")
    assert list(written) == ["path", "rating", "error"]
    assert float(written["rating"]) == pytest.approx(float(rows[0]["y_pred"]), abs=1e-5)


# --------------------------------------------------------------------------- compare


def test_compare_writes_a_regression_table_and_a_scatter(runs: Path, tmp_path: Path) -> None:
    summary = compare([runs], tmp_path / "report")
    report = read_report(tmp_path / "report" / "report.json")
    assert report.tasks == {} and report.regression is not None
    task = report.regression["valence_score"]
    tests = {}
    for name in ("ridge", "svr", "lightgbm", "mean"):
        run_name = f"{name}-valence_score" + ("" if name == "mean" else "-blocks.4")
        rows = [r for r in read_csv(runs / run_name / "predictions.csv") if r["split"] == "test"]
        rows.sort(key=lambda r: r["id"])
        tests[run_name] = (np.array([float(r["y_true"]) for r in rows]),
                           np.array([float(r["y_pred"]) for r in rows]))
    val_mae = {r.run: r.val_mae for r in task.rows}
    assert task.best == min(val_mae, key=val_mae.get)
    assert task.n_test == len(next(iter(tests.values()))[0])
    by_run = {r.run: r for r in task.rows}
    best_r = pearsonr(*tests[task.best]).statistic
    for run_name, (y, p) in tests.items():
        row = by_run[run_name]
        assert row.mae.value == round(mean_absolute_error(y, p), 6)
        assert row.mae.ci[0] <= row.mae.value <= row.mae.ci[1]
        assert row.r2 == round(r2_score(y, p), 6)
        if run_name.startswith("mean"):
            assert row.pearson_r is None and row.spearman_rho is None and row.vs_best is None
            assert row.family == "mean"
            continue
        r = pearsonr(y, p).statistic
        assert row.pearson_r is not None and row.pearson_r.value == round(r, 6)
        assert row.spearman_rho == round(spearmanr(y, p).statistic, 6)
        if run_name != task.best:
            assert row.vs_best is not None
            assert row.vs_best.pearson_r_gap == pytest.approx(r - best_r, abs=2e-6)
    assert list(task.best_of_family) == ["random", "mean"]
    assert task.r_reference == task.best  # the best on val has an r
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Rating task `valence_score`" in md and "| Pearson r [95% CI] |" in md
    html = (tmp_path / "report" / "report.html").read_text()
    assert 'alt="valence_score predicted vs rated" src="data:image/png;base64,' in html
    assert any(line.startswith("valence_score: frozen random-init features r ")
               for line in summary["summary_lines"])


def test_compare_of_the_mean_alone(runs: Path, tmp_path: Path) -> None:
    compare([runs / "mean-valence_score"], tmp_path / "report")
    task = read_report(tmp_path / "report" / "report.json").regression["valence_score"]
    assert task.best == "mean-valence_score" and task.r_reference is None
    assert "r is undefined" in (tmp_path / "report" / "report.md").read_text()


def test_bootstrap_regression_equals_resampling() -> None:
    rng = np.random.default_rng(3)
    y = rng.uniform(1, 9, 30)
    p = y + rng.normal(0, 2, 30)
    counts = bootstrap_counts(30, 20, seed=1)
    dist = bootstrap_regression(y, p, counts)
    for b in range(5):
        idx = np.repeat(np.arange(30), counts[b])
        assert dist["pearson_r"][b] == pytest.approx(pearsonr(y[idx], p[idx]).statistic,
                                                     abs=1e-12)
        assert dist["mae"][b] == pytest.approx(np.abs(y[idx] - p[idx]).mean(), abs=1e-12)
    assert np.isnan(bootstrap_regression(y, np.full(30, 5.0), counts)["pearson_r"]).all()


# --------------------------------------------------------------------------- data, config


def test_data_show_lists_ratings_with_ranges(replica: Manifest) -> None:
    result = cli("data", "show", replica.root, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["format"] == "emotion6" and info["n_images"] == 48
    assert info["dropped"] == {"present but not listed": 6}
    values = replica.extra["valence_score"]
    assert info["ratings"]["valence_score"]["min"] == min(values)
    assert info["ratings"]["valence_score"]["max"] == max(values)
    assert sum(info["split_counts"].values()) == 48
    assert info["split_source"].startswith("seeded stratified split")
    text = cli("data", "show", replica.root)
    assert text.exit_code == 0 and "rating regression" in text.stdout


def test_experiment_config_takes_rating_tasks_and_regressors() -> None:
    config = ExperimentConfig()
    config.data.demo = True
    config.fit.tasks = ["valence", "valence_score"]
    config.fit.models = ["logreg", "ridge", "lightgbm"]
    check_config(config)
    config.finetune.tasks = ["valence_score"]
    with pytest.raises(EmofeatError, match=r"\[finetune\]: 'valence_score' is a rating"):
        check_config(config)
    config.finetune.enabled = False
    config.fit.tasks = ["valence_score"]
    with pytest.raises(EmofeatError, match=r"\[fit\]: model\(s\) logreg fit none"):
        check_config(config)
    config.fit.models = ["ridge"]
    with pytest.raises(EmofeatError, match=r"\[baselines\] colour_models: model\(s\) logreg"):
        check_config(config)  # the default colour models are logreg and lightgbm
    config.baselines.colour = False
    check_config(config)


def test_experiment_fits_rating_tasks_with_their_baselines(replica: Manifest,
                                                           tmp_path: Path) -> None:
    config = tmp_path / "exp.toml"
    config.write_text(f"""
[data]
path = "{replica.root}"

[split]
fractions = [0.5, 0.25, 0.25]

[[extract]]
name = "tiny"
backbone = "test_efficientnet"
weights = "random"
layers = ["blocks.4"]
workers = 0

[fit]
models = ["logreg", "ridge"]
tasks = ["label", "valence_score"]
jobs = 1

[finetune]
enabled = false

[baselines]
colour_models = ["logreg", "ridge"]
""")
    report = run_experiment(config, tmp_path / "out")
    runs = tmp_path / "out" / "runs"
    assert {p.name for p in (runs / "tiny").iterdir()} == {"logreg-label-blocks.4",
                                                          "ridge-valence_score-blocks.4"}
    assert (runs / "baselines" / "mean-valence_score" / "run.json").is_file()
    assert (runs / "baselines" / "colour" / "ridge-valence_score-colour" / "run.json").is_file()
    assert list(report["tasks"]) == ["label"] and list(report["regression"]) == ["valence_score"]
    assert list(report["regression"]["valence_score"]["best_of_family"]) == [
        "random", "colour", "mean"]


def test_registry_names() -> None:
    from emofeat.classical import REGRESSOR_NAMES, REGRESSORS
    from emofeat.cli.fit import REGRESSOR_NAMES as CLI_NAMES

    assert tuple(REGRESSORS) == REGRESSOR_NAMES == CLI_NAMES
