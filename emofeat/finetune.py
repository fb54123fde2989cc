"""Fine-tuning a small timm model on the same split: the yardstick for frozen features.

AdamW with a warm-up + cosine schedule (timm's scheduler), timm's training transforms
(random resized crop and flip; colour jitter only when asked, since colour carries emotion),
class-balanced loss or sampler, optional partial fine-tuning, AMP and channels_last on CUDA,
gradient clipping, early stopping on val balanced accuracy. Every epoch starts from a seed
derived from (seed, epoch), and a checkpoint is written after it, so a resumed run ends
exactly where an uninterrupted one does. ``test`` is read once, after training.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset, SubsetRandomSampler, WeightedRandomSampler

from emofeat.backbones import WeightsInfo, create_backbone, data_config, eval_transform
from emofeat.datasets import Manifest
from emofeat.device import autocast_for, resolve_device, resolve_precision
from emofeat.errors import EmofeatError
from emofeat.extract import ImageDataset, collate
from emofeat.metrics import balanced_accuracy
from emofeat.runs import (
    Predictions,
    finish_run,
    is_complete,
    model_file_entry,
    prepare_run_dir,
)
from emofeat.splits import SPLIT_NAMES, Split, check_split_matches
from emofeat.taxonomy import Task, get_task

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint-last.pt"
WEIGHTS = "model.safetensors"
BALANCE = ("loss", "sampler", "none")

EpochCallback = Callable[[dict[str, Any]], None]
Progress = Callable[[int, int], None]


@dataclass
class FinetuneConfig:
    """Training settings; all but device and workers must match to resume a run."""

    backbone: str = "tf_efficientnet_lite0"
    weights: str = "pretrained"
    task: str = "emotion8"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    balance: str = "loss"
    img_size: int | None = None
    crop_scale: float = 0.35  # smallest area fraction of the random resized crop
    color_jitter: bool = False
    freeze_until: str | None = None
    clip_grad: float = 1.0
    patience: int = 3
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    workers: int | None = None

    def check(self) -> None:
        if self.balance not in BALANCE:
            raise EmofeatError(f"--balance must be one of {', '.join(BALANCE)}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.patience < 1:
            raise EmofeatError("--epochs, --batch-size, --patience must be >= 1, --lr > 0")
        if not 0 <= self.label_smoothing < 1 or not 0 < self.crop_scale <= 1:
            raise EmofeatError("--label-smoothing must be in [0, 1), --crop-scale in (0, 1]")
        if self.img_size is not None and self.img_size < 32:
            raise EmofeatError("--img-size must be at least 32")

    def settings(self) -> dict[str, Any]:
        """What decides the result (resume requires these unchanged)."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "workers")}


# --------------------------------------------------------------------------- model


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


def _small_head(model: nn.Module) -> None:
    """Start the new classifier near zero: timm's EfficientNet init (uniform 1/sqrt(classes))
    gives logits in the tens for few classes, and a first loss far above log(K)."""
    head = model.get_classifier()
    for module in head.modules() if isinstance(head, nn.Module) else ():
        if isinstance(module, nn.Linear):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                nn.init.normal_(module.weight, std=0.01)
            nn.init.zeros_(module.bias)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- data


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


# --------------------------------------------------------------------------- training


@dataclass
class _Parts:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    loss_fn: nn.Module
    frozen: list[nn.Module]
    steps_per_epoch: int
    weights: WeightsInfo


