"""Images into batches for any stage: a manifest's rows as tensors, failures kept apart.

Used by extraction, fine-tuning and prediction alike; nothing here knows about stores or runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from emofeat.images import ImageReadError, load_rgb

#: A progress callback: (images done so far, images to do in this run).
Progress = Callable[[int, int], None]


def default_workers(workers: int | None) -> int:
    """DataLoader worker processes: ``workers`` if given, else min(4, CPUs)."""
    return workers if workers is not None else min(4, os.cpu_count() or 1)


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
        return row, self.transform(image), ""


def collate(items: list[tuple[int, torch.Tensor | None, str]]) -> dict[str, Any]:
    ok = [(r, t) for r, t, _ in items if t is not None]
    return {
        "rows": [r for r, _ in ok],
        "images": torch.stack([t for _, t in ok]) if ok else None,
        "failed": [(r, why) for r, t, why in items if t is None],
    }


def worker_init(_: int) -> None:
    torch.set_num_threads(1)
