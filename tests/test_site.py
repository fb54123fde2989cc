"""The documentation site stays true: its commands parse, it builds, the README points into it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from emofeat.cli.main import app

from .test_cli_data import _commands

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"


def _pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _fenced_blocks(text: str) -> list[str]:
    """The contents of every fenced code block (``` or ~~~, any language)."""
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)


def command_lines(text: str) -> list[str]:
    """Every shell line of a fenced block that runs emofeat, continuations joined."""
    found: list[str] = []
    for block in _fenced_blocks(text):
        joined: list[str] = []
        for line in block.splitlines():
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
            else:
                joined.append(line.strip())
        for line in joined:
            line = line.removeprefix("$ ")
            launched = re.match(r"(?:srun|torchrun) .*?(?:-m )?(emofeat .*)", line)
            if launched:  # srun emofeat ..., torchrun ... -m emofeat ...
                line = launched.group(1)
            if line.startswith("emofeat "):
                found.append(line)
    return found


def _all_command_lines() -> list[tuple[str, str]]:
    return [(path.name, line) for path in [README, *_pages()]
            for line in command_lines(path.read_text())]


def parse(line: str) -> tuple[str, ...]:
    """Parse one `emofeat ...` line with the CLI itself; raises if a word is wrong."""
    words = shlex.split(line, comments=True)
    assert words[0] == "emofeat"
    group: Any = typer.main.get_command(app)
    cmd, path, rest = group, [], words[1:]
    while hasattr(cmd, "commands"):
        while rest and rest[0].startswith("-"):  # the root's -v/-q
            option = rest.pop(0)
            assert any(option in p.opts for p in cmd.params), f"{option} is no option of {path}"
        assert rest and rest[0] in cmd.commands, f"no command {rest[:1]} in {path or 'emofeat'}"
        path.append(rest[0])
        cmd = cmd.commands[rest.pop(0)]
    cmd.make_context(" ".join(path), rest)  # raises on an unknown option or a missing argument
    return tuple(path)


def test_command_line_extraction_joins_continuations_and_drops_comments() -> None:
    text = ("```bash\n$ emofeat fit S --out R \\\n    --model svm   # a comment\n"
            "for k in 1 2; do\n  emofeat layers M\ndone\n"
            "torchrun --nproc-per-node 8 -m emofeat inspect S\nsrun emofeat inspect T\n```\n"
            "`emofeat inline` is prose\n")
    assert command_lines(text) == ["emofeat fit S --out R --model svm   # a comment",
                                   "emofeat layers M", "emofeat inspect S", "emofeat inspect T"]
    assert parse(command_lines(text)[0]) == ("fit",)
    with pytest.raises(Exception, match="no-such-option"):
        parse("emofeat fit S --out R --no-such-option")
    with pytest.raises(AssertionError):
        parse("emofeat dataa show X")


def test_every_command_in_the_docs_and_readme_parses() -> None:
    lines = _all_command_lines()
    assert len(lines) > 40, f"only {len(lines)} emofeat lines in the docs"
    seen: set[tuple[str, ...]] = set()
    failures = []
    for page, line in lines:
        try:
            seen.add(parse(line))
        except Exception as error:  # every failure, reported together
            failures.append(f"{page}: {line}\n    {type(error).__name__}: {error}")
    assert not failures, "\n".join(failures)
    every = set(_commands(typer.main.get_command(app)))
    assert seen == every, f"no example in the docs of {sorted(every - seen)}"


def test_readme_is_short_and_links_every_page() -> None:
    text = README.read_text()
    assert len(text.splitlines()) < 150
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)\)", text))
    pages = {f"docs/{p.name}" for p in _pages()}
    assert pages <= linked, f"README does not link {sorted(pages - linked)}"
    assert not {p for p in linked if not (ROOT / p).exists()}
    assert "![" in text and "(docs/report.png)" in text
    assert (ROOT / "docs" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_readme_tables_name_every_command_and_reader() -> None:
    from emofeat.datasets import READERS

    text = README.read_text()
    for command in _commands(typer.main.get_command(app)):
        assert f"| `emofeat {' '.join(command)}" in text, f"README's table lacks {command}"
    for name in READERS:
        assert f"| `{name}` |" in text, f"README's data set table lacks {name}"
        assert f"| `{name}` |" in (DOCS / "datasets.md").read_text(), name


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [p.name for p in _pages() if f" {p.name}" not in nav]
    assert not missing, f"pages not in mkdocs.yml's nav: {missing}"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """Broken links, missing pages and unresolvable API references fail the build."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's end-of-life banner
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
         str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "index.html").is_file()
