"""Repeated evaluation: k folds and repeats of a split, runs per seed, and compare's
aggregation over splits and seeds (mean, sd, pooled interval, per-split paired gaps)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t as student_t
from sklearn.metrics import balanced_accuracy_score
from typer.testing import CliRunner

from emofeat.cli.main import app
from emofeat.errors import EmofeatError
from emofeat.report import compare, read_report
from emofeat.report.model import REPORT_JSON
from emofeat.report.repeats import nadeau_bengio
from emofeat.resampling import make_folds, make_repeats, parse_seeds
from emofeat.runs import (
    FeatureRun,
    FeaturesRecord,
    FinetuneRun,
    Predictions,
    SearchRecord,
    finish_run,
    model_file_entry,
    prepare_run_dir,
)
from emofeat.splits import read_split
from emofeat.store import StoredLayer

from .test_experiment import TINY
from .test_splits import manifest_of

runner = CliRunner()
CLASSES = ("negative", "positive")


# ------------------------------------------------------------------------------ splits


def test_folds_partition_the_images_and_repeat_byte_for_byte() -> None:
    m = manifest_of({"awe": 23, "fear": 11, "sadness": 17})
    folds = make_folds(m, 5, seed=3, val_fraction=0.1)
    assert len(folds) == 5
    tests = [set(f.ids("test")) for f in folds]
    assert sorted(i for t in tests for i in t) == sorted(m.ids)  # each image in one test fold
    assert sum(len(t) for t in tests) == len(m.ids)
    for f in folds:  # stratified: every class in every test fold; val carved from the rest
        by = Counter((lab, f.assignment[i]) for i, lab in zip(m.ids, m.labels, strict=True))
        assert all(by[lab, "test"] >= 2 for lab in ("awe", "fear", "sadness"))
        assert by["awe", "val"] == 2 and by["fear", "val"] == 1
        assert set(f.assignment) == set(m.ids)
    again = make_folds(manifest_of({"awe": 23, "fear": 11, "sadness": 17}, reverse=True), 5,
                       seed=3, val_fraction=0.1)
    assert [f.to_csv_bytes() for f in folds] == [f.to_csv_bytes() for f in again]
    other = make_folds(m, 5, seed=4, val_fraction=0.1)
    assert [f.sha256 for f in other] != [f.sha256 for f in folds]
    assert len({f.sha256 for f in folds}) == 5


def test_repeats_and_bad_requests() -> None:
    m = manifest_of({"awe": 20, "fear": 20})
    reps = make_repeats(m, 3, seed=1, fractions=(0.7, 0.1, 0.2))
    assert len({r.sha256 for r in reps}) == 3
    assert all(r.counts() == {"train": 28, "val": 4, "test": 8} for r in reps)
    with pytest.raises(EmofeatError, match="at least 2"):
        make_folds(m, 1)
    with pytest.raises(EmofeatError, match="smallest class has 3"):
        make_folds(manifest_of({"awe": 20, "fear": 3}), 4)
    with pytest.raises(EmofeatError, match="distinct"):
        parse_seeds("1,1")
    assert parse_seeds("0, 2,5") == [0, 2, 5]
    for bad in ("1.5", [1.5], [True], "x"):  # never rounded or read as 1
        with pytest.raises(EmofeatError, match="integers like 0,1,2"):
            parse_seeds(bad)


def test_cli_data_split_folds(tiny_demo: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "split", str(tiny_demo), "--folds", "3", "--out",
                                 str(tmp_path / "folds")])
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "folds").glob("*.csv"))
    assert [f.name for f in files] == ["fold-1.csv", "fold-2.csv", "fold-3.csv"]
    assert [p.name for p in (tmp_path / "folds").iterdir() if p.is_dir()] == []  # no staging
    tests = [set(read_split(f).ids("test")) for f in files]
    assert sum(len(t) for t in tests) == len(set().union(*tests)) == 80
    assert all(read_split(f).sha256[:12] in result.stdout for f in files)
    bad = runner.invoke(app, ["data", "split", str(tiny_demo), "--folds", "3", "--repeats",
                              "2", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "not both" in bad.stderr


# ------------------------------------------------------------------- compare over repeats


def make_run(run_dir: Path, ids: list[str], y_true: np.ndarray, y_pred: np.ndarray, *,
             split: str, seed: int = 0, kind: str = "classical", weights: str = "bundled",
             val: float = 0.5) -> Path:
    """A run whose test predictions are the ones given (on the given test ids)."""
    n = len(ids)
    prepare_run_dir(run_dir)
    (run_dir / "model.skops").write_bytes(b"stand-in model file")
    common = {"model_summary": "m", "task": "valence", "splits_sha256": split,
              "n": {"train": 4 * n, "val": n // 2, "test": n}, "score_kind": "probability",
              "timings": {}, "model_files": (model_file_entry(run_dir, "model.skops"),)}
    if kind == "finetune":
        record = FinetuneRun(
            **common, hyperparameters={"seed": seed, "epochs": 3}, model="lite0",
            layer="finetuned", manifest_sha256="c" * 64, dataset_format="folder",
            weights={"source": "bundled"}, data_config={}, best_epoch=1,
            history=({"val_balanced_accuracy": val},), failed=(), stopped_early=False,
            device="cpu")
    else:
        features = FeaturesRecord(
            store="/s", store_sha256="b" * 64, backbone="lite0", weights={"source": weights},
            manifest_sha256="c" * 64, dataset_format="folder", data_config={},
            layers=(StoredLayer("bn2", 8, 8, 32),), layer_order=("bn2",),
            store_layers=("bn2",), pooling="avg", precision="fp32", dtype="float32")
        record = FeatureRun(
            **common, kind=kind, model="logreg", layer="bn2", features=features,
            options={"seed": seed}, hyperparameters={},
            search=SearchRecord("balanced_accuracy", {}, ({"val_balanced_accuracy": val},)),
            refit_on=("train", "val"))
    scores = np.stack([1.0 - y_pred, y_pred.astype(float)], axis=1)
    finish_run(run_dir, record, Predictions(ids, ["test"] * n, y_true, y_pred, scores, CLASSES))
    return run_dir


@pytest.fixture
def folds3(tmp_path: Path) -> Path:
    """3 folds of 30 test images each: frozen pretrained, frozen random, and fine-tuned with
    seeds 0 and 1; predictions drawn at random with different accuracies."""
    rng = np.random.default_rng(7)
    root = tmp_path / "runs"
    for k in range(3):
        ids = [f"img{30 * k + i:03d}.jpg" for i in range(30)]
        y = np.array([0, 1] * 15)
        split = f"{k}" * 64

        def noisy(p: float) -> np.ndarray:
            return np.where(rng.random(30) < p, y, 1 - y)  # noqa: B023

        fold = root / f"fold-{k + 1}"
        make_run(fold / "pre", ids, y, noisy(0.8), split=split, val=0.8)
        make_run(fold / "rand", ids, y, noisy(0.6), split=split, weights="random", val=0.6)
        for s in (0, 1):
            make_run(fold / "ft" / f"seed-{s}", ids, y, noisy(0.85), split=split, seed=s,
                     kind="finetune", val=0.85)
    return root


def _ba(run: Path) -> float:
    rows = [line.split(",") for line in (run / "predictions.csv").read_text().splitlines()[1:]]
    return balanced_accuracy_score([r[2] for r in rows], [r[3] for r in rows])


def test_aggregates_equal_a_recomputation_from_predictions(folds3: Path, tmp_path: Path
                                                            ) -> None:
    report = compare([folds3], tmp_path / "rep")
    rep = report["repeats"]
    assert list(rep["splits"]) == ["fold-1", "fold-2", "fold-3"]
    configs = {c["family"]: c for c in rep["tasks"]["valence"]["configs"]}
    ft = configs["finetune"]
    assert ft["seeds"] == [0, 1] and len(ft["runs"]) == 6
    per_run = {k: [_ba(folds3 / f"fold-{k}" / "ft" / f"seed-{s}") for s in (0, 1)]
               for k in (1, 2, 3)}
    values = [v for vs in per_run.values() for v in vs]
    agg = ft["metrics"]["balanced_accuracy"]
    assert agg["mean"] == pytest.approx(np.mean(values), abs=3e-6)
    assert agg["sd"] == pytest.approx(np.std(values, ddof=1), abs=3e-6)
    assert agg["sd_splits"] == pytest.approx(
        np.std([np.mean(v) for v in per_run.values()], ddof=1), abs=3e-6)
    within = sum((v[0] - v[1]) ** 2 / 2 for v in per_run.values()) / 3
    assert agg["sd_seeds"] == pytest.approx(np.sqrt(within), abs=3e-6)
    pre = configs["pretrained"]["metrics"]["balanced_accuracy"]
    pre_values = [_ba(folds3 / f"fold-{k}" / "pre") for k in (1, 2, 3)]
    assert pre["mean"] == pytest.approx(np.mean(pre_values), abs=3e-6)
    assert pre["sd_seeds"] is None
    # pooled: the three folds' test predictions together (each image once)
    rows = [line.split(",") for k in (1, 2, 3)
            for line in (folds3 / f"fold-{k}" / "pre" / "predictions.csv").read_text()
            .splitlines()[1:]]
    pooled = balanced_accuracy_score([r[2] for r in rows], [r[3] for r in rows])
    assert pre["pooled"] == pytest.approx(pooled, abs=3e-6)
    assert pre["pooled_ci"][0] < pooled < pre["pooled_ci"][1]
    # the terminal summary carries the same mean ± sd per family
    line = next(x for x in report["summary_lines"] if x.startswith("valence over 3 split(s)"))
    assert f"fine-tuned {agg['mean']:.3f} ± {agg['sd']:.3f}" in line
    assert f"frozen pretrained features {pre['mean']:.3f} ± {pre['sd']:.3f}" in line
    assert any(x.startswith("valence (fold-1 only): ") for x in report["summary_lines"])
    # report.json reads back (typed) and writes the same bytes
    path = tmp_path / "rep" / "report.json"
    assert REPORT_JSON.dump(read_report(path)) == json.loads(path.read_text())


def test_paired_gaps_are_made_per_fold(folds3: Path, tmp_path: Path) -> None:
    report = compare([folds3], tmp_path / "rep")
    gaps = {g["a"] + "-" + g["b"]: g for g in report["repeats"]["tasks"]["valence"]["gaps"]}
    g = gaps["finetune-pretrained"]
    task = report["repeats"]["tasks"]["valence"]
    for gap in gaps.values():  # the summary's chosen configurations are the gaps' ones
        for side in ("a", "b"):
            c = task["configs"][task["chosen"][gap[side]]]
            assert f"{c['classifier']} · {c['features']}" == gap[f"{side}_config"]
    expected = {f"fold-{k}": np.mean([_ba(folds3 / f"fold-{k}" / "ft" / f"seed-{s}")
                                      for s in (0, 1)]) - _ba(folds3 / f"fold-{k}" / "pre")
                for k in (1, 2, 3)}
    assert g["per_split"] == pytest.approx(expected, abs=3e-6)
    d = np.array(list(expected.values()))
    assert g["mean_gap"] == pytest.approx(d.mean(), abs=3e-6)
    assert g["agree"] == int(np.sum(np.sign(d) == np.sign(d.mean())))
    ratio = 30 / (120 + 15)
    d = np.array(list(g["per_split"].values()))  # the t-test is of the gaps reported
    t = d.mean() / np.sqrt((1 / 3 + ratio) * d.var(ddof=1))
    assert g["t"] == pytest.approx(t, abs=1e-5)
    assert g["p_value"] == pytest.approx(2 * student_t.sf(abs(t), 2), rel=1e-5)
    # the per-run tables hold one fold only: never runs of two folds in one paired test
    rows = report["tasks"]["valence"]["rows"]
    assert len(rows) == 4 and all(r["run"].startswith("fold-1/") for r in rows)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Which uncertainty each number carries" in md and "sd between seeds" in md
    assert "Nadeau" in (tmp_path / "rep" / "report.html").read_text()


def test_nadeau_bengio_needs_two_splits_and_spread() -> None:
    assert nadeau_bengio([0.1], 0.25) == (None, None)
    assert nadeau_bengio([0.1, 0.1], 0.25) == (None, None)
    t, p = nadeau_bengio([0.1, 0.2, 0.15], 0.25)
    assert t == pytest.approx(0.15 / np.sqrt((1 / 3 + 0.25) * 0.0025), abs=3e-6)
    assert 0 < p < 1


def test_folds_missing_a_configuration_are_refused(folds3: Path, tmp_path: Path) -> None:
    import shutil

    shutil.rmtree(folds3 / "fold-2" / "rand")
    with pytest.raises(EmofeatError, match=r"different splits.*same configurations"):
        compare([folds3], tmp_path / "rep")


def test_splits_are_ordered_by_their_numbers() -> None:
    from emofeat.report.repeats import natural_key

    names = ["fold-10/pre", "fold-2/pre", "fold-1/pre", "fold-1/ft/seed-10", "fold-1/ft/seed-2"]
    assert sorted(names, key=natural_key) == [
        "fold-1/ft/seed-2", "fold-1/ft/seed-10", "fold-1/pre", "fold-2/pre", "fold-10/pre"]


def test_single_split_report_has_no_repeats(folds3: Path, tmp_path: Path) -> None:
    report = compare([folds3 / "fold-1" / "pre", folds3 / "fold-1" / "rand"], tmp_path / "r")
    assert "repeats" not in report
    assert not any(" over " in line for line in report["summary_lines"])
    assert "repeats" not in json.loads((tmp_path / "r" / "report.json").read_text())


# ------------------------------------------------------------- one store, several folds


def test_fit_with_splits_of_another_fold_equals_a_store_of_that_fold(
        small_demo: Path, tmp_path: Path, one_thread: None) -> None:
    from emofeat.datasets import load_manifest
    from emofeat.extract import ExtractConfig, extract
    from emofeat.resampling import write_splits
    from emofeat.runs import Run

    manifest = load_manifest(small_demo)
    paths = write_splits(make_folds(manifest, 3, seed=0, val_fraction=0.2), "folds",
                         tmp_path / "folds")
    config = ExtractConfig(backbone="tf_efficientnet_lite0", weights="random", layers=["bn2"],
                           workers=0, batch_size=8)
    one = extract(manifest, tmp_path / "s1", config, split=read_split(paths[0], manifest))
    two = extract(manifest, tmp_path / "s2", config, split=read_split(paths[1], manifest))
    common = ["--model", "svm", "--task", "valence", "--layer", "bn2", "--jobs", "1"]
    result = runner.invoke(app, ["fit", str(one), "--splits", str(paths[1]), "--seeds", "0,1",
                                 "--out", str(tmp_path / "via-splits"), *common])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["fit", str(two), "--out", str(tmp_path / "own"), *common])
    assert result.exit_code == 0, result.output
    via, own = tmp_path / "via-splits" / "seed-0", tmp_path / "own"
    for name in ("predictions.csv", "metrics.json"):
        assert (via / name).read_bytes() == (own / name).read_bytes()
    a, b = Run.open(via).record, Run.open(own).record
    assert a.splits_sha256 == b.splits_sha256 == read_split(paths[1]).sha256
    untimed = [[{k: v for k, v in row.items() if k != "fit_seconds"} for row in r.search.table]
               for r in (a, b)]
    assert a.hyperparameters == b.hyperparameters and untimed[0] == untimed[1]
    assert Run.open(tmp_path / "via-splits" / "seed-1").record.options["seed"] == 1
    both = runner.invoke(app, ["fit", str(one), "--seed", "3", "--seeds", "0,1", "--out",
                               str(tmp_path / "x"), *common])
    assert both.exit_code == 2 and "not both" in both.stderr


def test_finetune_seeds_make_one_run_each(tiny_demo: Path, tmp_path: Path) -> None:
    from emofeat.runs import Run

    result = runner.invoke(app, ["finetune", str(tiny_demo), "--out", str(tmp_path / "ft"),
                                 "--seeds", "0,1", "--weights", "random", "--img-size", "32",
                                 "--epochs", "1", "--workers", "0", "--task", "valence",
                                 "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    records = [Run.open(tmp_path / "ft" / f"seed-{s}").record for s in (0, 1)]
    assert [r.hyperparameters["seed"] for r in records] == [0, 1]
    report = compare([tmp_path / "ft"], tmp_path / "rep")
    (config,) = report["repeats"]["tasks"]["valence"]["configs"]
    assert config["seeds"] == [0, 1] and config["splits"] == ["split 1"]
    assert report["warnings"] == []


# ------------------------------------------------------------------- emofeat run, repeated

# TINY of test_experiment, smaller, with 2 folds, 2 fine-tuning seeds and no colour baseline
FOLDS = (TINY.replace("demo_per_class = 6\ndemo_size = 48", "demo_per_class = 4\ndemo_size = 32")
         .replace("[split]\n", "[split]\nfolds = 2\n")
         .replace('layers = ["blocks.6", "bn2"]', 'layers = ["bn2"]')
         .replace("workers = 0\n\n[baselines]", "workers = 0\nseeds = [0, 1]\n\n[baselines]")
         .replace('colour_models = ["logreg"]', "colour = false"))


def test_run_with_folds_and_seeds_resumes_each_step(tmp_path: Path) -> None:
    from emofeat.experiment import run_experiment

    config = tmp_path / "exp.toml"
    config.write_text(FOLDS)
    out = tmp_path / "out"
    report = run_experiment(config, out)
    runs = sorted(p.parent.relative_to(out / "runs").as_posix()
                  for p in (out / "runs").rglob("run.json"))
    assert runs == [f"fold-{k}/{r}" for k in (1, 2) for r in (
        "baselines/majority-valence", "finetune-valence/seed-0", "finetune-valence/seed-1",
        "lite0-random/logreg-valence-bn2")]
    assert sorted(p.name for p in (out / "stores").iterdir()) == ["lite0-random"]  # once
    assert (out / "splits.csv").read_bytes() == (out / "splits" / "fold-1.csv").read_bytes()
    rep = report["repeats"]
    assert list(rep["splits"]) == ["fold-1", "fold-2"]
    ft = next(c for c in rep["tasks"]["valence"]["configs"] if c["family"] == "finetune")
    assert ft["seeds"] == [0, 1] and ft["splits"] == ["fold-1", "fold-2"]
    assert report["warnings"] == []  # folds and seeds are what differs, not a setting
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("run.json")}
    redo = out / "runs" / "fold-2" / "finetune-valence" / "seed-1" / "run.json"
    redo.unlink()
    said: list[str] = []
    run_experiment(config, out, announce=said.append)
    assert redo.is_file()
    assert {p: p.stat().st_mtime_ns for p in stamps if p != redo} == \
        {p: s for p, s in stamps.items() if p != redo}
    assert [line for line in said if line.startswith("finetune ")] == [
        "finetune valence: complete, skipped"] * 3 + [
        "finetune tf_efficientnet_lite0 for valence (seed 1)"]


@pytest.mark.parametrize(("change", "message"), [
    ("folds = 2\nrepeats = 2", "[split]: give folds or repeats, not both"),
    ("folds = 1", "[split]: folds must be at least 2"),
    ("folds = 2\nfile = \"s.csv\"", "[split]: folds makes its own splits"),
])
def test_bad_repeat_configs(tmp_path: Path, change: str, message: str) -> None:
    from emofeat.experiment import load_config

    config = tmp_path / "exp.toml"
    config.write_text(FOLDS.replace("folds = 2", change))
    with pytest.raises(EmofeatError) as info:
        load_config(config)
    assert message in str(info.value)
    config.write_text(FOLDS.replace("seeds = [0, 1]", "seeds = [1, 1]"))
    with pytest.raises(EmofeatError, match="seeds must be distinct"):
        load_config(config)
    config.write_text(FOLDS.replace("seeds = [0, 1]", "seeds = [0, 1]\nseed = 3"))
    with pytest.raises(EmofeatError, match="give seed or seeds, not both"):
        load_config(config)


def test_bundled_repeats_demo_parses() -> None:
    from emofeat.experiment import bundled_config, load_config

    demo, repeated = (load_config(bundled_config(n)) for n in ("demo", "demo-repeats"))
    assert repeated.split.folds == 3 and repeated.finetune.seeds == [0, 1]
    assert repeated.data == demo.data  # the same synthetic images as `emofeat demo`
    assert demo.split.folds is None and demo.finetune.seeds is None  # the default: as before
