"""The image side of a zero-shot run: embeddings from a feature store (layer ``embedding``
of a store made with the same open_clip model) or from a data set's images, batch by batch."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from torch import nn

from emofeat.backbones.weights_info import WeightsInfo
from emofeat.errors import EmofeatError
from emofeat.loading import Progress
from emofeat.taxonomy import Task
from emofeat.zeroshot.config import EMBEDDING_LAYER, ImageSet, ZeroshotConfig
from emofeat.zeroshot.text import cosine_logits

log = logging.getLogger(__name__)


def is_store(path: str | Path) -> bool:
    return (Path(path) / "store.json").is_file()


def _targets(task: Task, labels: tuple[str | None, ...]) -> np.ndarray:
    y = np.full(len(labels), -1, dtype=np.int64)
    usable = np.array([lab is not None for lab in labels], dtype=bool)
    y[usable] = task.encode([lab for lab in labels if lab is not None])
    return y


def _stacked(embeddings: np.ndarray, sets: list[np.ndarray], scale: float) -> np.ndarray:
    return np.stack([cosine_logits(embeddings, c, scale) for c in sets], axis=1)


def from_store(path: Path, config: ZeroshotConfig, splits_file: str | Path | None
               ) -> tuple[ImageSet, Task]:
    from emofeat.classical.storedata import load_features, store_split, store_task_labels
    from emofeat.store import Store

    store = Store.open(path)
    rec = store.record
    if rec.backbone != config.model:
        raise EmofeatError(f"the store {path} holds features of {rec.backbone}, not "
                           f"{config.model}: pass --model {rec.backbone}, or give the images")
    if EMBEDDING_LAYER not in store.layer_names:
        raise EmofeatError(f"the store {path} has no layer '{EMBEDDING_LAYER}' (the image "
                           f"embedding prompts are compared with; its layers: "
                           f"{', '.join(store.layer_names)}): extract with --layers "
                           f"...,{EMBEDDING_LAYER}, or give the images")
    split = store_split(store, splits_file)
    labels = store_task_labels(store, config.task)
    embeddings = load_features(store, [EMBEDDING_LAYER])
    images = ImageSet(
        ids=list(store.ids), y=_targets(labels.task, labels.labels), split=split,
        fmt=rec.dataset.format, manifest_sha256=rec.dataset.manifest_sha256,
        label_from=rec.dataset.label_from,
        features={"via": "store", "store": str(path.resolve()), "store_sha256": store.sha256},
        weights=dict(rec.weights), data_config=dict(rec.data_config),
        logits=lambda sets, scale: _stacked(embeddings, sets, scale),
        failed=tuple(sorted(store.failed.items())))
    return images, labels.task


def from_images(data: Path, config: ZeroshotConfig, clip: nn.Module, weights: WeightsInfo,
                splits_file: str | Path | None, fmt: str, min_agree: int | None,
                allow_outside_root: bool, label_from: str | None,
                progress: Progress | None) -> tuple[ImageSet, Task]:
    """The images of a data set; their embeddings are computed when the logits are asked
    for, one batch at a time (only the logits are kept). An image that cannot be read is
    skipped, logged and recorded in ``failed``."""
    from emofeat.backbones import data_config
    from emofeat.backbones.openclip import OpenClipImage
    from emofeat.datasets import load_manifest
    from emofeat.datasets.labels import label_rule_of
    from emofeat.datasets.tasks import manifest_task_labels
    from emofeat.device import resolve_batch_size, resolve_device, resolve_precision
    from emofeat.frozen import FeatureModel
    from emofeat.loading import ImageDataset, batch_loader, decode_workers, uint8_transform
    from emofeat.splits import choose_split

    manifest = load_manifest(data, fmt, min_agree, allow_outside_root, label_from)
    split = choose_split(manifest, splits_file)
    labels = manifest_task_labels(manifest, config.task)
    y = _targets(labels.task, labels.labels)
    tower = OpenClipImage(clip.visual).eval()
    cfg = data_config(tower)
    device = resolve_device(config.device)
    batch = resolve_batch_size(config.batch_size, device)
    rows = [r for r in np.flatnonzero(y >= 0).tolist()
            if manifest.ids[r] in split.assignment]
    failed: list[tuple[str, str]] = []

    def logits(sets: list[np.ndarray], scale: float) -> np.ndarray:
        out = np.zeros((len(manifest), len(sets), len(sets[0])), dtype=np.float64)
        model = FeatureModel(tower, [EMBEDDING_LAYER], "avg", device,
                             resolve_precision(config.precision, device), micro_batch=batch,
                             mean=cfg["mean"], std=cfg["std"])
        loader = batch_loader(ImageDataset(manifest.paths, uint8_transform(cfg)),
                              [rows[i:i + batch] for i in range(0, len(rows), batch)],
                              decode_workers(config.workers, device),
                              pin_memory=device.type == "cuda")
        done = 0
        with model:
            for b in loader:
                for row, why in b["failed"]:
                    log.warning("skipping %s: %s", manifest.ids[row], why)
                    failed.append((manifest.ids[row], why))
                    y[row] = -1  # no prediction: left out of every split
                if b["images"] is not None:
                    emb = model(b["images"])[EMBEDDING_LAYER]
                    out[b["rows"]] = _stacked(emb, sets, scale)
                done += len(b["rows"]) + len(b["failed"])
                if progress is not None:
                    progress(done, len(rows))
        images.failed = tuple(sorted(failed))
        return out

    images = ImageSet(
        ids=list(manifest.ids), y=y, split=split, fmt=manifest.format,
        manifest_sha256=manifest.sha256, label_from=label_rule_of(manifest),
        features={"via": "images"}, weights=weights.to_dict(), data_config=cfg,
        logits=logits)
    return images, labels.task
