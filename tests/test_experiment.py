"""emofeat run CONFIG.toml / emofeat demo: the whole experiment, resumable."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emofeat.cli.main import app
from emofeat.errors import EmofeatError
from emofeat.experiment import bundled_config, load_config, run_experiment

runner = CliRunner()

TINY = """
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
layers = ["blocks.6", "bn2"]
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


def in_extract(*lines: str) -> str:
    """TINY with more lines in its [[extract]] table."""
    return TINY.replace("workers = 0\n\n[fit]", "workers = 0\n" + "\n".join(lines) + "\n\n[fit]")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def test_run_writes_everything_and_resumes(tmp_path: Path) -> None:
    config = write(tmp_path, TINY)
    said: list[str] = []
    report = run_experiment(config, tmp_path / "out", announce=said.append)
    out = tmp_path / "out"
    runs = sorted(p.parent.relative_to(out / "runs").as_posix()
                  for p in (out / "runs").rglob("run.json"))
    assert runs == ["baselines/colour/logreg-valence-colour", "baselines/majority-valence",
                    "finetune-valence", "lite0-random/logreg-valence-blocks.6",
                    "lite0-random/logreg-valence-bn2"]
    assert (out / "report" / "report.html").is_file()
    assert report["synthetic"] is True
    assert set(report["tasks"]["valence"]["transfer"]["best_of_family"]) == {
        "random", "finetune", "majority", "colour"}
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()
              and p.name in ("run.json", "store.json", "model.safetensors")}
    said.clear()
    run_experiment(config, out, announce=said.append)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing redone
    assert sum("complete, skipped" in line for line in said) == 4


@pytest.mark.parametrize(("text", "message"), [
    (TINY + "\n[bogus]\nx = 1\n", "unknown key 'bogus' in the config; valid keys: baselines"),
    (TINY.replace("models = [\"logreg\"]", "models = [\"logreg\"]\nmodel = \"svm\""),
     "unknown key 'model' in [fit]; valid keys: class_weight, drop_invalid, jobs, layers, models"),
    (TINY.replace("epochs = 1", "epochs = \"one\""),
     "[finetune] epochs = 'one' has the wrong type; expected int"),
    (TINY.replace("demo = true", "demo = true\npath = \"x\""), "either path = ... or demo"),
    ("[data\n", "is not valid TOML"),
    (TINY.replace("jobs = 1", "jobs = 1\nclass_weight = \"balancd\""),
     "[fit]: class_weight must be one of balanced, none, got 'balancd'"),
    (TINY.replace("models = [\"logreg\"]", "models = [\"logreg\", \"knn\"]"),
     "[fit]: unknown model 'knn'; valid models: logreg"),
    (TINY.replace("tasks = [\"valence\"]\nweights", "tasks = [\"valance\"]\nweights"),
     "[finetune]: unknown task 'valance'"),
    (in_extract('pooling = "median"'), "[[extract]] lite0-random: unknown pooling 'median'"),
    (in_extract('pool = "max"', 'pooling = "max"'), "has pool and pooling"),
    (TINY.replace("[0.5, 0.25, 0.25]", "[0.5, 0.25]"), "[split]: split fractions must be three"),
    (TINY.replace("layers = [\"blocks.6\", \"bn2\"]", "layers = \"bn2\""),
     "[[extract]] #1 layers = 'bn2' has the wrong type; expected list[str] | none"),
])
def test_bad_configs(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(EmofeatError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)
    result = runner.invoke(app, ["run", str(tmp_path / "exp.toml"), "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["demo", "fi-reference", "fi-modern"])
def test_bundled_configs_parse(name: str) -> None:
    config = load_config(bundled_config(name), data=None if name == "demo" else "FI")
    assert config.extract and config.fit.models


def test_run_needs_an_output_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(write(tmp_path, TINY))])
    assert result.exit_code == 2 and "no output folder" in result.stderr


def test_sections_are_the_library_configs(tmp_path: Path) -> None:
    from emofeat.classical import FitOptions
    from emofeat.extract import ExtractConfig
    from emofeat.finetune import FinetuneConfig

    text = in_extract('pooling = "avgmax"', "seed = 3")
    text = text.replace("jobs = 1", 'jobs = 1\nclass_weight = "none"')
    config = load_config(write(tmp_path, text))
    assert config.extract[0].extract_config() == ExtractConfig(
        backbone="tf_efficientnet_lite0", weights="random", layers=["blocks.6", "bn2"],
        pooling="avgmax", workers=0, seed=3)
    assert config.fit.options() == FitOptions(class_weight=None, jobs=1)
    assert config.finetune.for_task("valence") == FinetuneConfig(
        task="valence", weights="random", epochs=1, img_size=32, workers=0)
    assert isinstance(config.finetune.for_task("valence").lr, float)


def test_old_pool_key_still_works(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(write(tmp_path, in_extract('pool = "max"')))
    assert config.extract[0].pooling == "max"
    assert "'pool' is deprecated; write pooling = 'max'" in caplog.text


def test_reading_a_config_imports_no_torch_sklearn_or_h5py() -> None:
    code = ("import sys\n"
            "from emofeat.experiment import bundled_config, load_config\n"
            "for name in ('demo', 'fi-reference', 'fi-modern'):\n"
            "    load_config(bundled_config(name), data=None if name == 'demo' else 'FI')\n"
            "print(sorted(m for m in ('torch', 'sklearn', 'h5py', 'timm', 'open_clip')\n"
            "             if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_run_extracts_again_when_the_extract_section_changed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    run_experiment(write(tmp_path, TINY), out)
    with caplog.at_level(logging.WARNING):
        run_experiment(write(tmp_path, in_extract('pooling = "max"')), out)
    store = out / "stores" / "lite0-random"
    assert f"{store} was made with other settings (pooling:" in caplog.text
    assert "extracting again" in caplog.text and "--overwrite" not in caplog.text
    assert json.loads((store / "store.json").read_text())["pooling"] == "max"
    # the runs fitted on the old features are redone, not reused
    assert "lite0-random/logreg-valence-bn2 was made with other settings" in caplog.text
