"""The frozen-model wrapper and the extraction engine's fast paths, exercised on the CPU:
uint8 batches normalised in the wrapper, memory formats, hooks held for a whole run, the
asynchronous submit interface and the writer thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emofeat.backbones import create_backbone, data_config, eval_transform
from emofeat.datasets import load_manifest
from emofeat.errors import EmofeatError
from emofeat.extract import ExtractConfig, dataset_meta, fill_store
from emofeat.frozen import FeatureModel
from emofeat.images import load_rgb
from emofeat.loading import collate, uint8_transform
from emofeat.splits import make_split
from emofeat.store import Store

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def lite0() -> torch.nn.Module:
    model, _ = create_backbone("tf_efficientnet_lite0", "bundled")
    return model


def test_uint8_batches_normalised_in_the_wrapper_equal_timm_float_pipeline(
        lite0: torch.nn.Module, tiny_demo: Path) -> None:
    cfg = data_config(lite0)
    paths = sorted(tiny_demo.rglob("*.png"))[:3] or sorted(tiny_demo.rglob("*.jpg"))[:3]
    as_float = collate([(i, eval_transform(cfg)(load_rgb(p)), "") for i, p in enumerate(paths)])
    as_uint8 = collate([(i, uint8_transform(cfg)(load_rgb(p)), "") for i, p in enumerate(paths)])
    assert as_uint8["images"].dtype == torch.uint8
    assert as_float["images"].dtype == torch.float32
    ref = FeatureModel(lite0, ["bn2"], "avg", CPU, "fp32", 8)(as_float["images"])["bn2"]
    fm = FeatureModel(lite0, ["bn2"], "avg", CPU, "fp32", 8, mean=cfg["mean"], std=cfg["std"])
    ours = fm(as_uint8["images"])["bn2"]
    assert np.abs(ours - ref).max() <= 1e-4


def test_uint8_without_mean_and_std_is_refused(lite0: torch.nn.Module) -> None:
    x = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(EmofeatError, match="mean and std"):
        FeatureModel(lite0, ["bn2"], "avg", CPU, "fp32", 8)(x)


def test_channels_last_equals_contiguous(lite0: torch.nn.Module) -> None:
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    a = FeatureModel(lite0, ["blocks.5", "bn2"], "avg", CPU, "fp32", 8,
                     memory_format="contiguous")(x)
    b = FeatureModel(lite0, ["blocks.5", "bn2"], "avg", CPU, "fp32", 8,
                     memory_format="channels_last")(x)
    for name in a:
        assert np.abs(a[name] - b[name]).max() <= 1e-4
    with pytest.raises(EmofeatError, match="valid: auto, channels_last, contiguous"):
        FeatureModel(lite0, ["bn2"], "avg", CPU, "fp32", 8, memory_format="nhwc")


def test_hooks_live_exactly_as_long_as_the_with_block(lite0: torch.nn.Module) -> None:
    def n_hooks() -> int:
        return sum(len(m._forward_hooks) for m in lite0.modules())

    before = n_hooks()
    fm = FeatureModel(lite0, ["blocks.5", "bn2"], "avg", CPU, "fp32", 2)
    x = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with fm:
        assert n_hooks() == before + 2
        first = fm.submit(x).result()
        second = fm.submit(x).result()  # micro-batches of 2: hooks are not re-registered
        assert n_hooks() == before + 2
    assert n_hooks() == before
    assert np.array_equal(first["bn2"], second["bn2"]) and first["bn2"].shape == (5, 1280)
    with pytest.raises(RuntimeError, match="with FeatureModel"):
        fm.submit(x)


def test_a_failing_shard_write_stops_the_run_and_leaves_the_store_incomplete(
        tiny_demo: Path, tmp_path: Path) -> None:
    """The writer thread's errors reach the caller; nothing looks complete afterwards."""
    manifest = load_manifest(tiny_demo)
    split = make_split(manifest)
    meta = {**dataset_meta(manifest, split, 16, None), "backbone": "colour",
            "handcrafted": True, "weights": {}, "data_config": {}, "pooling": "avg",
            "dtype": "float32", "precision": "fp32",
            "layers": [{"name": "mean", "dim": 3, "channels": 3, "stride": 0}]}

    def wrong_rows(images: torch.Tensor) -> dict[str, np.ndarray]:
        return {"mean": np.zeros((images.shape[0] + 1, 3), np.float32)}  # one row too many

    config = ExtractConfig(workers=0, batch_size=8, shard_size=16)
    with pytest.raises(ValueError, match="reshape"):
        fill_store(manifest, tmp_path / "s", meta, split, wrong_rows,
                   lambda image: torch.zeros(3), config, CPU)
    with pytest.raises(EmofeatError, match="incomplete"):
        Store.open(tmp_path / "s")
