"""The network, its optimiser and schedule, the loss, and the training transform."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from emofeat.backbones import WeightsInfo, create_backbone
from emofeat.errors import EmofeatError
from emofeat.finetune.config import FinetuneConfig
from emofeat.taxonomy import DistributionTask, Task


def freeze_until(model: nn.Module, layer: str) -> list[str]:
    """Freeze every parameter registered before ``layer``; ``layer`` and later train.

    Returns the frozen parameter names. An unknown layer is an error listing main layers.
    """
    modules = dict(model.named_modules())
    if layer not in modules or not layer:
        main = [n for n, _ in model.named_children()]
        main += [f"{n}.{c}" for n, m in model.named_children()
                 if isinstance(m, (nn.Sequential, nn.ModuleList)) for c, _ in m.named_children()]
        raise EmofeatError(f"--freeze-until: no layer '{layer}'; layers: {', '.join(main)}")
    frozen = []
    for name, param in model.named_parameters():
        if name.startswith(f"{layer}."):
            break
        param.requires_grad_(False)
        frozen.append(name)
    return frozen


def _frozen_modules(model: nn.Module) -> list[nn.Module]:
    """Modules whose parameters are all frozen: kept in eval mode (BatchNorm stats fixed)."""
    out = []
    for module in model.modules():
        params = list(module.parameters(recurse=False))
        if params and not any(p.requires_grad for p in params):
            out.append(module)
    return out


def small_head(model: nn.Module, seed: int) -> None:
    """Start the new classifier near zero, drawn from ``seed``: timm's EfficientNet init
    (uniform 1/sqrt(classes)) gives logits in the tens for few classes, and a first loss far
    above log(K)."""
    head = model.get_classifier()
    for module in head.modules() if isinstance(head, nn.Module) else ():
        if isinstance(module, nn.Linear):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                nn.init.normal_(module.weight, std=0.01)
            nn.init.zeros_(module.bias)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def train_transform(cfg: dict[str, Any], config: FinetuneConfig) -> Callable:
    from timm.data import create_transform

    return create_transform(
        input_size=tuple(cfg["input_size"]), is_training=True,
        scale=(config.crop_scale, 1.0), hflip=0.5,
        color_jitter=0.4 if config.color_jitter else None, auto_augment=None,
        interpolation=cfg["interpolation"], mean=tuple(cfg["mean"]), std=tuple(cfg["std"]))


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """``n / (K * count)`` per class (scikit-learn's "balanced")."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)


@dataclass
class Parts:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    loss_fn: nn.Module
    frozen: list[nn.Module]
    steps_per_epoch: int
    weights: WeightsInfo


class DistributionLoss(nn.Module):
    """Mean KL divergence from the target distributions to the softmax of the logits (the
    distribution task), computed in float32 under AMP."""

    def __init__(self) -> None:
        super().__init__()
        self.kl = nn.KLDivLoss(reduction="batchmean")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.kl(torch.log_softmax(logits.float(), dim=1), target.float())


def build(config: FinetuneConfig, task: Task | DistributionTask, y_train: np.ndarray,
          device: torch.device, precision: str, n_train: int) -> Parts:
    from timm.scheduler import CosineLRScheduler

    model, weights = create_backbone(config.backbone, config.weights,
                                     num_classes=task.n_classes, seed=config.seed)
    small_head(model, config.seed)
    if config.freeze_until:
        freeze_until(model, config.freeze_until)
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps = math.ceil(n_train / config.batch_size)
    scheduler = CosineLRScheduler(optimizer, t_initial=config.epochs * steps,
                                  warmup_t=round(config.warmup_epochs * steps),
                                  warmup_lr_init=config.lr * 0.01, lr_min=config.lr * 0.01,
                                  t_in_epochs=False)
    loss_fn: nn.Module
    if task.kind == "distribution":  # targets are distributions; unweighted
        loss_fn = DistributionLoss()
    else:
        weight = None
        if config.balance == "loss":
            weight = torch.tensor(class_weights(y_train, task.n_classes), dtype=torch.float32,
                                  device=device)
        loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    return Parts(model, optimizer, scheduler, scaler, loss_fn, _frozen_modules(model), steps,
                  weights)


def load_finetuned(run_meta: dict[str, Any], weights_path: Path) -> nn.Module:
    """The fine-tuned model of a run (weights file already hash-checked by the caller)."""
    import timm

    model = timm.create_model(run_meta["model"], pretrained=False,
                              num_classes=len(run_meta["classes"]))
    model.load_state_dict(load_file(weights_path))
    return model.eval()
