"""Shared fixtures: small datasets the tests build themselves (no downloads, no GPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
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


#: ``emofeat extract`` options of the small stores: 4 shards of 6 rows, 2 batches per shard.
SMALL_ARGS = ["--backbone", "tf_efficientnet_lite0", "--weights", "random", "--layers", "bn2",
              "--shard-size", "6", "--batch-size", "3"]
#: Feature bytes follow torch's threads per process: the runs compared use one, as torchrun's
#: ranks do.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic demo set at 3 images per class (24), 32 px (shared, read-only)."""
    return make_demo(tmp_path_factory.mktemp("small") / "data",
                     DemoSpec(seed=0, per_class=3, size=32))


@pytest.fixture(scope="session")
def small_store(small_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``emofeat extract`` of the small set in one process with one thread, uninterrupted."""
    out = tmp_path_factory.mktemp("small-store") / "s"
    subprocess.run([sys.executable, "-m", "emofeat", "-q", "extract", str(small_demo), "--out",
                    str(out), "--workers", "0", *SMALL_ARGS], env=ONE_THREAD, check=True)
    return out


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch with one thread in this process for the test (for bytes equal to ONE_THREAD's)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
