"""The install the README promises: every package listed, CI running the README's commands."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_installed() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "emofeat").rglob("__init__.py")}
    assert found <= listed
    assert {"emofeat.cli", "emofeat.configs"} <= listed
    assert setup["package-dir"]["emofeat.cli"] == "cli"
    assert setup["package-dir"]["emofeat.configs"] == "configs"


def test_ci_runs_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    install, tests = blocks[0].strip(), blocks[1].strip()
    assert install.endswith("&& emofeat demo")
    assert install.removesuffix(" && emofeat demo") in ci
    assert tests in ci


def test_model_names_follow_the_registry() -> None:
    from emofeat.classical import ESTIMATORS, MODEL_NAMES
    from emofeat.cli.fit import MODEL_NAMES as CLI_NAMES

    assert tuple(ESTIMATORS) == MODEL_NAMES == CLI_NAMES


@pytest.mark.parametrize(("command", "defaults"), [
    ("extract", "emofeat.extract_config:ExtractConfig"),
    ("fit", "emofeat.classical.options:FitOptions"),
    ("finetune", "emofeat.finetune.config:FinetuneConfig"),
])
def test_cli_defaults_are_the_library_defaults(command: str, defaults: str) -> None:
    import dataclasses
    import importlib

    import typer

    from emofeat.cli.main import app

    module, name = defaults.split(":")
    config = getattr(importlib.import_module(module), name)()
    settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    params = {p.name: p.default for p in typer.main.get_command(app).commands[command].params}
    shared = set(settings) & set(params)
    assert len(shared) >= 5
    for key in shared:
        expected = "none" if key == "class_weight" and settings[key] is None else settings[key]
        assert params[key] == expected, key


def test_cli_help_does_not_load_torch() -> None:
    import subprocess

    code = ("import sys, emofeat.cli.main; "
            "print([m for m in ('torch', 'sklearn', 'h5py', 'timm') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
