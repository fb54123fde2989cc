"""emofeat compare: statistics on runs with known predictions, and the report files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score
from typer.testing import CliRunner

from emofeat.cli.main import app
from emofeat.errors import EmofeatError
from emofeat.metrics import (
    bootstrap_counts,
    bootstrap_distribution,
    classification_metrics,
    mcnemar_exact,
)
from emofeat.report import REPORT_FORMAT, compare, plots, read_report
from emofeat.report.families import FAMILIES, family
from emofeat.report.model import REPORT_JSON
from emofeat.report.render import short_table
from emofeat.runs import (
    FeatureRun,
    FeaturesRecord,
    FinetuneRun,
    Predictions,
    RunRecord,
    SearchRecord,
    finish_run,
    model_file_entry,
    prepare_run_dir,
)
from emofeat.store import StoredLayer

CLASSES = ("negative", "positive")
SPLIT = "a" * 64
MANIFEST = "c" * 64
runner = CliRunner()


def make_run(run_dir: Path, y_true, y_pred, *, kind="classical", model="logreg",
             weights="bundled", split=SPLIT, val_score=0.5, scores=None,
             backbone="tf_efficientnet_lite0", ids=None, dataset_format="folder") -> Path:
    """A run directory whose test predictions are exactly the ones given."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(y_true)
    ids = ids if ids is not None else [f"img{i:03d}.jpg" for i in range(n)]
    if scores is None:
        scores = np.stack([1.0 - y_pred, y_pred.astype(float)], axis=1)
    prepare_run_dir(run_dir)
    (run_dir / "model.skops").write_bytes(b"stand-in model file")
    common = {"model_summary": model, "task": "valence", "splits_sha256": split,
              "n": {"test": n}, "score_kind": "probability", "timings": {},
              "hyperparameters": {}, "model_files": (model_file_entry(run_dir, "model.skops"),)}
    record: RunRecord
    if kind == "finetune":
        record = FinetuneRun(
            **common, model="tf_efficientnet_lite0", layer="finetuned",
            manifest_sha256=MANIFEST, dataset_format=dataset_format, weights={"source": weights},
            data_config={}, best_epoch=1, history=({"val_balanced_accuracy": val_score},),
            failed=(), stopped_early=False, device="cpu")
    else:
        features = FeaturesRecord(
            store="/stores/lite0", store_sha256="b" * 64, backbone=backbone,
            weights={"source": weights}, manifest_sha256=MANIFEST, dataset_format=dataset_format,
            data_config={}, layers=(StoredLayer("bn2", 1280, 1280, 32),),
            layer_order=("bn2",), store_layers=("bn2",), pooling="avg", precision="fp32",
            dtype="float32")
        record = FeatureRun(
            **common, kind=kind, model=model, layer="bn2", features=features, options={},
            search=SearchRecord("balanced_accuracy on val", {},
                                ({"val_balanced_accuracy": val_score},)),
            refit_on=("train", "val"))
    preds = Predictions(list(ids), ["test"] * n, y_true, y_pred,
                        scores, CLASSES)
    finish_run(run_dir, record, preds)
    return run_dir


@pytest.fixture
def known(tmp_path: Path) -> dict[str, Path]:
    """Three runs on 40 test images: a (30 right), b (22 right), a fine-tuned one."""
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    a = y.copy()
    a[:10] = 1 - a[:10]                      # wrong on 0..9
    b = y.copy()
    b[8:26] = 1 - b[8:26]                    # wrong on 8..25
    ft = np.where(rng.random(40) < 0.8, y, 1 - y)
    return {
        "a": make_run(tmp_path / "runs" / "a", y, a, val_score=0.9),
        "b": make_run(tmp_path / "runs" / "b", y, b, weights="random", val_score=0.7),
        "ft": make_run(tmp_path / "runs" / "ft", y, ft, kind="finetune", val_score=0.8),
    }


