"""The install the README promises: every package listed, CI running the README's commands."""

from __future__ import annotations

import re
import sys
from pathlib import Path

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


def test_cli_model_names_follow_the_registry() -> None:
    from emofeat.classical import MODEL_NAMES
    from emofeat.cli.fit import MODEL_NAMES as CLI_NAMES
    from emofeat.finetune import BALANCE

    assert CLI_NAMES == MODEL_NAMES
    assert BALANCE == ("loss", "sampler", "none")


def test_cli_help_does_not_load_torch() -> None:
    import subprocess

    code = "import sys, emofeat.cli.main; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["False", "False"]
