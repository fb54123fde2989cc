"""emofeat fit / predict: real sklearn and LightGBM fits on a small real store."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from emofeat.classical import FitOptions, fit_and_search, get_spec
from emofeat.classical.run import fit_all, load_features, split_data, store_split
from emofeat.cli.main import app
from emofeat.datasets import load_manifest
from emofeat.extract import ExtractConfig, extract
from emofeat.hashing import sha256_file
from emofeat.predict import predict_images
from emofeat.runs import Run
from emofeat.splits import Split, write_split
from emofeat.store import Store
from emofeat.taxonomy import get_task

from .conftest import write_image

MODELS = ("logreg", "svm", "svm-rbf", "lightgbm")
TASKS = ("valence", "emotion8")
FAST = FitOptions(jobs=1)
runner = CliRunner()


@pytest.fixture(scope="module")
def all_runs(demo_store: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "all"
    fit_all(demo_store, MODELS, TASKS, ["bn2"], out, options=FAST)
    return out


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("task", TASKS)
def test_run_directory(all_runs: Path, demo_store: Path, model: str, task: str) -> None:
    run_dir = all_runs / f"{model}-{task}-bn2"
    run = Run.open(run_dir)
    meta = run.meta
    assert meta["kind"] == "classical" and meta["model"] == model and meta["task"] == task
    assert meta["splits_sha256"] == sha256_file(demo_store / "splits.csv")
    assert meta["features"]["store_sha256"] == Store.open(demo_store).sha256
    assert meta["n"] == {"train": 56, "val": 8, "test": 16}
    assert len(meta["search"]["table"]) >= 2
    assert all("val_balanced_accuracy" in row for row in meta["search"]["table"])
    assert {"search_seconds", "refit_seconds", "predict_seconds"} <= set(meta["timings"])
    assert {"scikit-learn", "lightgbm", "torch"} <= set(meta["versions"])
    for entry in meta["model_files"]:
        assert sha256_file(run_dir / entry["file"]) == entry["sha256"]
    # the numbers in metrics.json are what predictions.csv gives
    stored = run.metrics()
    recomputed = run.predictions().metrics_by_split(in_sample=("train", "val"))
    assert recomputed == stored
    assert set(stored) == {"train", "val", "test"} and stored["test"]["n"] == 16
    if task == "valence":
        assert 0.0 <= stored["test"]["roc_auc"] <= 1.0
    assert len(stored["test"]["confusion_matrix"]) == len(run.classes)


def test_frozen_pretrained_features_beat_chance(all_runs: Path) -> None:
    scores = [Run.open(all_runs / f"{m}-emotion8-bn2").metrics()["test"]["balanced_accuracy"]
              for m in MODELS]
    assert max(scores) > 0.4  # chance is 0.125


def untimed(table: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "fit_seconds"} for row in table]


def test_val_alone_drives_the_choice(demo_store: Path) -> None:
    store = Store.open(demo_store)
    task = get_task("emotion8", store.labels)
    data = split_data(store, load_features(store, ["bn2"]), task, store_split(store))
    for model in ("logreg", "lightgbm"):
        spec = get_spec(model)
        first = fit_and_search(spec, data, FAST)
        data.y["test"] = np.random.default_rng(1).permutation(data.y["test"])[::-1].copy()
        data.X["test"] = data.X["test"][::-1].copy()
        second = fit_and_search(spec, data, FAST)
        assert untimed(first.search.table) == untimed(second.search.table)
        assert first.search.best == second.search.best


@pytest.mark.parametrize("model", ["logreg", "lightgbm"])
def test_same_seed_same_predictions(demo_store: Path, tmp_path: Path, model: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        fit_all(demo_store, [model], ["emotion8"], ["blocks.6+bn2"], out, options=FAST)
    assert (a / "predictions.csv").read_bytes() == (b / "predictions.csv").read_bytes()
    assert Run.open(a).meta["layer"] == "blocks.6+bn2"


@pytest.mark.parametrize("model", ["logreg", "lightgbm"])
def test_predict_reproduces_the_run(all_runs: Path, tiny_demo: Path, model: str) -> None:
    run = Run.open(all_runs / f"{model}-emotion8-bn2")
    preds = run.predictions()
    ids = preds.ids[:6] + preds.ids[-4:]
    classes, rows = predict_images(run.path, [tiny_demo / i for i in ids], batch_size=4,
                                   device="cpu")
    rows = list(rows)
    assert classes == run.classes
    for k, row in enumerate(rows):
        i = preds.ids.index(ids[k])
        assert row.label == run.classes[preds.y_pred[i]]
        assert np.allclose([row.scores[c] for c in classes], preds.scores[i], atol=1e-4)


def test_all_resumes(demo_store: Path, tmp_path: Path) -> None:
    seen: list[tuple[str, bool]] = []
    kwargs = dict(options=FAST, grid=["C=0.01"],
                  on_done=lambda d, r: seen.append((d.name, r is not None)))
    fit_all(demo_store, ["logreg"], TASKS, ["blocks.6", "bn2"], tmp_path, **kwargs)
    (tmp_path / "logreg-valence-bn2" / "run.json").unlink()  # as if interrupted
    fit_all(demo_store, ["logreg"], TASKS, ["blocks.6", "bn2"], tmp_path, **kwargs)
    assert [n for n, fitted in seen[4:] if fitted] == ["logreg-valence-bn2"]
    assert len(seen) == 8


# ------------------------------------------------------------------ CLI and bad input


def cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_fit_and_predict(demo_store: Path, tiny_demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = cli("fit", demo_store, "--model", "svm", "--task", "valence", "--layer", "bn2",
                 "--out", out, "--jobs", "1", "--grid", "C=0.001,0.01")
    assert result.exit_code == 0, result.output
    assert "svm valence bn2: test balanced acc" in result.stdout
    assert json.loads((out / "run.json").read_text())["search"]["grid"] == {"C": [0.001, 0.01]}
    result = cli("predict", out, tiny_demo / "awe", "--out", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "p.csv").read_text().splitlines()
    # an SVM's class scores are decision margins, and the columns say so
    assert lines[0] == "path,label,margin_negative,margin_positive,error" and len(lines) == 11
    # an existing complete run is not silently replaced
    again = cli("fit", demo_store, "--model", "svm", "--task", "valence", "--layer", "bn2",
                "--out", out, "--grid", "C=0.001,0.01")
    assert again.exit_code == 2 and "already holds a complete run" in again.stderr
    # nor one made with other settings, and the message says which
    other = cli("fit", demo_store, "--model", "svm", "--task", "valence", "--out", out)
    assert other.exit_code == 2 and "complete run made with other settings (grid: run has" \
        in other.stderr and "--overwrite" in other.stderr


@pytest.fixture(scope="module")
def joy_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("joy")
    for label in ("joy", "surprise"):
        for i in range(4):
            write_image(root / "data" / label / f"{i}.png", i)
    config = ExtractConfig(backbone="tf_efficientnet_lite0", weights="random", layers=["bn2"],
                           workers=0)
    return extract(load_manifest(root / "data"), root / "store", config)


def nan_store(demo_store: Path, tmp_path: Path) -> Path:
    import shutil

    copy = Path(shutil.copytree(demo_store, tmp_path / "nan-store"))
    with h5py.File(copy / "shard-00001.h5", "r+") as f:
        f["features/bn2"][3, 7] = np.nan
    meta = json.loads((copy / "store.json").read_text())  # as if extracted with the NaN
    meta["shards"][1]["sha256"] = sha256_file(copy / "shard-00001.h5")
    (copy / "store.json").write_text(json.dumps(meta))
    return copy


def foreign_split(demo_store: Path, tmp_path: Path) -> Path:
    split = Store.open(demo_store).split()
    write_split(Split({**split.assignment, "awe/not-there.jpg": "train"}), tmp_path / "s.csv")
    return tmp_path / "s.csv"


def no_train_sadness(demo_store: Path, tmp_path: Path) -> Path:
    split = Store.open(demo_store).split()
    moved = {k: ("test" if k.startswith("sadness/") and v == "train" else v)
             for k, v in split.assignment.items()}
    write_split(Split(moved), tmp_path / "s.csv")
    return tmp_path / "s.csv"


@pytest.mark.parametrize(("case", "message"), [
    ("layer", "layer 'conv_head' is not in the store"),
    ("labels", "task 'emotion8' cannot use labels ['joy', 'surprise']"),
    ("split", "names 1 ids that are not in the store"),
    ("missing_class", "class(es) sadness have no train images"),
    ("nan", "hold NaN or Inf in 1 rows"),
    ("model", "unknown model 'knn'; valid models: logreg, svm, svm-rbf, lightgbm"),
    ("grid", "'alpha' is not a parameter of logreg"),
])
def test_fit_bad_input(case: str, message: str, demo_store: Path, joy_store: Path,
                       tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = {"model": "logreg", "task": "emotion8", "layer": "bn2"}
    store, extra = demo_store, []
    if case == "layer":
        args["layer"] = "conv_head"
    elif case == "labels":
        store = joy_store
    elif case == "split":
        extra = ["--splits", foreign_split(demo_store, tmp_path)]
    elif case == "missing_class":
        extra = ["--splits", no_train_sadness(demo_store, tmp_path)]
    elif case == "nan":
        store = nan_store(demo_store, tmp_path)
    elif case == "model":
        args["model"] = "knn"
    elif case == "grid":
        extra = ["--grid", "alpha=1"]
    result = cli("fit", store, "--out", out, *[x for k, v in args.items()
                                              for x in (f"--{k}", v)], *extra)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert not (out / "run.json").exists()


def test_label_task_uses_the_datasets_own_classes(joy_store: Path, tmp_path: Path) -> None:
    fit_all(joy_store, ["logreg"], ["label"], ["bn2"], tmp_path / "r", options=FAST)
    assert Run.open(tmp_path / "r").classes == ("joy", "surprise")


def test_tampered_model_file_is_refused(all_runs: Path, tiny_demo: Path,
                                        tmp_path: Path) -> None:
    import shutil

    run_dir = Path(shutil.copytree(all_runs / "lightgbm-valence-bn2", tmp_path / "run"))
    booster = run_dir / "model.lgb.txt"
    booster.write_text(booster.read_text() + "\n")
    result = cli("predict", run_dir, tiny_demo / "awe" / "awe_0000.jpg")
    assert result.exit_code == 2
    assert "does not match the SHA-256 in run.json" in result.stderr