def test_mcnemar_exact_known_value() -> None:
    a = np.array([True] * 10 + [False] * 2 + [True] * 20)
    b = np.array([False] * 10 + [True] * 2 + [True] * 20)
    result = mcnemar_exact(a, b)
    assert (result["a_only_correct"], result["b_only_correct"]) == (10, 2)
    # two-sided exact binomial: 2 * P(X <= 2 | n = 12, p = 1/2) = 2 * 79 / 4096
    assert result["p_value"] == pytest.approx(158 / 4096, rel=1e-9)
    assert mcnemar_exact(a, a)["p_value"] == 1.0


def test_bootstrap_matches_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 8, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 8, 300))
    counts = bootstrap_counts(300, 5, seed=3)
    dist = bootstrap_distribution(y, p, 8, counts)
    for b in range(5):
        idx = np.repeat(np.arange(300), counts[b])
        assert dist["balanced_accuracy"][b] == pytest.approx(
            balanced_accuracy_score(y[idx], p[idx]))
        assert dist["macro_f1"][b] == pytest.approx(
            f1_score(y[idx], p[idx], average="macro", labels=range(8), zero_division=0))
    yb = (y < 4).astype(int)
    s = np.round(rng.normal(yb, 1.0), 1)  # ties included
    dist = bootstrap_distribution(yb, (s > 0.5).astype(int), 2, counts, np.stack([-s, s], 1))
    for b in range(5):
        idx = np.repeat(np.arange(300), counts[b])
        assert dist["roc_auc"][b] == pytest.approx(roc_auc_score(yb[idx], s[idx]))


def test_report_numbers(known: dict[str, Path], tmp_path: Path) -> None:
    report = compare([tmp_path / "runs"], tmp_path / "report", n_boot=1000, seed=0)
    task = report["tasks"]["valence"]
    assert task["n_test"] == 40 and task["best"] == "a" and task["finetune"] == "ft"
    rows = {r["run"]: r for r in task["rows"]}
    for name, path in known.items():
        preds = json.loads((path / "metrics.json").read_text())["test"]
        for key in ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc"):
            m = rows[name]["metrics"][key]
            assert m["value"] == preds[key]           # equals metrics.json / predictions.csv
            assert m["ci"][0] <= m["value"] <= m["ci"][1]
    assert rows["a"]["metrics"]["accuracy"]["value"] == 0.75
    assert rows["b"]["metrics"]["accuracy"]["value"] == 0.55
    # b vs the best (a): only b is right on images 0..7, only a on images 10..25
    vs_best = rows["b"]["vs_best"]
    assert (vs_best["only_this_correct"], vs_best["only_other_correct"]) == (8, 16)
    assert vs_best["mcnemar_p"] == pytest.approx(
        2 * sum(math.comb(24, k) for k in range(9)) / 2**24, rel=1e-9)
    assert vs_best["balanced_accuracy_gap"] == pytest.approx(-0.2)
    assert vs_best["ci"][0] <= -0.2 <= vs_best["ci"][1]
    transfer = task["transfer"]
    assert transfer["best_of_family"]["pretrained"]["run"] == "a"
    assert transfer["best_of_family"]["random"]["run"] == "b"
    gap = transfer["gaps"][0]
    assert gap["a"] == "pretrained" and gap["b"] == "random"
    assert gap["balanced_accuracy_gap"] == pytest.approx(0.2)
    # the files
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["tasks"] == json.loads(json.dumps(report["tasks"]))
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| a |" in md and "ImageNet pretraining (frozen) vs random init" in md
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4
    assert "http://" not in page and "https://" not in page and "<table>" in page


def test_same_seed_same_intervals(known: dict[str, Path], tmp_path: Path) -> None:
    one = compare([tmp_path / "runs"], tmp_path / "r1", seed=5)["tasks"]
    two = compare([tmp_path / "runs"], tmp_path / "r2", seed=5)["tasks"]
    assert one == two


def test_mixed_splits_are_refused(known: dict[str, Path], tmp_path: Path) -> None:
    make_run(tmp_path / "runs" / "odd", [0, 1], [0, 1], split="b" * 64)
    with pytest.raises(EmofeatError, match=r"different splits.*runs/odd"):
        compare([tmp_path / "runs"], tmp_path / "report")


