"""Fine-tuning a small timm model on the same split: the yardstick for frozen features.

AdamW with a warm-up + cosine schedule (timm's scheduler), timm's training transforms
(random resized crop and flip; colour jitter only when asked, since colour carries emotion),
class-balanced loss or sampler, optional partial fine-tuning, AMP and channels_last on CUDA,
gradient clipping, early stopping on val balanced accuracy (the distribution task: a KL
divergence loss to the annotators' distributions, early stopping on val mean KL). Every
epoch starts from a seed derived from (seed, epoch), and a checkpoint is written after it,
so a resumed run ends exactly where an uninterrupted one does. ``test`` is read once, after
training.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader, SubsetRandomSampler, WeightedRandomSampler

from emofeat.backbones import data_config, eval_transform
from emofeat.datasets import Manifest
from emofeat.datasets.labels import label_rule_of
from emofeat.device import autocast_for, resolve_device
from emofeat.finetune.config import CHECKPOINT, WEIGHTS, FinetuneConfig
from emofeat.finetune.data import TrainData, criterion, val_scores
from emofeat.finetune.loop import (
    Progress,
    atomic_safetensors,
    atomic_torch_save,
    predict,
    train_epoch,
)
from emofeat.finetune.model import (
    Parts,
    build,
    class_weights,
    seed_everything,
    train_transform,
)
from emofeat.finetune.resume import checkpoint_to_resume, finetune_settings
from emofeat.loading import ImageDataset, collate, default_workers
from emofeat.runs.directory import finish_run, model_file_entry
from emofeat.runs.predictions import DistributionPredictions, Predictions
from emofeat.runs.record import FinetuneRun
from emofeat.splits import SPLIT_NAMES, Split

log = logging.getLogger(__name__)

EpochCallback = Callable[[dict[str, Any]], None]

@dataclass
class _Trainer:
    """The state of one fine-tuning run between epochs (what a checkpoint holds)."""

    config: FinetuneConfig
    data: TrainData
    parts: Parts
    device: torch.device
    amp: Callable
    cfg: dict[str, Any]
    workers: int
    history: list[dict[str, Any]] = field(default_factory=list)
    # the chosen epoch so far and its score (val balanced accuracy, or the distribution
    # task's val KL divergence)
    best: dict[str, Any] = field(default_factory=lambda: {"epoch": -1})
    failed: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        paths = self.data.manifest.paths
        self.train_ds = ImageDataset(paths, train_transform(self.cfg, self.config))
        self.eval_ds = ImageDataset(paths, eval_transform(self.cfg))

    def loader(self, dataset: ImageDataset, sampler: Any, gen: torch.Generator) -> DataLoader:
        """Batches of manifest rows drawn by ``sampler``; collate reports rows and failures."""
        return DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler,
                          num_workers=self.workers, collate_fn=collate, generator=gen,
                          pin_memory=self.device.type == "cuda")

    def train_sampler(self, gen: torch.Generator) -> Any:
        train = self.data.rows["train"]
        if self.config.balance == "sampler":
            weights = np.zeros(len(self.data.manifest))
            y = self.data.y_train
            weights[train] = class_weights(y, self.data.task.n_classes)[y]
            return WeightedRandomSampler(weights.tolist(), len(train), generator=gen)
        return SubsetRandomSampler(train, generator=gen)

    def predict(self, split: str, gen: torch.Generator) -> tuple[list[int], np.ndarray]:
        loader = self.loader(self.eval_ds, self.data.rows[split], gen)
        return predict(self.parts.model, loader, self.device, self.amp, self.failed)

    def epoch(self, epoch: int, progress: Progress | None) -> dict[str, Any]:
        """Train one epoch (seeded by (seed, epoch)) and score val."""
        gen = seed_everything(self.config.seed * 1000 + epoch)
        stats = train_epoch(self.parts, self.loader(self.train_ds, self.train_sampler(gen), gen),
                            self.data.labels, epoch, self.config, self.device, self.amp,
                            self.failed, progress)
        rows, probs = self.predict("val", gen)
        y_val = self.data.labels[rows].numpy()
        record = {"epoch": epoch + 1, **{k: round(v, 6) for k, v in stats.items()},
                  **val_scores(self.data.task, y_val.astype(np.float64)
                                if y_val.ndim == 2 else y_val, probs),
                  "lr": self.parts.optimizer.param_groups[0]["lr"]}
        self.history.append(record)
        return record

    def state(self, settings: dict[str, Any]) -> dict[str, Any]:
        parts = self.parts
        return {"settings": settings, "model": parts.model.state_dict(),
                "optimizer": parts.optimizer.state_dict(),
                "scheduler": parts.scheduler.state_dict(), "scaler": parts.scaler.state_dict(),
                "history": self.history, "best": self.best,
                "failed": {str(k): v for k, v in self.failed.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        parts = self.parts
        parts.model.load_state_dict(state["model"])
        parts.optimizer.load_state_dict(state["optimizer"])
        parts.scheduler.load_state_dict(state["scheduler"])
        parts.scaler.load_state_dict(state["scaler"])
        self.history, self.best = state["history"], state["best"]
        self.failed = {int(k): v for k, v in state["failed"].items()}

    def should_stop(self, epoch: int) -> bool:
        return self.best["epoch"] >= 0 and epoch - self.best["epoch"] > self.config.patience

    def score_all(self, weights: Path) -> Predictions | DistributionPredictions:
        """The chosen epoch's weights on every split; test is read here, for the first time."""
        self.parts.model.load_state_dict(load_file(weights, device=str(self.device)))
        gen = seed_everything(self.config.seed)
        rows: list[int] = []
        probs = []
        for s in SPLIT_NAMES:
            r, p = self.predict(s, gen)
            rows += r
            if len(p):
                probs.append(p)
        scores = np.concatenate(probs)
        ids = self.data.manifest.ids
        if self.data.task.kind == "distribution":
            return DistributionPredictions(
                ids=[ids[r] for r in rows],
                splits=[self.data.split.assignment[ids[r]] for r in rows],
                y_true=self.data.labels[rows].numpy().astype(np.float64),
                y_pred=scores.astype(np.float64), classes=self.data.task.classes)
        return Predictions(ids=[ids[r] for r in rows],
                           splits=[self.data.split.assignment[ids[r]] for r in rows],
                           y_true=self.data.labels[rows].numpy(),
                           y_pred=scores.argmax(axis=1), scores=scores,
                           classes=self.data.task.classes)


