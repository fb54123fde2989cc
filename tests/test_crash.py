"""SIGKILL mid-way (as the OOM killer does), then the same command again: finished work is
kept, the interrupted part is redone, and the results equal an uninterrupted run.

The jobs are small but real; each is killed in a subprocess by ``tests/killer.py`` at the
N-th call of a library function, and rerun in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from emofeat.classical import FitOptions, load_model, scores_of
from emofeat.classical.run import fit_all
from emofeat.cli.main import app
from emofeat.experiment import run_experiment
from emofeat.runs import Run

pytestmark = pytest.mark.slow
runner = CliRunner()
KILLER = Path(__file__).with_name("killer.py")
MODELS = ["logreg", "svm", "svm-rbf", "lightgbm"]


def killed(kill_at: str, *args: str | Path, cwd: Path | None = None) -> None:
    """Run ``emofeat ARGS`` in a subprocess that SIGKILLs itself at ``kill_at``."""
    env = {**os.environ, "EMOFEAT_TEST_KILL": kill_at}
    result = subprocess.run([sys.executable, str(KILLER), *map(str, args)], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]


def model_content(path: Path) -> Any:
    """A model file's bytes; for skops files (which hold object ids and zip times) what the
    loaded model computes on some features."""
    if path.suffix != ".skops":
        return path.read_bytes()
    model = load_model({path.name: path})
    X = np.random.default_rng(0).normal(size=(5, model.n_features_in_))
    return scores_of(model, X).tolist()


def same_run(a: Path, b: Path) -> None:
    """Two run directories with the same predictions, metrics, model files and record."""
    for name in ("predictions.csv", "metrics.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), (a, name)
    ra, rb = Run.open(a).meta, Run.open(b).meta
    for entry in ra["model_files"]:
        assert model_content(a / entry["file"]) == model_content(b / entry["file"]), entry
    for meta in (ra, rb):
        del meta["timings"], meta["finished"], meta["model_files"]
        for row in meta.get("search", {}).get("table", []):
            del row["fit_seconds"]
        for row in meta.get("history", []):
            del row["train_images_per_s"]
    assert ra == rb


def test_fit_all_killed_mid_way_resumes_to_the_same_runs(demo_store: Path,
                                                         tmp_path: Path) -> None:
    args = ["fit", demo_store, "--model", "all", "--task", "valence", "--layer", "bn2",
            "--jobs", "1", "--out", tmp_path / "runs"]
    # killed in the third run (svm-rbf), after fitting, before its files are written
    killed("emofeat.classical.run:save_model:3", *args)
    runs = tmp_path / "runs"
    assert [m for m in MODELS if (runs / f"{m}-valence-bn2" / "run.json").is_file()] == \
        ["logreg", "svm"]
    assert (runs / "svm-rbf-valence-bn2").is_dir()
    stamps = {m: (runs / f"{m}-valence-bn2" / "run.json").stat().st_mtime_ns
              for m in ("logreg", "svm")}
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("complete, skipped") == 2
    assert {m: (runs / f"{m}-valence-bn2" / "run.json").stat().st_mtime_ns
            for m in ("logreg", "svm")} == stamps
    whole = tmp_path / "whole"
    fit_all(demo_store, MODELS, ["valence"], ["bn2"], whole, options=FitOptions(jobs=1))
    for model in MODELS:
        same_run(runs / f"{model}-valence-bn2", whole / f"{model}-valence-bn2")


def test_finetune_killed_mid_epoch_resumes_to_the_same_bytes(tiny_demo: Path,
                                                            tmp_path: Path) -> None:
    data = tmp_path / "data"
    for label in ("amusement", "sadness"):  # 20 images: 16 train, 2 val, 2 test
        shutil.copytree(tiny_demo / label, data / label)

    def args(out: Path) -> list[str]:
        return ["finetune", str(data), "--task", "valence", "--weights", "random",
                "--epochs", "2", "--batch-size", "8", "--img-size", "32", "--workers", "0",
                "--device", "cpu", "--out", str(out)]

    # 2 training steps per epoch: the 3rd is in the middle of the second epoch
    killed("torch.nn.utils:clip_grad_norm_:3", *args(tmp_path / "ft"))
    assert (tmp_path / "ft" / "checkpoint-last.pt").is_file()
    assert not (tmp_path / "ft" / "run.json").exists()
    resumed = runner.invoke(app, [*args(tmp_path / "ft"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    whole = runner.invoke(app, args(tmp_path / "whole"))
    assert whole.exit_code == 0, whole.output
    assert (tmp_path / "ft" / "model.safetensors").read_bytes() == \
        (tmp_path / "whole" / "model.safetensors").read_bytes()
    same_run(tmp_path / "ft", tmp_path / "whole")


EXPERIMENT = """
[data]
demo = true
demo_per_class = 6
demo_size = 48

[split]
fractions = [0.5, 0.25, 0.25]

[[extract]]
name = "lite0-random"
backbone = "tf_efficientnet_lite0"
weights = "random"
layers = ["bn2"]
workers = 0

[fit]
models = ["logreg"]
tasks = ["valence"]
jobs = 1

[finetune]
tasks = ["valence"]
weights = "random"
epochs = 1
img_size = 32
workers = 0

[baselines]
colour_models = ["logreg"]
"""


def test_run_killed_and_rerun_reports_the_same_numbers(tmp_path: Path) -> None:
    config = tmp_path / "exp.toml"
    config.write_text(EXPERIMENT)
    # killed while fitting the colour baseline, the second classifier run
    killed("emofeat.classical.run:save_model:2", "run", config, "--out", tmp_path / "out")
    assert (tmp_path / "out" / "runs" / "lite0-random" / "logreg-valence-bn2" /
            "run.json").is_file()
    assert not (tmp_path / "out" / "report").exists()
    resumed = run_experiment(config, tmp_path / "out")
    whole = run_experiment(config, tmp_path / "whole")
    assert json.dumps(resumed["tasks"], sort_keys=True) == \
        json.dumps(whole["tasks"], sort_keys=True)
    assert [r["name"] for r in resumed["runs"]] == [r["name"] for r in whole["runs"]]