@pytest.mark.parametrize("damage", ["predictions", "hash", "empty"])
def test_broken_inputs(known: dict[str, Path], tmp_path: Path, damage: str) -> None:
    if damage == "predictions":
        (known["b"] / "predictions.csv").unlink()
        message = "lacks predictions.csv"
    elif damage == "hash":
        (known["b"] / "model.skops").write_bytes(b"changed")
        message = "does not match the SHA-256"
    else:
        shutil.rmtree(tmp_path / "runs")
        (tmp_path / "runs").mkdir()
        message = "no runs found"
    result = runner.invoke(app, ["compare", str(tmp_path / "runs"), "--out",
                                 str(tmp_path / "report")])
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "report" / "report.html").exists()


def test_cli_compare(known: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(known["a"]), str(known["b"]), str(known["ft"]),
                                 "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert "valence:" in result.stdout and "report.html" in result.stdout
    assert (tmp_path / "rep" / "report.md").is_file()


def test_metrics_of_constructed_predictions() -> None:
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(y, np.array([0, 1, 1, 1]), CLASSES,
                               np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]]))
    assert m["accuracy"] == 0.75 and m["balanced_accuracy"] == 0.75
    assert m["confusion_matrix"] == [[1, 1], [0, 2]] and m["roc_auc"] == 1.0


def test_report_json_carries_its_format_version(known: dict[str, Path], tmp_path: Path) -> None:
    compare([tmp_path / "runs"], tmp_path / "report")
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert list(saved)[:2] == ["format", "format_version"]
    assert (saved["format"], saved["format_version"]) == (REPORT_FORMAT, 1)
    report = read_report(tmp_path / "report" / "report.json")
    assert report.tasks["valence"].best == "a"
    assert REPORT_JSON.dump(report) == saved


def test_family_table_drives_labels_order_and_colours(known: dict[str, Path],
                                                      tmp_path: Path) -> None:
    assert len({f.colour for f in FAMILIES}) == len({f.label for f in FAMILIES}) == len(FAMILIES)
    compare([tmp_path / "runs"], tmp_path / "report")
    task = read_report(tmp_path / "report" / "report.json").tasks["valence"]
    expected = [family(k) for k in ("finetune", "pretrained", "random")]  # the table's order
    assert list(task.transfer.best_of_family) == [f.key for f in expected]
    bars = plots.transfer_data(task.transfer)
    assert [(b.label, b.colour) for b in bars] == [(f.label, f.colour) for f in expected]
    per_class = plots.per_class_data(task)
    assert [(s.label, s.colour) for s in per_class] == [(f.label, f.colour) for f in expected]
    assert per_class[1].values == tuple(
        next(r for r in task.rows if r.run == "a").per_class_f1[c] for c in CLASSES)
    assert sorted(task.by_layer) == ["logreg on tf_efficientnet_lite0, pretrained (bundled)",
                                     "logreg on tf_efficientnet_lite0, random"]
    layers, lines = plots.layer_data(task, {"logreg on tf_efficientnet_lite0, "
                                            "pretrained (bundled)": "pretrained",
                                            "logreg on tf_efficientnet_lite0, random": "random"},
                                     ["bn2"])
    assert layers == ["bn2"]
    assert [(s.colour, s.linestyle) for s in lines] == [
        (family(k).colour, family(k).linestyle) for k in ("pretrained", "random")]
    assert lines[0].linestyle != lines[1].linestyle
    md = (tmp_path / "report" / "report.md").read_text()
    positions = [md.index(f"| {f.label} |") for f in expected]
    assert positions == sorted(positions)
    line = short_table(read_report(tmp_path / "report" / "report.json"))[0]
    assert line.index("fine-tuned") < line.index("frozen pretrained") < line.index("random-init")


def test_run_names_are_escaped(known: dict[str, Path], tmp_path: Path) -> None:
    y = [0, 1] * 20
    make_run(tmp_path / "runs" / "<script>alert(1)<" / "script>", y, y, val_score=0.1)
    make_run(tmp_path / "runs" / "pipe|name", y, y, val_score=0.2)
    compare([tmp_path / "runs"], tmp_path / "report")
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/<wbr>script&gt;" in page
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| pipe\\|name |" in md
