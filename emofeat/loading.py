"""Images into batches for any stage: a manifest's rows as tensors, failures kept apart.

Used by extraction, fine-tuning and prediction alike; nothing here knows about stores or runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from emofeat.images import ImageReadError, load_rgb

#: A progress callback: (images done so far, images to do in this run).
Progress = Callable[[int, int], None]


def default_workers(workers: int | None) -> int:
    """DataLoader worker processes: ``workers`` if given, else min(4, CPUs - 1), at least 1:
    one core stays with the model (on 2 cores, 1 worker measured 0.83 of the model alone
    against 0.79 with 2; benchmarks/README.md). GPU machines want more: pass --workers."""
    if workers is not None:
        return workers
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def decode_workers(workers: int | None, device: torch.device) -> int:
    """Decoding worker processes for extraction: ``workers`` if given. By default none on
    the CPU (each batch is decoded in this process between forward passes, see
    :class:`InProcessBatches`); on an accelerator, which workers keep fed while it computes,
    min(16, CPUs - 1), counting the CPUs this process may use, shared among the ranks on
    this machine (an H200 runs IRv2 faster than 16 workers decode FI-like photos;
    benchmarks/README.md)."""
    if workers is not None:
        return workers
    if device.type == "cpu":
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    local_ranks = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(16, (cpus or 1) // local_ranks - 1))


class ImageDataset(Dataset):
    """Rows of a manifest as (row, tensor or None, failure reason)."""

    def __init__(self, paths: Sequence[Path], transform: Callable) -> None:
        self.paths = [str(p) for p in paths]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, row: int) -> tuple[int, torch.Tensor | None, str]:
        try:
            image = load_rgb(self.paths[row])
        except ImageReadError as exc:
            return row, None, str(exc)
        try:
            return row, self.transform(image), ""
        except Exception as exc:  # one odd image must never stop a run: record it
            return row, None, f"cannot transform: {type(exc).__name__}: {exc}"


def uint8_transform(cfg: dict[str, Any]) -> Callable:
    """timm's evaluation transform up to the crop (the crop resampled alone, see
    :mod:`emofeat.transforms`), ending in a uint8 CHW array (timm's prefetcher convention):
    the model wrapper converts and normalises on its device."""
    from emofeat.transforms import timm_eval_transform

    return timm_eval_transform(cfg, use_prefetcher=True)


def _stack(images: list[Any]) -> torch.Tensor:
    if isinstance(images[0], np.ndarray):
        return torch.from_numpy(np.stack(images))
    return torch.stack(images)


def collate(items: list[tuple[int, Any, str]]) -> dict[str, Any]:
    """A batch: rows decoded (``images`` stacked, float or uint8) and rows that failed."""
    ok = [(r, t) for r, t, _ in items if t is not None]
    return {
        "rows": [r for r, _ in ok],
        "images": _stack([t for _, t in ok]) if ok else None,
        "failed": [(r, why) for r, t, why in items if t is None],
    }


def worker_init(_: int) -> None:
    torch.set_num_threads(1)


class InProcessBatches:
    """Batches of ``batch_sampler`` decoded in this process by ``threads`` threads, each batch
    only when the next one is asked for.

    On a CPU device the model's threads already use every core, and worker processes decoding
    beside them preempt those threads (each parallel region then waits for its slowest
    thread). Decoding a batch between two forward passes, a thread per torch thread (Pillow
    releases the GIL while it decodes and resizes), keeps every core on one thing at a time
    (benchmarks/README.md). The rows and their order are the DataLoader's.
    """

    def __init__(self, dataset: Dataset, batch_sampler: Iterable[list[int]],
                 threads: int) -> None:
        self.dataset, self.batch_sampler, self.threads = dataset, batch_sampler, max(1, threads)

    def __len__(self) -> int:
        return len(self.batch_sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with ThreadPoolExecutor(self.threads, thread_name_prefix="emofeat-decode") as pool:
            for rows in self.batch_sampler:
                yield collate(list(pool.map(self.dataset.__getitem__, rows)))


def batch_loader(dataset: Dataset, batch_sampler: Iterable[list[int]], workers: int,
                 pin_memory: bool = False) -> Iterable[dict[str, Any]]:
    """Collated batches of ``dataset``: decoded in this process (:class:`InProcessBatches`, a
    thread per torch thread) when ``workers`` is 0, else by that many DataLoader processes.
    The transform should do no torch work (uint8 output): torch would start a thread pool
    in every decoding thread."""
    if workers == 0:
        return InProcessBatches(dataset, batch_sampler, torch.get_num_threads())
    return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=workers,
                      collate_fn=collate, pin_memory=pin_memory, worker_init_fn=worker_init,
                      prefetch_factor=4)
