"""One epoch of training, prediction, and atomic checkpoint files."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import DataLoader

from emofeat.atomic import replacing
from emofeat.finetune.config import FinetuneConfig
from emofeat.finetune.model import Parts
from emofeat.loading import Progress


def _to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = images.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


def train_epoch(parts: Parts, loader: DataLoader, labels: torch.Tensor, epoch: int,
                 config: FinetuneConfig, device: torch.device, amp: Callable,
                 failed: dict[int, str], progress: Progress | None) -> dict[str, float]:
    model = parts.model
    model.train()
    for module in parts.frozen:
        module.eval()
    total_loss, seen, start = 0.0, 0, time.perf_counter()
    for step, batch in enumerate(loader):
        failed.update(dict(batch["failed"]))
        if batch["images"] is None:
            continue
        x = _to_device(batch["images"], device)
        y = labels[batch["rows"]].to(device, non_blocking=True)
        with amp():
            loss = parts.loss_fn(model(x), y)
        parts.optimizer.zero_grad(set_to_none=True)
        parts.scaler.scale(loss).backward()
        if config.clip_grad > 0:
            parts.scaler.unscale_(parts.optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
        parts.scheduler.step_update(epoch * parts.steps_per_epoch + step + 1)
        total_loss += float(loss.detach()) * len(y)
        seen += len(y)
        if progress is not None:
            progress(seen, len(loader.sampler))
    seconds = time.perf_counter() - start
    return {"train_loss": total_loss / max(seen, 1), "train_images_per_s": seen / seconds}


@torch.inference_mode()
def predict(model: nn.Module, loader: DataLoader, device: torch.device, amp: Callable,
             failed: dict[int, str]) -> tuple[list[int], np.ndarray]:
    """Rows and softmax probabilities for every readable image of the loader."""
    model.eval()
    rows: list[int] = []
    probs: list[np.ndarray] = []
    for batch in loader:
        failed.update(dict(batch["failed"]))
        if batch["images"] is None:
            continue
        x = _to_device(batch["images"], device)
        with amp():
            logits = model(x)
        probs.append(logits.float().softmax(dim=1).cpu().numpy())
        rows.extend(batch["rows"])
    return rows, (np.concatenate(probs) if probs else np.zeros((0, 0)))


def atomic_torch_save(obj: Any, path: Path) -> None:
    with replacing(path) as tmp:
        torch.save(obj, tmp)


def atomic_safetensors(model: nn.Module, path: Path) -> None:
    with replacing(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  tmp)
