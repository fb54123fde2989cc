"""emofeat run checks every step's tasks against the data before the first step: tasks the
data cannot serve stop the run at once, defaults follow the data, and a [cross] target of
another taxonomy is warned about and not fitted for tasks it cannot serve."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from emofeat.datasets import load_manifest
from emofeat.datasets.tasks import default_tasks, served_tasks
from emofeat.errors import EmofeatError
from emofeat.experiment import run_experiment
from emofeat.experiment.cross import load_targets
from emofeat.experiment.runner import check_tasks, load_data, open_experiment

from .conftest import write_image
from .test_releases import EMOTION6_HEADER


def make_twitter(root: Path, n: int = 16) -> Path:
    """Twitter I: ``n`` images, half positive, every one in the three-agree file."""
    lines = []
    for k in range(n):
        write_image(root / "images" / f"{k}.jpg", k, size=32)
        lines.append(f"{k}.jpg {k % 2}\n")
    (root / "ground_truth").mkdir()
    (root / "ground_truth" / "twitter_three_agrees.txt").write_text("".join(lines))
    return root


def make_emotion6(root: Path, per_class: int = 2) -> Path:
    """Emotion6: ``per_class`` images of each keyword, valence ratings on both sides of 5."""
    lines = [EMOTION6_HEADER]
    for c, keyword in enumerate(("anger", "disgust", "fear", "joy", "sadness", "surprise")):
        for k in range(per_class):
            write_image(root / "images" / keyword / f"{k}.jpg", 100 + 10 * c + k, size=32)
            valence = 7.0 if keyword in ("joy", "surprise") else 2.5 + k
            probs = ["0.1"] * 7
            lines.append("\t".join([f"{keyword}/{k}.jpg", str(valence), "5", *probs]) + "\n")
    (root / "ground_truth.txt").write_text("".join(lines))
    return root


CONFIG = """
[data]
path = "twitter"

[split]
fractions = [0.5, 0.25, 0.25]

[[extract]]
name = "lite0"
backbone = "tf_efficientnet_lite0"
weights = "random"
layers = ["bn2"]
workers = 0