def _build(config: FinetuneConfig, task: Task, y_train: np.ndarray, device: torch.device,
           precision: str, n_train: int) -> _Parts:
    from timm.scheduler import CosineLRScheduler

    model, weights = create_backbone(config.backbone, config.weights,
                                     num_classes=task.n_classes, seed=config.seed)
    _small_head(model)
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
    weight = None
    if config.balance == "loss":
        weight = torch.tensor(class_weights(y_train, task.n_classes), dtype=torch.float32,
                              device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    return _Parts(model, optimizer, scheduler, scaler, loss_fn, _frozen_modules(model), steps,
                  weights)


def _to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = images.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


def _train_epoch(parts: _Parts, loader: DataLoader, labels: torch.Tensor, epoch: int,
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
def _predict(model: nn.Module, loader: DataLoader, device: torch.device, amp: Callable,
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


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_safetensors(model: nn.Module, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, path)


def _describe(old: dict[str, Any], new: dict[str, Any]) -> str:
    return "; ".join(f"{k}: checkpoint {old.get(k)!r}, now {new.get(k)!r}"
                     for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))


def finetune(
    manifest: Manifest,
    split: Split,
    out: str | Path,
    config: FinetuneConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_epoch: EpochCallback | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fine-tune on ``train``, select the epoch on ``val``, score ``test`` once; returns the
    run.json record of the run directory written at ``out``."""
    config = config or FinetuneConfig()
    config.check()
    out = Path(out)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    task = get_task(config.task, manifest.labels)
    check_split_matches(split, manifest.ids, source="the split")
    rows = {s: [i for i, k in enumerate(manifest.ids) if split.assignment[k] == s]
            for s in SPLIT_NAMES}
    if not rows["val"]:
        raise EmofeatError("the split has no val images; the epoch is chosen on val")
    labels = torch.from_numpy(task.encode(manifest.labels))
    y_train = labels[rows["train"]].numpy()
    missing = [task.classes[k] for k in range(task.n_classes) if k not in set(y_train)]
    if missing:
        raise EmofeatError(f"class(es) {', '.join(missing)} have no train images")

    settings = {**config.settings(), "splits_sha256": split.sha256,
                "manifest_sha256": manifest.sha256, "precision": precision}
    checkpoint = out / CHECKPOINT
    if resume:
        if is_complete(out):
            raise EmofeatError(f"{out} is already complete; nothing to resume")
        if not checkpoint.is_file():
            raise EmofeatError(f"{out} has no checkpoint to resume from")
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if (diff := _describe(state["settings"], settings)):
            raise EmofeatError(f"cannot resume {out} with different settings ({diff})")
    else:
        if checkpoint.is_file() and not overwrite and not is_complete(out):
            raise EmofeatError(f"{out} holds an interrupted fine-tuning run; pass --resume to "
                               "continue it or --overwrite to start again")
        prepare_run_dir(out, overwrite)
        checkpoint.unlink(missing_ok=True)
        state = None

    seed_everything(config.seed)
    parts = _build(config, task, y_train, device, precision, len(rows["train"]))
    model = parts.model
    cfg = data_config(model, config.img_size)
    amp = autocast_for(precision, device)
    workers = config.workers if config.workers is not None else min(4, os.cpu_count() or 1)
    train_ds = ImageDataset(manifest.paths, train_transform(cfg, config))
    eval_ds = ImageDataset(manifest.paths, eval_transform(cfg))
    history: list[dict[str, Any]] = []
    best = {"epoch": -1, "val_balanced_accuracy": -1.0}
    start_epoch = 0
    failed: dict[int, str] = {}
    if state is not None:
        model.load_state_dict(state["model"])
        parts.optimizer.load_state_dict(state["optimizer"])
        parts.scheduler.load_state_dict(state["scheduler"])
        parts.scaler.load_state_dict(state["scaler"])
        history, best = state["history"], state["best"]
        failed = {int(k): v for k, v in state["failed"].items()}
        start_epoch = len(history)
        log.info("resuming %s after epoch %d", out, start_epoch)

    def loader(ds: Dataset, sampler: Any, gen: torch.Generator) -> DataLoader:
        """Batches of manifest rows drawn by ``sampler``; collate reports rows and failures."""
        return DataLoader(ds, batch_size=config.batch_size, sampler=sampler,
                          num_workers=workers, collate_fn=collate, generator=gen,
                          pin_memory=device.type == "cuda")

    def train_sampler(gen: torch.Generator) -> Any:
        if config.balance == "sampler":
            weights = np.zeros(len(manifest))
            weights[rows["train"]] = class_weights(y_train, task.n_classes)[y_train]
            return WeightedRandomSampler(weights.tolist(), len(rows["train"]), generator=gen)
        return SubsetRandomSampler(rows["train"], generator=gen)

    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        if epoch - best["epoch"] > config.patience and best["epoch"] >= 0:
            break
        gen = seed_everything(config.seed * 1000 + epoch)
        stats = _train_epoch(parts, loader(train_ds, train_sampler(gen), gen), labels, epoch,
                             config, device, amp, failed, progress)
        val_rows, val_probs = _predict(model, loader(eval_ds, rows["val"], gen), device, amp,
                                       failed)
        y_val = labels[val_rows].numpy()
        val_pred = val_probs.argmax(axis=1)
        val_loss = float(nn.functional.nll_loss(torch.log(torch.from_numpy(val_probs) + 1e-12),
                                                torch.from_numpy(y_val)))
        record = {"epoch": epoch + 1, **{k: round(v, 6) for k, v in stats.items()},
                  "val_loss": round(val_loss, 6),
                  "val_accuracy": round(float(np.mean(val_pred == y_val)), 6),
                  "val_balanced_accuracy": round(balanced_accuracy(y_val, val_pred), 6),
                  "lr": parts.optimizer.param_groups[0]["lr"]}
        history.append(record)
        if record["val_balanced_accuracy"] > best["val_balanced_accuracy"]:
            best = {"epoch": epoch, "val_balanced_accuracy": record["val_balanced_accuracy"]}
            _atomic_safetensors(model, out / WEIGHTS)
        _atomic_torch_save({
            "settings": settings, "model": model.state_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "scheduler": parts.scheduler.state_dict(), "scaler": parts.scaler.state_dict(),
            "history": history, "best": best, "failed": {str(k): v for k, v in failed.items()},
        }, checkpoint)
        if on_epoch is not None:
            on_epoch(record)
    train_seconds = time.perf_counter() - started

    # final scoring: the selected epoch's weights; test is read here for the first time
    model.load_state_dict(load_file(out / WEIGHTS, device=str(device)))
    gen = seed_everything(config.seed)
    pred_rows, probs = [], []
    for s in SPLIT_NAMES:
        r, p = _predict(model, loader(eval_ds, rows[s], gen), device, amp, failed)
        pred_rows += r
        if len(p):
            probs.append(p)
    scores = np.concatenate(probs)
    preds = Predictions(
        ids=[manifest.ids[r] for r in pred_rows],
        splits=[split.assignment[manifest.ids[r]] for r in pred_rows],
        y_true=labels[pred_rows].numpy(), y_pred=scores.argmax(axis=1), scores=scores,
        classes=task.classes)
    meta = {
        "kind": "finetune",
        "model": config.backbone,
        "model_summary": f"fine-tuned {config.backbone} ({config.weights} weights)",
        "task": task.name,
        "layer": "finetuned" if not config.freeze_until else f"from {config.freeze_until}",
        "splits_sha256": split.sha256,
        "manifest_sha256": manifest.sha256,
        "dataset_format": manifest.format,
        "hyperparameters": settings,
        "weights": parts.weights.to_dict(),
        "data_config": cfg,
        "best_epoch": best["epoch"] + 1,
        "history": history,
        "failed": sorted([manifest.ids[r], why] for r, why in failed.items()),
        "n": {s: sum(1 for x in preds.splits if x == s) for s in SPLIT_NAMES},
        "stopped_early": len(history) < config.epochs,
        "timings": {"train_seconds": round(train_seconds, 3),
                    "epochs_this_session": len(history) - start_epoch},
        "device": device.type,
        "score_kind": "probability",
        "model_files": [model_file_entry(out, WEIGHTS)],
    }
    record = finish_run(out, meta, preds, in_sample=("train",))
    checkpoint.unlink(missing_ok=True)
    return record


def load_finetuned(run_meta: dict[str, Any], weights_path: Path) -> nn.Module:
    """The fine-tuned model of a run (weights file already hash-checked by the caller)."""
    import timm

    model = timm.create_model(run_meta["model"], pretrained=False,
                              num_classes=len(run_meta["classes"]))
    model.load_state_dict(load_file(weights_path))
    return model.eval()

