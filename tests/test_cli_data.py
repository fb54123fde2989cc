import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from emofeat.cli.main import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_show_json(tiny_demo: Path) -> None:
    result = run("data", "show", str(tiny_demo), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["format"] == "demo"
    assert info["n_images"] == 80
    assert info["counts"]["sadness"] == 10
    assert info["dropped"] == {}
    assert sum(info["splits"]["awe"].values()) == 10


def test_split_writes_file(tiny_demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "s" / "splits.csv"
    result = run("data", "split", str(tiny_demo), "--out", str(out), "--seed", "1")
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "id,split" and len(lines) == 81


def test_make_demo(tmp_path: Path) -> None:
    result = run("data", "make-demo", str(tmp_path / "d"), "--per-class", "2", "--size", "32")
    assert result.exit_code == 0, result.output
    images = [p for p in (tmp_path / "d").rglob("*") if p.suffix in (".jpg", ".png")]
    assert len(images) == 16


@pytest.mark.parametrize(("args", "message"), [
    (["data", "show", "{tmp}/nope"], "does not exist"),
    (["data", "show", "{demo}", "--format", "nope"], "unknown format"),
    (["data", "split", "{demo}", "--out", "{tmp}/s.csv", "--fractions", "0.7,0.1,0.1"],
     "sum to 1"),
    (["data", "split", "{demo}", "--out", "{tmp}/s.csv", "--min-agree", "9"], "between 0 and 5"),
    (["data", "show", "{tmp}"], "cannot tell the format"),
])
def test_errors_are_one_line_exit_2_and_write_nothing(
    tiny_demo: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run(*[a.format(tmp=tmp_path, demo=tiny_demo) for a in args])
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("emofeat: error:")]
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "s.csv").exists()


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf command of a (typer's own click) group, as its words."""
    found: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_has_help_with_example() -> None:
    commands = _commands(typer.main.get_command(app))
    assert len(commands) == 15 and ("data", "show") in commands and ("evaluate",) in commands
    assert ("data", "audit") in commands
    for command in commands:
        result = run(*command, "--help")
        assert result.exit_code == 0, command
        assert f"Example: emofeat {' '.join(command)}" in result.stdout, command
        assert "<bool>" not in result.stdout, f"a flag shows a type: {command}"


def test_root_help_shows_flags_without_types() -> None:
    text = run("--help").stdout
    assert "<bool>" not in text and "<int>" not in text
    assert "--quiet" in text and "--verbose" in text


def test_piped_output_keeps_long_lines_whole(tmp_path: Path) -> None:
    """Off a terminal, summaries are not broken at Rich's 80 columns (nor padded)."""
    import subprocess
    import sys

    long_line = "valence: fine-tuned 0.838 | frozen pretrained features 0.863 | frozen " \
                "random-init features 0.713 | hand-crafted colour 0.762 | majority class 0.500"
    code = ("from emofeat.cli.common import out, setup_logging; import logging; "
            f"setup_logging(0, False); out.print({long_line!r}); "
            "logging.getLogger('x').info('a log line')")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=env)
    assert result.stdout == long_line + "\n"
    assert result.stderr == "INFO     a log line\n"


#: One name per kind of argument, as README writes them.
ARGUMENT_NAMES = {("extract",): "{DATA}", ("finetune",): "{DATA}", ("data", "show"): "{DATA}",
                  ("data", "split"): "{DATA}", ("fit",): "{STORE}", ("inspect",): "{STORE}",
                  ("compare",): "{RUN...}", ("predict",): "{RUN} {IMAGE_OR_DIR...}",
                  ("run",): "{CONFIG}", ("layers",): "{MODEL}", ("data", "make-demo"): "{DIR}",
                  ("zeroshot",): "{STORE_OR_DATA}"}


def test_help_names_each_kind_of_argument_one_way() -> None:
    for command, names in ARGUMENT_NAMES.items():
        usage = run(*command, "--help").stdout.splitlines()[1].split()
        assert " ".join(usage[usage.index("[OPTIONS]") + 1:]) == names, command
        assert "...}..." not in " ".join(usage)


def test_help_examples_parse_as_written() -> None:
    """Every example's options and arguments are ones the command takes."""
    import shlex

    group = typer.main.get_command(app)
    for command in _commands(group):
        cmd = group
        for name in command:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        example = next(line for line in cmd.help.splitlines() if "Example: emofeat" in line)
        words = shlex.split(example.split("Example: ", 1)[1])
        assert words[1:1 + len(command)] == list(command)
        cmd.make_context(" ".join(command), words[1 + len(command):])  # raises if not


def test_split_out_of_the_wrong_kind_is_one_line(tiny_demo: Path, tmp_path: Path) -> None:
    (tmp_path / "file.csv").write_text("x")
    for args, message in (
            (["--out", str(tmp_path)], "is a folder; give the split file's name"),
            (["--folds", "3", "--out", str(tmp_path / "file.csv")], "is a file; --folds"),
            (["--folds", "3", "--out", str(tmp_path / "file.csv" / "sub")],
             "cannot use"),
    ):
        result = run("data", "split", str(tiny_demo), *args)
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert "Traceback" not in result.output and len(result.stderr.splitlines()) <= 2


def test_fit_names_a_grid_value_its_estimator_refuses(demo_store: Path, tmp_path: Path) -> None:
    result = run("fit", str(demo_store), "--model", "logreg", "--task", "valence", "--layer",
                 "bn2", "--grid", "C=-1", "--jobs", "1", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "logreg refused its hyperparameters: The 'C' parameter" in result.stderr
    assert "Got -1 instead" in result.stderr and "Traceback" not in result.output


def test_task_and_grid_errors_name_what_is_valid(tiny_demo: Path, demo_store: Path,
                                                 tmp_path: Path) -> None:
    result = run("finetune", str(tiny_demo), "--task", "arousal", "--out", str(tmp_path / "f"))
    assert result.exit_code == 2
    assert "valence, emotion8, label (classification)" in result.stderr
    assert "(rating regression, `emofeat fit` only)" in result.stderr
    result = run("fit", str(demo_store), "--grid", "auto-extnd", "--out", str(tmp_path / "g"))
    assert result.exit_code == 2 and "KEY=V1,V2,... or auto-extend" in result.stderr
