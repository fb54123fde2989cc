"""Images into batches for any stage: a manifest's rows as tensors, failures kept apart.

Used by extraction, fine-tuning and prediction alike; nothing here knows about stores or runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

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
    """timm's evaluation transform up to the crop, ending in a uint8 CHW array (timm's
    prefetcher convention): the model wrapper converts and normalises on its device."""
    from timm.data import create_transform

    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()}
    return create_transform(**kwargs, is_training=False, use_prefetcher=True)


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
