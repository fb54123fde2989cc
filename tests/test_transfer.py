"""Cross-dataset transfer: emofeat evaluate, the label mapping table, the matrix in compare."""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import balanced_accuracy_score
from typer.testing import CliRunner

from emofeat.classical import FitOptions
from emofeat.classical.run import fit_all
from emofeat.cli.main import app
from emofeat.datasets import load_manifest
from emofeat.demo import DemoSpec, make_demo
from emofeat.errors import EmofeatError
from emofeat.extract import ExtractConfig, extract
from emofeat.report import compare
from emofeat.runs import Run
from emofeat.store import Store
from emofeat.taxonomy import EMOTIONS, VALENCE_CLASSES
from emofeat.transfer import UnmappableTask, evaluate, feature_differences, map_label, map_labels
from emofeat.transfer.evaluation import numeric_differences

runner = CliRunner()
TASKS = ("valence", "emotion8")


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def domain_b(tmp_path_factory) -> Path:
    """The second synthetic domain, as small as the tiny demo set."""
    return make_demo(tmp_path_factory.mktemp("b") / "data",
                     DemoSpec(seed=0, per_class=10, size=48, domain="b"))


@pytest.fixture(scope="module")
def store_b(domain_b: Path, tmp_path_factory) -> Path:
    """Made like ``demo_store`` (conftest), from domain b."""
    config = ExtractConfig(backbone="tf_efficientnet_lite0", weights="bundled",
                           layers=["blocks.6", "bn2"], workers=0, batch_size=16, shard_size=40)
    return extract(load_manifest(domain_b), tmp_path_factory.mktemp("sb") / "lite0", config)


