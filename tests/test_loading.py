"""Decoding batches: in this process by threads (the CPU default) or by worker processes,
with the same rows, failures and pixels either way."""

from __future__ import annotations

import csv
import os
import platform
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from emofeat.datasets import load_manifest
from emofeat.device import DEFAULT_BATCH_SIZE, keep_freed_memory, resolve_batch_size
from emofeat.errors import EmofeatError
from emofeat.extract import ExtractConfig, extract
from emofeat.images import ImageReadError, load_rgb
from emofeat.loading import (
    ImageDataset,
    InProcessBatches,
    batch_loader,
    collate,
    decode_workers,
    uint8_transform,
    worker_init,
)
from emofeat.store import Store
from tests.test_hostile import make_hostile_images, png_claiming

CFG = {"input_size": (3, 32, 32), "interpolation": "bicubic", "mean": (0.5, 0.5, 0.5),
       "std": (0.5, 0.5, 0.5), "crop_pct": 0.875, "crop_mode": "center"}


def images(root: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(7):
        path = root / f"{i}.jpg"
        Image.fromarray(rng.integers(0, 256, (40 + i, 50, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    paths[3].write_bytes(b"not a jpeg")
    return paths


def test_in_process_batches_equal_the_dataloader_s(tmp_path: Path) -> None:
    dataset = ImageDataset(images(tmp_path), uint8_transform(CFG))
    batches = [[0, 1, 2], [3, 4, 5], [6]]
    threads = list(InProcessBatches(dataset, batches, threads=3))
    procs = list(DataLoader(dataset, batch_sampler=batches, num_workers=1, collate_fn=collate,
                            worker_init_fn=worker_init))
    assert len(threads) == len(procs) == len(InProcessBatches(dataset, batches, 2)) == 3
    for a, b in zip(threads, procs, strict=True):
        assert a["rows"] == b["rows"] and a["failed"] == b["failed"]
        assert a["images"].dtype == torch.uint8 and torch.equal(a["images"], b["images"])
    assert threads[1]["rows"] == [4, 5]
    assert threads[1]["failed"][0][0] == 3 and "not a recognised" in threads[1]["failed"][0][1]


def test_batch_loader_decodes_in_this_process_only_for_zero_workers(tmp_path: Path) -> None:
    dataset = ImageDataset(images(tmp_path), uint8_transform(CFG))
    assert isinstance(batch_loader(dataset, [[0]], workers=0), InProcessBatches)
    loader = batch_loader(dataset, [[0]], workers=2)
    assert isinstance(loader, DataLoader) and loader.num_workers == 2


def test_decode_workers_default_to_none_on_the_cpu_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cpus = len(os.sched_getaffinity(0))
    assert decode_workers(None, torch.device("cpu")) == 0
    assert decode_workers(None, torch.device("cuda")) == max(1, min(16, cpus - 1))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two ranks on this machine share its CPUs
    assert decode_workers(None, torch.device("cuda")) == max(1, min(16, cpus // 2 - 1))
    assert decode_workers(3, torch.device("cpu")) == 3
    assert decode_workers(0, torch.device("cuda")) == 0


def test_threads_and_worker_processes_write_the_same_store(tmp_path: Path) -> None:
    failures, _ = make_hostile_images(tmp_path / "data")
    manifest = load_manifest(tmp_path / "data")
    stores = {}
    for workers in (0, 1):
        config = ExtractConfig(backbone="tf_efficientnet_lite0", weights="random",
                               workers=workers, batch_size=4, layers=["blocks.5", "bn2"],
                               shard_size=8)
        stores[workers] = extract(manifest, tmp_path / f"s{workers}", config)
    threads, procs = (Store.open(stores[w]) for w in (0, 1))
    assert threads.ids == procs.ids
    for layer in ("blocks.5", "bn2"):
        assert np.array_equal(threads.load(layer), procs.load(layer))
    failed = [(stores[w] / "failed.csv").read_text() for w in (0, 1)]
    assert failed[0] == failed[1]
    with open(stores[0] / "failed.csv", newline="") as fh:
        assert sorted(row["id"] for row in csv.DictReader(fh)) == sorted(failures)


def test_a_bomb_is_refused_by_every_thread_and_the_warning_filters_are_kept(
        tmp_path: Path) -> None:
    """Between Pillow's limit and twice it, a bomb is only a warning, made an error inside
    load_rgb: threads decoding at once must all see the error, and leave the process's
    warning filters as they were."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(10_000, 10_000))  # 100 MP: over the limit, under twice it
    fine = images(tmp_path / "fine")[0]
    before = list(warnings.filters)

    def load(path: Path) -> str:
        try:
            load_rgb(path)
            return "ok"
        except ImageReadError as exc:
            return str(exc)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(load, [bomb, fine] * 40))
    assert all(r.startswith("too many pixels") for r in results[::2])
    assert set(results[1::2]) == {"ok"}
    assert warnings.filters == before


@pytest.mark.parametrize("threads", [1, 4])
def test_in_process_batches_stop_cleanly_when_the_consumer_stops(tmp_path: Path,
                                                                 threads: int) -> None:
    dataset = ImageDataset(images(tmp_path), uint8_transform(CFG))
    loader = iter(InProcessBatches(dataset, [[0, 1], [2], [4, 5]], threads))
    assert next(loader)["rows"] == [0, 1]
    assert any(t.name.startswith("emofeat-decode") for t in threading.enumerate())
    loader.close()  # an extraction that fails mid-way: the thread pool is shut down
    with pytest.raises(StopIteration):
        next(loader)
    assert not any(t.name.startswith("emofeat-decode") for t in threading.enumerate())


def test_batch_sizes_default_per_device_and_are_checked() -> None:
    assert resolve_batch_size(None, torch.device("cpu")) == DEFAULT_BATCH_SIZE["cpu"] == 16
    assert resolve_batch_size(None, torch.device("cuda")) == 256
    assert resolve_batch_size(7, torch.device("cuda")) == 7
    ExtractConfig().check()
    with pytest.raises(EmofeatError, match="--batch-size"):
        ExtractConfig(batch_size=0).check()


def test_glibc_keeps_freed_memory_once_per_process() -> None:
    first = keep_freed_memory()
    assert keep_freed_memory() is first
    assert first == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
