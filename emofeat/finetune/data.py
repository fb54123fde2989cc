"""What a fine-tuning run trains on: a task's images and targets per split (class indices or the
annotators' distributions), the val criterion and the val scores of an epoch."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from emofeat.classical.caveats import small_val_of
from emofeat.datasets import Manifest
from emofeat.datasets.tasks import manifest_task_labels
from emofeat.errors import EmofeatError
from emofeat.metrics import balanced_accuracy, distribution_metrics
from emofeat.splits import SPLIT_NAMES, Split, check_split_matches
from emofeat.taxonomy import DISTRIBUTION_TASKS, DistributionTask, Task

log = logging.getLogger(__name__)


@dataclass
class TrainData:
    """The manifest seen through a split and a task: rows per split, encoded labels (the
    distribution task: each row's distribution, N x classes)."""

    manifest: Manifest
    split: Split
    task: Task | DistributionTask
    rows: dict[str, list[int]]
    labels: torch.Tensor

    @classmethod
    def of(cls, manifest: Manifest, split: Split, task_name: str,
           drop_invalid: bool = False) -> TrainData:
        check_split_matches(split, manifest.ids, source="the split")
        if task_name in DISTRIBUTION_TASKS:
            return cls._of_distribution(manifest, split, task_name, drop_invalid)
        labels = manifest_task_labels(manifest, task_name)
        task = labels.task
        rows = {s: [i for i, k in enumerate(manifest.ids)
                    if split.assignment[k] == s and labels.labels[i] is not None]
                for s in SPLIT_NAMES}
        for reason, n in labels.left_out.items():
            log.warning("%d images have no %s label (%s); left out of fine-tuning", n,
                        task_name, reason)
        if not rows["val"]:
            raise EmofeatError("the split has no val images; the epoch is chosen on val")
        encoded = np.full(len(manifest), -1, dtype=np.int64)
        encoded[[i for i, lab in enumerate(labels.labels) if lab is not None]] = \
            task.encode(labels.served)
        data = cls(manifest, split, task, rows, torch.from_numpy(encoded))
        present = set(data.y_train.tolist())
        missing = [task.classes[k] for k in range(task.n_classes) if k not in present]
        if missing:
            raise EmofeatError(f"class(es) {', '.join(missing)} have no train images")
        small_val_of([task], manifest.ids, {task.name: labels.labels}, split.assignment)
        return data

    @classmethod
    def _of_distribution(cls, manifest: Manifest, split: Split, task_name: str,
                         drop_invalid: bool) -> TrainData:
        from emofeat.distributions import distribution_table

        table = distribution_table(manifest, drop_invalid)
        if table is None:
            raise EmofeatError(f"the {manifest.format} data set has no emotion distribution "
                               "(per-class shares or vote counts)")
        usable = table.usable
        rows = {s: [i for i, k in enumerate(manifest.ids)
                    if split.assignment[k] == s and usable[i]] for s in SPLIT_NAMES}
        for reason, n in table.invalid.items():
            log.warning("%d images have an invalid distribution (%s); left out of "
                        "fine-tuning", n, reason)
        if not rows["val"]:
            raise EmofeatError("the split has no val images; the epoch is chosen on val")
        values = np.nan_to_num(table.values, nan=0.0).astype(np.float32)
        return cls(manifest, split, DistributionTask(task_name, table.classes), rows,
                   torch.from_numpy(values))

    @property
    def y_train(self) -> np.ndarray:
        """Train labels as class indices (the distribution task: the dominant emotions)."""
        y = self.labels[self.rows["train"]].numpy()
        return y.argmax(axis=1) if y.ndim == 2 else y


def criterion(task: Task | DistributionTask) -> tuple[str, float]:
    """The val score that chooses the epoch, and its sign (higher sign * score wins)."""
    return ("val_kl_divergence", -1.0) if task.kind == "distribution" else \
        ("val_balanced_accuracy", 1.0)


def val_scores(task: Task | DistributionTask, y_val: np.ndarray, probs: np.ndarray
                ) -> dict[str, float]:
    if task.kind == "distribution":
        d = distribution_metrics(y_val, probs)
        return {"val_loss": d["kl_divergence"], "val_kl_divergence": d["kl_divergence"],
                "val_cosine": d["cosine"], "val_top1_accuracy": d["top1_accuracy"]}
    pred = probs.argmax(axis=1)
    loss = nn.functional.nll_loss(torch.log(torch.from_numpy(probs) + 1e-12),
                                  torch.from_numpy(y_val))
    return {"val_loss": round(float(loss), 6),
            "val_accuracy": round(float(np.mean(pred == y_val)), 6),
            "val_balanced_accuracy": round(balanced_accuracy(y_val, pred), 6)}