@pytest.fixture(scope="module")
def runs_a(demo_store: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ra") / "runs"
    fit_all(demo_store, ["logreg"], TASKS, ["bn2"], out, options=FitOptions(jobs=1))
    return out


@pytest.fixture(scope="module")
def runs_b(store_b: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rb") / "runs"
    fit_all(store_b, ["logreg"], TASKS, ["bn2"], out, options=FitOptions(jobs=1))
    return out


# ------------------------------------------------------------------ own test split


@pytest.mark.parametrize("task", TASKS)
def test_own_test_split_reproduces_the_runs_test_metrics(runs_a: Path, demo_store: Path,
                                                        tmp_path: Path, task: str) -> None:
    run = Run.open(runs_a / f"logreg-{task}-bn2")
    record = evaluate(run.path, demo_store, tmp_path / "e", split="test")
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics == {"test": run.metrics()["test"]}
    assert record.n == run.metrics()["test"]["n"] and record.features == "store"
    assert record.source.manifest_sha256 == record.target.manifest_sha256
    assert record.split == "test" and record.target.splits_sha256 == run.record.splits_sha256
    theirs = run.predictions().select("test")
    rows = _rows(tmp_path / "e" / "predictions.csv")
    assert [r["y_pred"] for r in rows] == [theirs.classes[i] for i in theirs.y_pred]
    assert {r["split"] for r in rows} == {"test"}


def test_a_finetuned_run_from_the_images_reproduces_its_test_metrics(
        tiny_demo: Path, demo_store: Path, tmp_path: Path) -> None:
    from emofeat.finetune import FinetuneConfig, finetune

    manifest = load_manifest(tiny_demo)
    split = Store.open(demo_store).split()
    run_dir = tmp_path / "ft"
    finetune(manifest, split, run_dir, FinetuneConfig(
        weights="random", task="valence", epochs=1, batch_size=16, img_size=32, workers=0,
        device="cpu"))
    result = cli("evaluate", run_dir, tiny_demo, "--split", "test", "--splits",
                 demo_store / "splits.csv", "--out", tmp_path / "e", "--device", "cpu")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics == {"test": Run.open(run_dir).metrics()["test"]}
    record = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert record["features"] == "images" and record["format"] == "emofeat-evaluation"
    result = cli("evaluate", run_dir, demo_store, "--out", tmp_path / "s")
    assert result.exit_code == 2 and "needs the target's images" in result.output


# ------------------------------------------------------------------ stores that differ


@pytest.mark.parametrize("field,value,named", [
    ("backbone", "resnet18", "backbone"),
    ("weights", {"requested": "random", "source": "random", "seed": 0}, "weights"),
    ("layers", (), "layer bn2"),
    ("pooling", "max", "pooling"),
])
def test_a_store_made_otherwise_is_refused(runs_a: Path, demo_store: Path, field: str,
                                           value: object, named: str) -> None:
    run = Run.open(runs_a / "logreg-valence-bn2")
    store = Store.open(demo_store)
    assert feature_differences(run.record, store) == []
    other = Store(store.path, replace(store.record, **{field: value}))
    diffs = feature_differences(run.record, other)
    assert len(diffs) == 1 and diffs[0].startswith(named)


def test_a_store_with_other_prefix_tokens_is_refused_and_precision_only_warned(
        runs_a: Path, demo_store: Path) -> None:
    run = Run.open(runs_a / "logreg-valence-bn2")
    store = Store.open(demo_store)
    tokens = Store(store.path, replace(store.record, prefix_tokens=1))
    assert feature_differences(run.record, tokens) == [
        "prefix tokens left out of pooling: run None, store 1"]
    bf16 = Store(store.path, replace(store.record, precision="bf16"))
    assert feature_differences(run.record, bf16) == []
    assert numeric_differences(run.record, bf16) == [
        f"precision: run {run.record.features.precision}, store bf16"]


def test_the_runs_own_data_is_scored_on_its_own_test_split_only(
        runs_a: Path, demo_store: Path, tmp_path: Path) -> None:
    run = runs_a / "logreg-valence-bn2"
    evaluate(run, demo_store, tmp_path / "e", split="test")
    before = (tmp_path / "e" / "eval.json").read_bytes()
    for args in (("--split", "all"), ("--split", "all", "--overwrite")):
        result = cli("evaluate", run, demo_store, "--out", tmp_path / "e", *args)
        assert result.exit_code == 2 and "the data set" in result.output
        assert "trained on" in result.output and "--split test" in result.output
    # a refused command leaves the complete evaluation as it was
    assert (tmp_path / "e" / "eval.json").read_bytes() == before


def test_a_store_of_other_weights_is_refused_before_anything_is_written(
        runs_a: Path, small_store: Path, demo_store: Path, tmp_path: Path) -> None:
    # small_store: the same backbone and layer, but random weights
    result = cli("evaluate", runs_a / "logreg-valence-bn2", small_store, "--out", tmp_path / "e")
    assert result.exit_code == 2
    assert "weights: run" in result.output and "cannot be used" in result.output
    assert not (tmp_path / "e" / "eval.json").exists()
    # nor is a complete evaluation already there touched, even with --overwrite
    done = tmp_path / "done"
    evaluate(runs_a / "logreg-valence-bn2", demo_store, done, split="test")
    before = (done / "eval.json").read_bytes()
    result = cli("evaluate", runs_a / "logreg-valence-bn2", small_store, "--out", done,
                 "--overwrite")
    assert result.exit_code == 2 and (done / "eval.json").read_bytes() == before


# ------------------------------------------------------------------ the mapping table

MIKELS_VALENCE = {"amusement": "positive", "awe": "positive", "contentment": "positive",
                  "excitement": "positive", "anger": "negative", "disgust": "negative",
                  "fear": "negative", "sadness": "negative"}


@pytest.mark.parametrize("fmt", ["folder", "csv", "demo", "emoset", "artphoto", "abstract"])
@pytest.mark.parametrize("label", sorted(MIKELS_VALENCE))
def test_mikels_classes_map_to_themselves_and_their_valence(fmt: str, label: str) -> None:
    assert map_label(fmt, label, "emotion8", EMOTIONS) == (label, "")
    assert map_label(fmt, label, "valence", VALENCE_CLASSES) == (MIKELS_VALENCE[label], "")


@pytest.mark.parametrize("label,emotion8", [
    ("anger", "anger"), ("disgust", "disgust"), ("fear", "fear"), ("sadness", "sadness"),
    ("joy", None), ("surprise", None)])
def test_emotion6_classes(label: str, emotion8: str | None) -> None:
    cls, why = map_label("emotion6", label, "emotion8", EMOTIONS)
    assert cls == emotion8 and bool(why) == (emotion8 is None)
    # valence comes from the 1-9 rating, by the midpoint 5, whatever the class
    assert map_label("emotion6", label, "valence", VALENCE_CLASSES, 5.5)[0] == "positive"
    assert map_label("emotion6", label, "valence", VALENCE_CLASSES, 4.5)[0] == "negative"
    assert map_label("emotion6", label, "valence", VALENCE_CLASSES, 5.0)[0] is None


@pytest.mark.parametrize("fmt", ["twitter1", "folder"])
@pytest.mark.parametrize("label", ["positive", "negative"])
def test_binary_labels_are_valence_only(fmt: str, label: str) -> None:
    assert map_label(fmt, label, "valence", VALENCE_CLASSES) == (label, "")
    cls, why = map_label(fmt, label, "emotion8", EMOTIONS)
    assert cls is None and "only valence" in why


def test_oasis_valence_by_its_midpoint_4() -> None:
    for rating, expected in ((4.01, "positive"), (3.99, "negative"), (4.0, None),
                             (math.nan, None)):
        assert map_label("oasis", "positive", "valence", VALENCE_CLASSES, rating)[0] == expected
    assert map_label("oasis", "negative", "emotion8", EMOTIONS)[0] is None


def test_label_runs_map_identical_names_and_binary_ones_by_valence() -> None:
    six = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
    assert map_label("emoset", "fear", "identical", six) == ("fear", "")
    assert map_label("emoset", "awe", "identical", six)[0] is None
    mapped = map_labels("artphoto", ["awe", "fear"], "label", VALENCE_CLASSES)
    assert mapped.index == (1, 0)


def test_unmapped_images_are_counted_and_an_unmappable_task_refused() -> None:
    mapped = map_labels("emotion6", ["anger", "joy", "surprise", "joy"], "emotion8", EMOTIONS)
    assert mapped.index == (1, None, None, None)
    assert sorted(mapped.unmapped.values()) == [1, 2]
    with pytest.raises(UnmappableTask, match="only valence"):
        map_labels("twitter1", ["positive", "negative"], "emotion8", EMOTIONS)
    with pytest.raises(UnmappableTask, match="rating task"):
        map_labels("emotion6", ["joy"], "valence_score", ())
    with pytest.raises(UnmappableTask, match="valence ratings"):
        map_labels("emotion6", ["joy"], "valence", VALENCE_CLASSES)


def test_cli_refuses_a_task_the_target_cannot_map(runs_a: Path, tmp_path: Path) -> None:
    for label in ("positive", "negative"):
        (tmp_path / "tw" / label).mkdir(parents=True)
        Image.new("RGB", (40, 40), (200, 30, 30)).save(tmp_path / "tw" / label / "0.png")
    result = cli("evaluate", runs_a / "logreg-emotion8-bn2", tmp_path / "tw", "--out",
                 tmp_path / "e", "--device", "cpu")
    assert result.exit_code == 2 and "cannot be mapped" in result.output
    assert "only valence is annotated" in result.output


# ------------------------------------------------------------------ the 2x2 matrix


@pytest.fixture(scope="module")
def crossed(runs_a: Path, runs_b: Path, demo_store: Path, store_b: Path, tmp_path_factory
            ) -> Path:
    evals = tmp_path_factory.mktemp("evals")
    for task in TASKS:
        evaluate(runs_a / f"logreg-{task}-bn2", store_b, evals / f"a-on-b-{task}", split="test")
        evaluate(runs_b / f"logreg-{task}-bn2", demo_store, evals / f"b-on-a-{task}",
                 split="test")
    return evals


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _ba(path: Path, split: str | None = None) -> float:
    rows = [r for r in _rows(path) if split is None or r["split"] == split]
    return balanced_accuracy_score([r["y_true"] for r in rows], [r["y_pred"] for r in rows])


def test_a_2x2_matrix_has_the_cells_of_the_predictions(runs_a: Path, runs_b: Path,
                                                       crossed: Path, tmp_path: Path) -> None:
    result = compare([runs_a, crossed], tmp_path / "report")
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert set(report["cross"]) == set(TASKS)
    for task in TASKS:
        m = report["cross"][task]
        assert m["datasets"] == ["synthetic-a", "synthetic-b"] and m["synthetic"]
        rows = {r["trained_on"]: r for r in m["rows"]}
        own = {"synthetic-a": runs_a, "synthetic-b": runs_b}
        for src, runs in own.items():
            diag = _ba(runs / f"logreg-{task}-bn2" / "predictions.csv", "test")
            cells = rows[src]["cells"]
            assert cells[src]["in_domain"] and cells[src]["balanced_accuracy"] == \
                pytest.approx(diag, abs=1e-6)
            other = "synthetic-b" if src == "synthetic-a" else "synthetic-a"
            name = f"{src[-1]}-on-{other[-1]}-{task}"
            cell = cells[other]
            assert cell["balanced_accuracy"] == pytest.approx(
                _ba(crossed / name / "predictions.csv"), abs=1e-6)
            assert cell["drop"] == pytest.approx(diag - cell["balanced_accuracy"], abs=2e-6)
            assert cell["ci"][0] <= cell["balanced_accuracy"] <= cell["ci"][1]
            assert cell["n"] == 16 and not cell["in_domain"]
        # the row's run carries its name in the report and its family
        assert rows["synthetic-a"]["run"] == f"logreg-{task}-bn2"
        assert rows["synthetic-a"]["family"] in ("pretrained", "random")
    assert any("across data sets (SYNTHETIC)" in line for line in result["summary_lines"])
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Across data sets: task `valence` (SYNTHETIC)" in md and "(in-domain, test)" in md
    assert "(test images), drop" in md or "(test images), gain" in md
    assert "Across data sets" in (tmp_path / "report" / "report.html").read_text()


def test_a_run_evaluated_twice_on_one_target_uses_its_test_split_and_says_so(
        runs_a: Path, runs_b: Path, crossed: Path, store_b: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    extra = tmp_path / "all-images"
    evaluate(runs_a / "logreg-valence-bn2", store_b, extra / "a-on-b-all", split="all")
    with caplog.at_level(logging.WARNING):
        report = compare([runs_a, crossed, extra], tmp_path / "report")
    assert "evaluated more than once" in caplog.text and "a-on-b-all" in caplog.text
    row = next(r for r in report["cross"]["valence"]["rows"] if r["trained_on"] == "synthetic-a")
    assert row["cells"]["synthetic-b"]["split"] == "test"
    assert row["cells"]["synthetic-b"]["evaluation"].endswith("a-on-b-valence")


def test_a_changed_run_invalidates_its_evaluations(runs_a: Path, crossed: Path,
                                                    tmp_path: Path) -> None:
    import shutil

    record = json.loads((crossed / "a-on-b-valence" / "eval.json").read_text())
    other = tmp_path / "e"
    shutil.copytree(crossed / "a-on-b-valence", other)
    record["run_sha256"] = "0" * 64
    (other / "eval.json").write_text(json.dumps(record))
    with pytest.raises(EmofeatError, match="changed since it was evaluated"):
        compare([runs_a, other], tmp_path / "report")


def test_an_evaluation_resumes_and_refuses_to_replace_itself(runs_a: Path, store_b: Path,
                                                             tmp_path: Path) -> None:
    run = runs_a / "logreg-valence-bn2"
    first = evaluate(run, store_b, tmp_path / "e")
    assert first.split == "all" and first.n == 80
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert set(metrics) == {"all", "train", "val", "test"}
    assert evaluate(run, store_b, tmp_path / "e", reuse=True) == first
    with pytest.raises(EmofeatError, match="already holds a complete evaluation"):
        evaluate(run, store_b, tmp_path / "e")
    assert np.isclose(metrics["all"]["balanced_accuracy"],
                      _ba(tmp_path / "e" / "predictions.csv"), atol=1e-6)


def test_a_given_splits_file_decides_the_test_images(runs_a: Path, store_b: Path,
                                                     tmp_path: Path) -> None:
    from emofeat.splits import Split, write_split

    ids = Store.open(store_b).ids
    split = Split({k: "test" if i % 4 == 0 else "train" for i, k in enumerate(ids)})
    write_split(split, tmp_path / "splits.csv")
    record = evaluate(runs_a / "logreg-valence-bn2", store_b, tmp_path / "e", split="test",
                      splits_file=tmp_path / "splits.csv")
    assert record.n == len(split.ids("test")) == 20
    assert record.target.splits_sha256 == split.sha256
    assert {r["id"] for r in _rows(tmp_path / "e" / "predictions.csv")} == set(split.ids("test"))


def test_domain_b_is_another_data_set_and_domain_a_is_unchanged(tiny_demo: Path,
                                                                domain_b: Path) -> None:
    from emofeat.datasets.folder import DEMO_MARKER
    from emofeat.transfer.record import dataset_name

    a, b = load_manifest(tiny_demo), load_manifest(domain_b)
    assert a.labels == b.labels and a.sha256 != b.sha256 and not set(a.ids) & set(b.ids)
    assert "domain" not in json.loads((tiny_demo / DEMO_MARKER).read_text())
    assert (dataset_name("demo", tiny_demo), dataset_name("demo", domain_b)) == (
        "synthetic-a", "synthetic-b")
    pixels = [np.asarray(Image.open(m.paths[0]), dtype=float).mean(axis=(0, 1)) for m in (a, b)]
    assert not np.allclose(pixels[0], pixels[1], atol=1.0)


def test_docs_document_evaluate_the_mapping_table_and_thresholds() -> None:
    from emofeat.transfer import RATING_SCALES, TABLE

    root = Path(__file__).resolve().parent.parent
    assert "emofeat evaluate RUN DATA_OR_STORE --out EVAL_DIR" in (root / "README.md").read_text()
    page = (root / "docs" / "cross-dataset.md").read_text()
    assert "emofeat evaluate RUN DATA_OR_STORE --out EVAL_DIR" in page and "--splits" in page
    section = " ".join(page.split("## Label mapping table")[1].split("## The matrix")[0]
                       .split())
    for row in TABLE:
        assert row.label in section, f"docs/cross-dataset.md's mapping table lacks {row.label}"
    for fmt, scale in RATING_SCALES.items():
        name = {"emotion6": "Emotion6", "oasis": "OASIS"}[fmt]
        assert f"{name} rates {scale.low:g}-{scale.high:g}" in section
        assert f"midpoint {scale.midpoint:.1f}" in section


def test_a_row_takes_the_best_non_baseline_run_on_val() -> None:
    from emofeat.report.cross import row_run

    # the colour baseline scored higher on val: the row still shows the frozen-feature run
    assert row_run([("colour/logreg", True, 0.91), ("lite0/logreg", False, 0.80),
                    ("lite0/svm", False, 0.85)]) == "lite0/svm"
    assert row_run([("colour/logreg", True, 0.91), ("majority", True, 0.5)]) == "colour/logreg"


def test_two_data_sets_of_one_name_stay_two_columns() -> None:
    from types import SimpleNamespace

    from emofeat.report.cross import _names
    from emofeat.transfer.record import DatasetRef

    def ref(name: str, sha: str) -> DatasetRef:
        return DatasetRef(name=name, format="folder", manifest_sha256=sha, splits_sha256=None,
                          root=f"/data/{sha}/{name}")

    evals = [SimpleNamespace(record=SimpleNamespace(source=ref("FI", "a" * 64),
                                                    target=ref("images", sha)))
             for sha in ("b" * 64, "c" * 64)]
    assert _names(evals) == {"b" * 64: "images (bbbbbbbb)", "c" * 64: "images (cccccccc)",
                             "a" * 64: "FI"}