def _train(trainer: _Trainer, out: Path, settings: dict[str, Any],
           on_epoch: EpochCallback | None, progress: Progress | None) -> float:
    """The epochs still to do (early stopping on val); returns the seconds they took. The
    best epoch's weights and a checkpoint after every epoch are written to ``out``."""
    started = time.perf_counter()
    for epoch in range(len(trainer.history), trainer.config.epochs):
        if trainer.should_stop(epoch):
            break
        record = trainer.epoch(epoch, progress)
        key, sign = criterion(trainer.data.task)
        if trainer.best["epoch"] < 0 or sign * record[key] > sign * trainer.best[key]:
            trainer.best = {"epoch": epoch, key: record[key]}
            atomic_safetensors(trainer.parts.model, out / WEIGHTS)
        atomic_torch_save(trainer.state(settings), out / CHECKPOINT)
        if on_epoch is not None:
            on_epoch(record)
    return time.perf_counter() - started


def _run_record(trainer: _Trainer, settings: dict[str, Any],
                preds: Predictions | DistributionPredictions,
                timings: dict[str, float], out: Path) -> FinetuneRun:
    config, data = trainer.config, trainer.data
    ids = data.manifest.ids
    return FinetuneRun(
        model=config.backbone,
        model_summary=f"fine-tuned {config.backbone} ({config.weights} weights)",
        task=data.task.name,
        layer="finetuned" if not config.freeze_until else f"from {config.freeze_until}",
        splits_sha256=data.split.sha256,
        split_groups=data.split.group_info,
        manifest_sha256=data.manifest.sha256,
        dataset_format=data.manifest.format,
        label_from=label_rule_of(data.manifest),
        hyperparameters=settings,
        weights=trainer.parts.weights.to_dict(),
        data_config=trainer.cfg,
        best_epoch=trainer.best["epoch"] + 1,
        history=tuple(trainer.history),
        failed=tuple(sorted((ids[r], why) for r, why in trainer.failed.items())),
        n={s: sum(1 for x in preds.splits if x == s) for s in SPLIT_NAMES},
        stopped_early=len(trainer.history) < config.epochs,
        timings=timings,
        device=trainer.device.type,
        score_kind="distribution" if data.task.kind == "distribution" else "probability",
        model_files=(model_file_entry(out, WEIGHTS),),
    )


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
    data = TrainData.of(manifest, split, config.task, config.drop_invalid)
    settings = finetune_settings(config, manifest, split)
    precision = settings["precision"]
    state = checkpoint_to_resume(out, resume, overwrite, settings)

    seed_everything(config.seed)
    parts = build(config, data.task, data.y_train, device, precision, len(data.rows["train"]))
    trainer = _Trainer(config, data, parts, device, autocast_for(precision, device),
                       data_config(parts.model, config.img_size),
                       default_workers(config.workers))
    if state is not None:
        trainer.restore(state)
        log.info("resuming %s after epoch %d", out, len(trainer.history))
    start_epoch = len(trainer.history)
    train_seconds = _train(trainer, out, settings, on_epoch, progress)
    preds = trainer.score_all(out / WEIGHTS)
    timings = {"train_seconds": round(train_seconds, 3),
               "epochs_this_session": len(trainer.history) - start_epoch}
    record = finish_run(out, _run_record(trainer, settings, preds, timings, out), preds,
                        in_sample=("train",))
    (out / CHECKPOINT).unlink(missing_ok=True)
    return record
