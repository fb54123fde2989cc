"""Shared fixtures: small datasets the tests build themselves (no downloads, no GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emofeat.demo import DemoSpec, make_demo


def write_image(path: Path, seed: int = 0, size: int = 24, fmt: str | None = None) -> Path:
    """A small random RGB image; the format follows the file ending unless given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format=fmt)
    return path


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic demo set at 10 images per class, 48 px (shared, read-only)."""
    root = tmp_path_factory.mktemp("demo") / "data"
    return make_demo(root, DemoSpec(seed=0, per_class=10, size=48))
