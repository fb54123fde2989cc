"""docs/architecture.md stays true: every module and path it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"


def test_every_path_the_architecture_names_exists() -> None:
    text = DOC.read_text()
    paths = set(re.findall(r"`((?:emofeat|cli|configs|tests|benchmarks|docs)/[\w/.-]*)`", text))
    assert len(paths) > 30, "the architecture names the modules it describes"
    missing = sorted(p for p in paths if not (ROOT / p.rstrip("/")).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_dataset_reader_and_classifier_is_documented() -> None:
    from emofeat.classical.options import MODEL_NAMES
    from emofeat.datasets import READERS

    text = DOC.read_text()
    assert all(f"`{name}`" in text for name in READERS), "a reader is missing from the doc"
    assert "MODEL_NAMES" in text and MODEL_NAMES


def test_readme_links_the_architecture() -> None:
    assert "docs/architecture.md" in (ROOT / "README.md").read_text()