[fit]
models = ["logreg"]
jobs = 1
"""


def _config(tmp_path: Path, text: str) -> Path:
    if not (tmp_path / "twitter").exists():
        make_twitter(tmp_path / "twitter")
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def test_served_tasks_follow_the_data(tmp_path: Path) -> None:
    twitter = load_manifest(make_twitter(tmp_path / "t"))
    emotion6 = load_manifest(make_emotion6(tmp_path / "e6"))
    assert served_tasks(twitter) == ["valence", "label"]
    assert default_tasks(twitter) == ["valence"]
    # Emotion6: valence derived from its ratings (the label mapping table's rule)
    assert served_tasks(emotion6) == ["valence", "label", "valence_score", "arousal_score"]
    assert default_tasks(emotion6) == ["valence", "label"]


def test_defaults_follow_the_data(tmp_path: Path) -> None:
    """Twitter I with no [finetune] section: valence for every step, not emotion8."""
    exp = open_experiment(_config(tmp_path, CONFIG), tmp_path / "out")
    exp = check_tasks(exp, load_data(exp))
    assert exp.fit_tasks == ("valence",) and exp.finetune_tasks == ("valence",)


@pytest.mark.parametrize(("text", "message"), [
    (CONFIG + 'tasks = ["emotion8"]\n',
     r"\[fit\] tasks: the data set \(twitter1\) cannot serve task 'emotion8'.*it serves "
     "valence, label"),
    (CONFIG + '\n[finetune]\ntasks = ["valence", "emotion8"]\n',
     r"\[finetune\] tasks: .*'emotion8'"),
    (CONFIG.replace('"logreg"', '"ridge"') + 'tasks = ["valence_score"]\n\n[baselines]\n'
     'colour_models = ["ridge"]\n',
     r"\[fit\] tasks: .*'valence_score': the twitter1 data set has no valence_score"),
])
def test_tasks_the_data_cannot_serve_stop_the_run_first(tmp_path: Path, text: str,
                                                          message: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(EmofeatError, match=message):
        run_experiment(_config(tmp_path, text), out, announce=lambda _: None)
    assert not out.exists()  # refused before anything was written


def test_cross_target_of_another_taxonomy_is_fitted_by_its_ratings(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Twitter I with Emotion6 as a target: valence is fitted on Emotion6 by its ratings
    (as evaluation maps it), and the runs go both ways. A target whose ratings all sit on
    the midpoint has no valence: warned about, not fitted, not fatal."""
    make_emotion6(tmp_path / "e6", per_class=4)
    flat = make_emotion6(tmp_path / "flat")
    truth = flat / "ground_truth.txt"
    rows = truth.read_text().splitlines(keepends=True)
    truth.write_text(rows[0] + "".join(
        "\t".join([r.split("\t")[0], "5", *r.split("\t")[2:]]) for r in rows[1:]))
    text = CONFIG + """
[finetune]
enabled = false

[baselines]
majority = false
colour = false

[cross]
models = ["logreg"]

[[cross.targets]]
name = "e6"
path = "e6"
"""
    config = _config(tmp_path, text)
    exp = open_experiment(config, tmp_path / "out")
    targets = {n: m for n, (_, m) in load_targets(exp).items()}
    with caplog.at_level(logging.WARNING):
        check_tasks(exp, load_data(exp), targets)
        assert "not fitted" not in caplog.text
        check_tasks(exp, load_data(exp), {"flat": load_manifest(flat)})
    assert "[cross] target flat: task valence is not fitted on it" in caplog.text
    run_experiment(config, tmp_path / "out", announce=lambda _: None)
    evaluations = tmp_path / "out" / "cross" / "evaluations"
    assert (evaluations / "main-on-e6" / "lite0" / "logreg-valence-bn2" / "eval.json").is_file()
    fitted = tmp_path / "out" / "cross" / "e6" / "runs" / "lite0" / "logreg-valence-bn2"
    record = json.loads((fitted / "run.json").read_text())
    assert record["classes"] == ["negative", "positive"]
    assert (evaluations / "e6-on-main" / "lite0" / "logreg-valence-bn2" / "eval.json").is_file()


def test_fit_valence_on_emotion6_from_its_ratings(tmp_path: Path) -> None:
    """fit --task valence on an Emotion6 store: derived from ratings, midpoint images left
    out and counted."""
    from typer.testing import CliRunner

    from cli.main import app

    root = make_emotion6(tmp_path / "e6", per_class=4)
    truth = root / "ground_truth.txt"
    rows = truth.read_text().splitlines(keepends=True)
    rows[1] = "\t".join([rows[1].split("\t")[0], "5", *rows[1].split("\t")[2:]])
    truth.write_text("".join(rows))
    runner = CliRunner()
    shown = runner.invoke(app, ["data", "show", str(root)])
    assert "valence (from valence ratings; 23 images, left out: neutral rating" in shown.output
    store = tmp_path / "store"
    result = runner.invoke(app, ["-q", "extract", str(root), "--out", str(store), "--backbone",
                                 "tf_efficientnet_lite0", "--weights", "random", "--layers",
                                 "bn2", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["fit", str(store), "--model", "logreg", "--task", "valence",
                                 "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    record = json.loads((run_dir / "run.json").read_text())
    assert record["classes"] == ["negative", "positive"]
    assert sum(record["n"].values()) == 23  # the midpoint image is left out


def test_the_checks_before_the_first_step_import_no_heavy_library() -> None:
    """What lets a bad config be refused in well under a second: the runner's checks need
    neither torch nor scikit-learn nor h5py (the steps import them)."""
    import subprocess
    import sys

    code = ("import sys, emofeat.experiment.runner; "
            "print(sorted(m for m in ('torch', 'sklearn', 'h5py') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
