"""Shared fixtures: small datasets the tests build themselves (no downloads, no GPU)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from emofeat.demo import DemoSpec, make_demo

if TYPE_CHECKING:
    from torch import nn


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


@pytest.fixture(scope="session")
def demo_store(tiny_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real store of the tiny demo set: bundled Lite0, layers blocks.6 and bn2."""
    from emofeat.datasets import load_manifest
    from emofeat.extract import ExtractConfig, extract

    out = tmp_path_factory.mktemp("store") / "lite0"
    config = ExtractConfig(backbone="tf_efficientnet_lite0", weights="bundled",
                           layers=["blocks.6", "bn2"], workers=0, batch_size=16, shard_size=40)
    return extract(load_manifest(tiny_demo), out, config)


@pytest.fixture(scope="session")
def irv2() -> nn.Module:
    """Inception-ResNet-v2 with seeded random weights, built once (it is slow to build).
    Shared: tests must not change its weights."""
    from emofeat.backbones import create_backbone

    model, info = create_backbone("inception_resnet_v2", "random")
    assert info.source == "random"
    return model
