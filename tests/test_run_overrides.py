"""emofeat run with --data and --set: command-line settings on top of a config, and a
bundled config that asks for the user's data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emofeat.cli.main import app
from emofeat.errors import EmofeatError
from emofeat.experiment import bundled_config, load_config
from tests.test_experiment import TINY, write

runner = CliRunner()


def test_bundled_config_without_data_says_to_pass_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "fi-reference", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "the bundled config 'fi-reference' does not know where your data is: pass " \
           "--data PATH" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    # the demo makes its own data
    assert load_config(bundled_config("demo")).data.demo


def test_data_is_relative_to_the_current_folder(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(bundled_config("fi-reference"), data="FI")
    assert config.data.path == str(tmp_path / "FI") and not config.data.demo
    via_set = load_config(bundled_config("fi-reference"), sets=["data.path=./FI"])
    assert via_set.data.path == str(tmp_path / "FI")
    # --data replaces a demo config's generated set too
    assert load_config(write(tmp_path, TINY), data="FI").data.demo is False


def test_set_overrides_keys_as_toml_values(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TINY), sets=[
        'fit.models=["logreg", "svm"]', "split.seed=3", "extract.lite0-random.pooling=max",
        "finetune.lr=0.01", "out=elsewhere"])
    assert config.fit.models == ["logreg", "svm"] and config.split.seed == 3
    assert config.extract[0].pooling == "max" and config.finetune.lr == 0.01
    assert config.out == "elsewhere"


@pytest.mark.parametrize(("assignment", "message"), [
    ("fit.modles=['svm']", "modles"),
    ("split.seed=three", "seed"),
    ("extract.nope.pooling=max", "no [[extract]] named 'nope' (named: lite0-random)"),
    ("fit.models", "--set takes SECTION.KEY=VALUE"),
    ("extract.lite0-random=max", "extract.NAME.KEY=VALUE for an [[extract]]"),
    ("fit.models=['svm'", "is not a TOML value"),
])
def test_bad_set_is_one_line_naming_it(tmp_path: Path, assignment: str, message: str) -> None:
    with pytest.raises(EmofeatError, match=re.escape(message)):
        load_config(write(tmp_path, TINY), sets=[assignment])
    result = runner.invoke(app, ["run", str(write(tmp_path, TINY)), "--set", assignment,
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()
