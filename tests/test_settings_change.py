"""A complete run is reused only with the settings it was made with: `fit` and `finetune`
refuse naming what differs, `emofeat run` redoes it with a warning, `compare` says when runs
of one family disagree."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emofeat.classical import FitOptions
from emofeat.classical.run import fit_all
from emofeat.cli.main import app
from emofeat.datasets import load_manifest
from emofeat.errors import EmofeatError
from emofeat.experiment import run_experiment
from emofeat.finetune import FinetuneConfig, finetune
from emofeat.report import compare, read_report
from emofeat.runs import Run
from emofeat.splits import make_split

from .test_report import make_run

runner = CliRunner()
FAST = FitOptions(jobs=1)


def stamps(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("run.json")}


def test_fit_refuses_a_complete_run_made_with_other_settings(demo_store: Path,
                                                             tmp_path: Path) -> None:
    kwargs = dict(grid=["C=0.01"], nested=True)
    fit_all(demo_store, ["logreg"], ["valence", "emotion8"], ["bn2"], tmp_path, options=FAST,
            **kwargs)
    before = stamps(tmp_path)
    with pytest.raises(EmofeatError) as info:
        fit_all(demo_store, ["logreg"], ["valence", "emotion8"], ["bn2"], tmp_path,
                options=FitOptions(jobs=1, seed=1), **kwargs)
    message = str(info.value)
    assert "\n" not in message and "seed: run has 0, asked for 1" in message
    assert "--overwrite" in message
    assert stamps(tmp_path) == before  # refused before anything was fitted
    result = runner.invoke(app, ["fit", str(demo_store), "--model", "logreg", "--task",
                                 "valence,emotion8", "--layer", "bn2", "--out", str(tmp_path),
                                 "--grid", "C=0.01,0.1", "--jobs", "1"])
    assert result.exit_code == 2
    assert "grid: run has {\"C\": [0.01]}, asked for {\"C\": [0.01, 0.1]}" in result.stderr


def test_fit_skips_the_same_settings_also_in_runs_without_a_request(demo_store: Path,
                                                                   tmp_path: Path) -> None:
    seen: list[bool] = []
    kwargs = dict(options=FAST, grid=["C=0.01"], nested=True,
                  on_done=lambda d, r: seen.append(r is None))
    fit_all(demo_store, ["logreg"], ["valence"], ["bn2"], tmp_path, **kwargs)
    run_json = tmp_path / "logreg-valence-bn2" / "run.json"
    data = json.loads(run_json.read_text())
    del data["request"]  # as written by emofeat before runs recorded it
    run_json.write_text(json.dumps(data))
    fit_all(demo_store, ["logreg"], ["valence"], ["bn2"], tmp_path, **kwargs)
    assert seen == [False, True]


def test_fit_redoes_changed_runs_when_the_config_decides(demo_store: Path, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    fit_all(demo_store, ["logreg"], ["valence"], ["bn2"], tmp_path, options=FAST,
            grid=["C=0.01"], nested=True)
    with caplog.at_level(logging.WARNING):
        fit_all(demo_store, ["logreg"], ["valence"], ["bn2"], tmp_path, grid=["C=0.01"],
                options=FitOptions(jobs=1, class_weight="none"), nested=True, changed="redo")
    assert "class_weight: run has \"balanced\", asked for null" in caplog.text
    assert Run.open(tmp_path / "logreg-valence-bn2").record.options["class_weight"] is None


def test_finetune_refuses_a_complete_run_made_with_other_settings(tiny_demo: Path,
                                                                  tmp_path: Path) -> None:
    manifest = load_manifest(tiny_demo)
    split = make_split(manifest, (0.5, 0.25, 0.25))
    config = FinetuneConfig(weights="random", task="valence", epochs=1, batch_size=16,
                            img_size=32, workers=0, device="cpu")
    finetune(manifest, split, tmp_path / "ft", config)
    with pytest.raises(EmofeatError, match="already holds a complete run"):
        finetune(manifest, split, tmp_path / "ft", config)
    config.lr = 1e-3
    with pytest.raises(EmofeatError, match=r"other settings \(lr: run has 0.0005, asked for "
                                           r"0.001\); pass --overwrite"):
        finetune(manifest, split, tmp_path / "ft", config)


def test_compare_says_when_a_family_mixes_settings(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    y = [0, 1] * 10
    for name, lr in (("ft-a", 1e-3), ("ft-b", 5e-4)):
        run_dir = make_run(tmp_path / "runs" / name, y, y, kind="finetune")
        data = json.loads((run_dir / "run.json").read_text())
        data["hyperparameters"] = {"lr": lr, "epochs": 4, "task": "valence"}
        (run_dir / "run.json").write_text(json.dumps(data))
    make_run(tmp_path / "runs" / "frozen", y, y)
    with caplog.at_level(logging.WARNING):
        report = compare([tmp_path / "runs"], tmp_path / "report")
    line = "fine-tuned: runs differ in lr (0.001: ft-a; 0.0005: ft-b)"
    assert report["warnings"] == [line]
    assert line in caplog.text
    assert read_report(tmp_path / "report" / "report.json").warnings == (line,)
    assert f"- {line}" in (tmp_path / "report" / "report.md").read_text()
    assert f"<li>{line}</li>" in (tmp_path / "report" / "report.html").read_text()


def test_compare_of_agreeing_runs_has_no_warning(tmp_path: Path) -> None:
    y = [0, 1] * 10
    make_run(tmp_path / "runs" / "a", y, y)
    make_run(tmp_path / "runs" / "b", y, y, model="svm")
    report = compare([tmp_path / "runs"], tmp_path / "report")
    assert report["warnings"] == []
    assert "Warning" not in (tmp_path / "report" / "report.md").read_text()


BASELINES_ONLY = """
[data]
demo = true
demo_per_class = 6
demo_size = 48

[split]
fractions = [0.5, 0.25, 0.25]

[fit]
tasks = ["valence"]
jobs = 1

[finetune]
tasks = ["valence"]
weights = "random"
epochs = 1
img_size = 32
workers = 0

[baselines]
colour_models = ["logreg", "lightgbm"]
"""


def test_run_redoes_what_the_config_changed_and_reports_only_its_runs(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config, out = tmp_path / "exp.toml", tmp_path / "out"
    config.write_text(BASELINES_ONLY)
    run_experiment(config, out)
    majority = stamps(out / "runs" / "baselines" / "majority-valence")
    config.write_text(BASELINES_ONLY.replace("jobs = 1", "jobs = 1\nclass_weight = \"none\"")
                      .replace("epochs = 1", "epochs = 1\nlr = 1e-3")
                      .replace('["logreg", "lightgbm"]', '["logreg"]'))
    with caplog.at_level(logging.WARNING):
        report = run_experiment(config, out)
    assert "logreg-valence-colour was made with other settings (class_weight: run has " \
           "\"balanced\", asked for null)" in caplog.text
    assert "finetune-valence was made with other settings (lr: run has 0.0005, asked for " \
           "0.001)" in caplog.text
    assert stamps(out / "runs" / "baselines" / "majority-valence") == majority  # unchanged
    assert Run.open(out / "runs" / "finetune-valence").record.hyperparameters["lr"] == 1e-3
    # the lightgbm run of the earlier config stays on disk but out of the report
    assert (out / "runs" / "baselines" / "colour" / "lightgbm-valence-colour").is_dir()
    assert "not part of this config" in caplog.text
    assert sorted(r["name"] for r in report["runs"]) == [
        "baselines/colour/logreg-valence-colour", "baselines/majority-valence",
        "finetune-valence"]
