"""The distribution task end to end on an Emotion6-format replica with a planted signal:
extract -> fit (soft targets, the one-hot baseline) -> fine-tune -> compare, through
`emofeat run`, and the commands around it (predict, evaluate, a bad row)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from emofeat.cli.main import app
from emofeat.distributions import NOT_ONE
from emofeat.errors import EmofeatError
from emofeat.experiment import run_experiment
from emofeat.metrics import distribution_metrics
from emofeat.runs import Run
from emofeat.store import Store

from .test_releases import EMOTION6_HEADER

KEYWORDS = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
BAD = "joy/bad.jpg"  # its probabilities sum to 0.5
runner = CliRunner()


def cli(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def make_replica(root: Path) -> Path:
    """Emotion6's layout: the brighter an image, the more annotators felt joy and the fewer
    sadness (rounded to two decimals as the release is), plus one row that is no
    distribution."""
    rng = np.random.default_rng(0)
    lines = [EMOTION6_HEADER]
    for keyword in KEYWORDS:
        (root / "images" / keyword).mkdir(parents=True, exist_ok=True)
        for k in range(12):
            level = rng.uniform(0.1, 0.9)
            pixels = np.clip(255 * level + rng.normal(0, 20, (16, 16, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / "images" / keyword / f"{k}.jpg")
            logits = np.array([0, 0, 0, 4 * level, 4 * (1 - level), 0, 1.0])
            p = np.exp(logits + rng.normal(0, 0.3, 7))
            p = np.round(p / p.sum(), 2)
            lines.append("\t".join([f"{keyword}/{k}.jpg", "5.5", "5", *map(str, p)]) + "\n")
    Image.new("RGB", (16, 16), (90, 90, 90)).save(root / "images" / BAD)
    lines.append("\t".join([BAD, "5.5", "5", *["0.1"] * 5, "0", "0"]) + "\n")
    (root / "ground_truth.txt").write_text("".join(lines), newline="\r\n")  # CRLF, as shipped
    return root


CONFIG = """
[data]
path = "{data}"
[split]
fractions = [0.5, 0.25, 0.25]
[[extract]]
name = "tiny"
backbone = "test_efficientnet"
weights = "random"
layers = ["blocks.4"]
[fit]
models = ["logreg", "lightgbm", "logreg-onehot"]
tasks = ["distribution"]
jobs = 1
drop_invalid = {drop}
[finetune]
tasks = ["distribution"]
backbone = "test_efficientnet"
weights = "random"
img_size = 32
epochs = 2
batch_size = 16
drop_invalid = {drop}
[baselines]
colour = false
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_replica(tmp_path_factory.mktemp("e6") / "Emotion6")


def _config(folder: Path, data: Path, drop: bool) -> Path:
    path = folder / "exp.toml"
    path.write_text(CONFIG.format(data=data, drop=str(drop).lower()))
    return path


