"""The batch engine: DataLoader -> frozen backbone -> pooled layers -> feature store shards.

Batches never straddle a shard, so a shard's bytes do not depend on whether the run was
interrupted before it. Only the shard being filled is held in memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from emofeat.backbones import (
    LayerInfo,
    WeightsInfo,
    create_backbone,
    data_config,
    default_layers,
    eval_transform,
    resolve_layers,
)
from emofeat.datasets import Manifest
from emofeat.device import resolve_device, resolve_precision
from emofeat.errors import EmofeatError
from emofeat.extract_config import ExtractConfig  # re-exported: emofeat.extract.ExtractConfig
from emofeat.frozen import FeatureModel
from emofeat.loading import ImageDataset, Progress, collate, default_workers, worker_init
from emofeat.provenance import versions
from emofeat.splits import Split, check_split_matches, make_split
from emofeat.store import StoreWriter, open_for_writing

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- engine


class ShardBatches(Sampler[list[int]]):
    """Batches of manifest rows that never cross a shard boundary, for the shards to do."""

    def __init__(self, shards: Sequence[range], batch_size: int) -> None:
        self.batches = [list(rows[i:i + batch_size])
                        for rows in shards for i in range(0, len(rows), batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


@dataclass
class _ShardBuffer:
    rows: list[int] = field(default_factory=list)
    features: dict[str, list[np.ndarray]] = field(default_factory=dict)
    failed: list[tuple[int, str]] = field(default_factory=list)
    seen: int = 0


def dataset_meta(manifest: Manifest, split: Split, shard_size: int,
                 min_agree: int | None) -> dict[str, Any]:
    """store.json fields every store has, whatever computes its features."""
    from emofeat.store import FORMAT_VERSION, STORE_FORMAT

    return {
        "format": STORE_FORMAT,
        "format_version": FORMAT_VERSION,
        "status": "incomplete",
        "shard_size": shard_size,
        "dataset": {"format": manifest.format, "n_images": len(manifest),
                    "manifest_sha256": manifest.sha256, "min_agree": min_agree},
        "dataset_root": str(manifest.root.resolve()),
        "splits_sha256": split.sha256,
        "versions": versions(),
    }


def build_meta(
    config: ExtractConfig,
    manifest: Manifest,
    split: Split,
    weights: WeightsInfo,
    cfg: dict[str, Any],
    layers: Sequence[LayerInfo],
    precision: str,
    min_agree: int | None,
) -> dict[str, Any]:
    return {
        **dataset_meta(manifest, split, config.shard_size, min_agree),
        "backbone": config.backbone,
        "weights": weights.to_dict(),
        "data_config": cfg,
        "layers": [{"name": i.name, "dim": i.dim(config.pooling), "channels": i.channels,
                    "stride": i.stride} for i in layers],
        "pooling": config.pooling,
        "dtype": config.dtype,
        "precision": precision,
    }


def extract(
    manifest: Manifest,
    out: str | Path,
    config: ExtractConfig | None = None,
    split: Split | None = None,
    min_agree: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Extract pooled features of ``manifest`` into the store at ``out``; returns ``out``.

    Re-running with the same configuration resumes; see :mod:`emofeat.store`.
    """
    config = config or ExtractConfig()
    config.check()
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    split = split or make_split(manifest)
    check_split_matches(split, manifest.ids, source="the split")

    model, weights = create_backbone(config.backbone, config.weights, seed=config.seed)
    cfg = data_config(model)
    names = list(config.layers) if config.layers else list(default_layers(config.backbone, model))
    if not names:
        raise EmofeatError(f"no default layers for {config.backbone}; pass --layers")
    layers = resolve_layers(model, names, cfg["input_size"])
    meta = build_meta(config, manifest, split, weights, cfg, layers, precision, min_agree)
    features = FeatureModel(model, names, config.pooling, device, precision,
                            micro_batch=config.batch_size)
    return fill_store(manifest, out, meta, split, features, eval_transform(cfg), config,
                      device, progress)


FeatureFn = Callable[[torch.Tensor], dict[str, np.ndarray]]


def fill_store(
    manifest: Manifest,
    out: str | Path,
    meta: dict[str, Any],
    split: Split,
    features: FeatureFn,
    transform: Callable,
    config: ExtractConfig,
    device: torch.device,
    progress: Progress | None = None,
) -> Path:
    """Create or resume the store ``out`` described by ``meta``: every image goes through
    ``transform`` in the DataLoader workers, then ``features`` (a batch of transformed images
    -> one array per layer of ``meta``) in this process."""
    with open_for_writing(out, meta, len(manifest), split, config.overwrite) as writer:
        pending = writer.pending()
        if not pending:
            log.info("%s is already complete", out)
            if not writer.complete_on_disk:
                writer.finish()
            return Path(out)
        started = time.perf_counter()
        _run_shards(writer, manifest, features, transform, config, device, pending, progress)
        writer.meta["seconds"] = round(time.perf_counter() - started, 3)
        writer.meta["device"] = device.type
        writer.finish()
    n_failed = writer.meta["n_failed"]
    log.info("wrote %d rows x %d layers to %s%s", writer.meta["n_rows"],
             len(writer.meta["layers"]), out,
             f" ({n_failed} images failed, see failed.csv)" if n_failed else "")
    return Path(out)


def _run_shards(
    writer: StoreWriter,
    manifest: Manifest,
    features: FeatureFn,
    transform: Callable,
    config: ExtractConfig,
    device: torch.device,
    pending: Sequence[int],
    progress: Progress | None,
) -> None:
    shards = [writer.ranges[i] for i in pending]
    total = sum(len(r) for r in shards)
    workers = default_workers(config.workers)
    loader = DataLoader(
        ImageDataset(manifest.paths, transform),
        batch_sampler=ShardBatches(shards, config.batch_size),
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        worker_init_fn=worker_init if workers else None,
        prefetch_factor=4 if workers else None,
    )
    shard_of_row = {row: idx for idx in pending for row in writer.ranges[idx]}
    buffers: dict[int, _ShardBuffer] = {}
    done = 0
    for batch in loader:
        rows = batch["rows"] + [r for r, _ in batch["failed"]]
        index = shard_of_row[rows[0]]
        buf = buffers.setdefault(index, _ShardBuffer())
        for row, why in batch["failed"]:
            if config.strict:
                raise EmofeatError(f"cannot read {manifest.ids[row]}: {why} (--strict)")
            log.warning("skipping %s: %s", manifest.ids[row], why)
        buf.failed.extend(batch["failed"])
        if batch["images"] is not None:
            pooled = features(batch["images"])
            buf.rows.extend(batch["rows"])
            for name, arr in pooled.items():
                buf.features.setdefault(name, []).append(arr)
        buf.seen += len(rows)
        if buf.seen == len(writer.ranges[index]):
            _flush(writer, manifest, index, buffers.pop(index))
        done += len(rows)
        if progress is not None:
            progress(done, total)


def _flush(writer: StoreWriter, manifest: Manifest, index: int, buf: _ShardBuffer) -> None:
    dims = {d["name"]: d["dim"] for d in writer.meta["layers"]}
    writer.write_shard(
        index,
        ids=[manifest.ids[r] for r in buf.rows],
        labels=[manifest.labels[r] for r in buf.rows],
        features={n: (np.concatenate(buf.features[n]) if buf.features.get(n)
                      else np.zeros((0, dims[n]), np.float32)) for n in dims},
        failed=sorted((manifest.ids[r], why) for r, why in buf.failed),
    )