@pytest.fixture(scope="module")
def out(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exp")
    run_experiment(_config(folder, data, True), folder / "out")
    return folder / "out"


def test_a_bad_row_stops_fitting_the_task_in_one_line(out: Path, tmp_path: Path) -> None:
    store = out / "stores" / "tiny"  # extracted all the same: it serves other tasks
    result = cli("-q", "fit", store, "--task", "distribution", "--out", tmp_path / "run")
    assert result.exit_code == 2
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert f"image images/{BAD}: {NOT_ONE}" in message and "--drop-invalid" in message
    assert not (tmp_path / "run").exists()
    result = cli("-q", "fit", store, "--task", "distribution", "--drop-invalid", "--out",
                 tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert Run.open(tmp_path / "run").record.request["drop_invalid"] is True


def test_a_bad_row_stops_the_run_before_its_first_step(data: Path, tmp_path: Path) -> None:
    with pytest.raises(EmofeatError, match=r"drop_invalid = true in \[fit\]"):
        run_experiment(_config(tmp_path, data, False), tmp_path / "out")
    assert not (tmp_path / "out" / "stores").exists()


def test_the_store_records_the_distributions(out: Path, data: Path) -> None:
    store = Store.open(out / "stores" / "tiny")
    info = json.loads((store.path / "store.json").read_text())["distributions"]["distribution"]
    assert info["classes"] == ["anger", "disgust", "fear", "joy", "sadness", "surprise",
                               "neutral"]
    assert info["invalid"] == {NOT_ONE: 1} and len(info["sha256"]) == 64
    assert info["first_invalid"].startswith(f"image images/{BAD}: {NOT_ONE}")
    values = store.distribution("distribution")
    bad = store.ids.index(f"images/{BAD}")
    assert np.isnan(values[bad]).all()
    ok = np.delete(values, bad, axis=0)
    assert ok.sum(axis=1) == pytest.approx(np.ones(len(ok)))
    with h5py.File(store.path / "shard-00000.h5") as f:
        assert f["distributions/distribution"].dtype == np.float64
    assert store.verify() == []


def test_soft_targets_beat_the_mean_distribution(out: Path) -> None:
    report = json.loads((out / "report" / "report.json").read_text())
    task = report["distribution"]["distribution"]
    rows = {r["model"]: r for r in task["rows"]}
    assert set(rows) == {"logreg", "lightgbm", "logreg-onehot", "mean-distribution",
                         "fine-tuned"}
    kl = {m: r["metrics"]["kl_divergence"]["value"] for m, r in rows.items()}
    assert kl["logreg"] < 0.5 * kl["mean-distribution"]
    by_run = {r["run"]: r for r in task["rows"]}
    assert by_run[task["best"]]["model"] in ("logreg", "lightgbm")  # chosen on val
    gap = rows["mean-distribution"]["vs_best"]
    assert gap["kl_divergence_gap"] > 0 and gap["significant"]
    assert len(task["images"]) == 4
    assert all(len(i["true"]) == 7 and i["predicted"] for i in task["images"])
    md = (out / "report" / "report.md").read_text()
    assert "## Distribution task `distribution`" in md and "KL ↓" in md
    assert "data:image/png;base64" in (out / "report" / "report.html").read_text()


def test_metrics_come_from_the_predictions(out: Path) -> None:
    run = Run.open(out / "runs" / "tiny" / "logreg-distribution-blocks.4")
    assert run.record.task_kind == "distribution" and run.record.score_kind == "distribution"
    preds = run.predictions()
    test = preds.select("test")
    assert run.metrics()["test"] == distribution_metrics(test.y_true, test.y_pred)
    with open(run.path / "predictions.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:4] == ["id", "split", "y_true", "y_pred"]
    assert header[4:] == [f"true_{c}" for c in run.classes] + [f"share_{c}" for c in run.classes]
    assert f"images/{BAD}" not in preds.ids
    search = run.record.search
    assert "kl_divergence" in search.metric and all("val_kl_divergence" in r
                                                    for r in search.table)


def test_the_fine_tuned_run_chooses_its_epoch_by_val_kl(out: Path) -> None:
    run = Run.open(out / "runs" / "finetune-distribution")
    history = run.record.history
    kls = [h["val_kl_divergence"] for h in history]
    assert run.record.best_epoch == 1 + int(np.argmin(kls))
    assert run.predictions().y_pred.shape[1] == 7


def test_predict_writes_a_share_per_class(out: Path, data: Path, tmp_path: Path) -> None:
    for name in ("tiny/lightgbm-distribution-blocks.4", "finetune-distribution"):
        result = cli("predict", out / "runs" / name, data / "images" / "joy",
                     "--out", tmp_path / "p.csv")
        assert result.exit_code == 0, result.output
        with open(tmp_path / "p.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        shares = np.array([[float(r[f"share_{c}"]) for c in ("anger", "disgust", "fear", "joy",
                                                             "sadness", "surprise", "neutral")]
                           for r in rows])
        assert shares.sum(axis=1) == pytest.approx(np.ones(len(rows)), abs=1e-5)
        assert all(r["label"] for r in rows)


def test_evaluate_refuses_a_distribution_run(out: Path, data: Path, tmp_path: Path) -> None:
    result = cli("evaluate", out / "runs" / "tiny" / "logreg-distribution-blocks.4", data,
                 "--out", tmp_path / "eval")
    assert result.exit_code == 2 and "predicts emotion distributions" in result.output
