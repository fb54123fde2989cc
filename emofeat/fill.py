"""The batch engine: decoded batches -> features -> feature store shards.

Batches never straddle a shard, so a shard's bytes do not depend on whether the run was
interrupted before it, nor on the rank that computed it in a job of several processes
(:mod:`emofeat.distributed`). Only the shard being filled is held in memory; shards are
written by a thread while the next batches are computed.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from emofeat.datasets import Manifest
from emofeat.device import resolve_batch_size
from emofeat.device_decode import DecodePlan, DeviceDecodeBatches
from emofeat.distributed import SINGLE, Ranks, finish_shared, shared_store
from emofeat.distributions import DISTRIBUTION_TASK, distribution_table
from emofeat.errors import EmofeatError
from emofeat.extract_config import ExtractConfig
from emofeat.frozen import FeatureModel
from emofeat.loading import ImageDataset, Progress, batch_loader, decode_workers
from emofeat.ratings import rating_table
from emofeat.splits import Split
from emofeat.store import StoreWriter

log = logging.getLogger(__name__)


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



#: Any batch -> pooled arrays function (e.g. hand-crafted features) can fill a store too.
FeatureFn = Callable[[torch.Tensor], dict[str, np.ndarray]]


class _Immediate:
    """A plain feature function with FeatureModel's submit/with interface."""

    def __init__(self, fn: FeatureFn) -> None:
        self.fn = fn

    def __enter__(self) -> _Immediate:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, images: torch.Tensor) -> Future[dict[str, np.ndarray]]:
        done: Future[dict[str, np.ndarray]] = Future()
        done.set_result(self.fn(images))
        return done


def fill_store(
    manifest: Manifest,
    out: str | Path,
    meta: dict[str, Any],
    split: Split,
    features: FeatureModel | FeatureFn,
    transform: Callable,
    config: ExtractConfig,
    device: torch.device,
    progress: Progress | None = None,
    ranks: Ranks = SINGLE,
    decoding: DecodePlan | None = None,
) -> Path:
    """Create or resume the store ``out`` described by ``meta``: every image goes through
    ``transform`` where images are decoded (threads of this process on the CPU, DataLoader
    workers on a GPU, see :func:`emofeat.loading.batch_loader`), or with ``decoding``
    through its decoder and transform on ``device`` (:mod:`emofeat.device_decode`), then
    ``features`` (a batch of transformed images -> one array per layer of ``meta``) in this
    process. Ranks share the shards to do."""
    source = features if isinstance(features, FeatureModel) else _Immediate(features)
    with shared_store(out, meta, len(manifest), split, config.overwrite, ranks) as (
            writer, mine, any_work):
        if not any_work:
            log.info("%s is already complete", out)
            if ranks.is_main and not writer.complete_on_disk:
                writer.finish()
            return Path(out)
        started = time.perf_counter()
        error: Exception | None = None
        try:
            if mine:
                with source:
                    _Engine(writer, manifest, config, progress).run(
                        _loader(manifest, writer, mine, transform, config, device, decoding),
                        source, mine)
        except Exception as exc:  # every rank must hear of it: raised by finish_shared
            error = exc
        finish_shared(writer, ranks, error, seconds=round(time.perf_counter() - started, 3),
                      device=device.type)
    if ranks.world > 1:
        log.info("rank %d wrote %d shards", ranks.rank, len(mine))
    if ranks.is_main:
        n_failed = writer.record.n_failed
        log.info("wrote %d rows x %d layers to %s%s", writer.record.n_rows,
                 len(writer.record.layers), out,
                 f" ({n_failed} images failed, see failed.csv)" if n_failed else "")
    return Path(out)


def _loader(manifest: Manifest, writer: StoreWriter, pending: Sequence[int],
            transform: Callable, config: ExtractConfig, device: torch.device,
            decoding: DecodePlan | None = None) -> Iterable[dict[str, Any]]:
    batches = ShardBatches([writer.ranges[i] for i in pending],
                           resolve_batch_size(config.batch_size, device))
    workers = decode_workers(config.workers, device)
    if decoding is not None:  # threads read the files (0 on the CPU: a thread per core)
        return DeviceDecodeBatches([str(p) for p in manifest.paths], batches, device,
                                   decoding.transform, workers or torch.get_num_threads(),
                                   decoding.decoder)
    return batch_loader(ImageDataset(manifest.paths, transform), batches, workers,
                        pin_memory=device.type == "cuda")


class _Engine:
    """Batches in, shards out: the model runs one batch ahead of the host copy, and complete
    shards are written by one writer thread (at most two waiting), in shard order."""

    MAX_WAITING_WRITES = 2

    def __init__(self, writer: StoreWriter, manifest: Manifest, config: ExtractConfig,
                 progress: Progress | None) -> None:
        self.writer, self.manifest, self.config, self.progress = (writer, manifest, config,
                                                                  progress)
        self.buffers: dict[int, _ShardBuffer] = {}
        self.writes: deque[Future[None]] = deque()
        self.done = 0
        self.total = 0
        self.ratings = rating_table(manifest) if writer.record.ratings is not None else {}
        self.distributions = {} if writer.record.distributions is None else {
            DISTRIBUTION_TASK: _table_values(manifest)}

    def run(self, loader: Iterable[dict[str, Any]], source: Any, pending: Sequence[int]) -> None:
        self.shard_of_row = {row: idx for idx in pending for row in self.writer.ranges[idx]}
        self.total = sum(len(self.writer.ranges[i]) for i in pending)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="emofeat-writer") as pool:
            self.pool = pool
            in_flight: tuple[dict[str, Any], Any] | None = None
            for batch in loader:
                self._check_failed(batch)
                started = (source.submit(batch["images"]) if batch["images"] is not None
                           else None)
                if in_flight is not None:
                    self._collect(*in_flight)
                in_flight = (batch, started)
            if in_flight is not None:
                self._collect(*in_flight)
            while self.writes:
                self.writes.popleft().result()

    def _check_failed(self, batch: dict[str, Any]) -> None:
        for row, why in batch["failed"]:
            if self.config.strict:
                raise EmofeatError(f"cannot read {self.manifest.ids[row]}: {why} (--strict)")
            log.warning("skipping %s: %s", self.manifest.ids[row], why)

    def _collect(self, batch: dict[str, Any], started: Any) -> None:
        rows = batch["rows"] + [r for r, _ in batch["failed"]]
        index = self.shard_of_row[rows[0]]
        buf = self.buffers.setdefault(index, _ShardBuffer())
        buf.failed.extend(batch["failed"])
        if started is not None:
            buf.rows.extend(batch["rows"])
            for name, arr in started.result().items():
                buf.features.setdefault(name, []).append(arr)
        buf.seen += len(rows)
        if buf.seen == len(self.writer.ranges[index]):
            while len(self.writes) >= self.MAX_WAITING_WRITES:
                self.writes.popleft().result()
            self.writes.append(self.pool.submit(_flush, self.writer, self.manifest, index,
                                                self.buffers.pop(index), self.ratings,
                                                self.distributions))
        self.done += len(rows)
        if self.progress is not None:
            self.progress(self.done, self.total)


def _flush(writer: StoreWriter, manifest: Manifest, index: int, buf: _ShardBuffer,
           ratings: dict[str, np.ndarray], distributions: dict[str, np.ndarray]) -> None:
    dims = {layer.name: layer.dim for layer in writer.record.layers}
    writer.write_shard(
        index,
        ids=[manifest.ids[r] for r in buf.rows],
        labels=[manifest.labels[r] for r in buf.rows],
        features={n: (np.concatenate(buf.features[n]) if buf.features.get(n)
                      else np.zeros((0, dims[n]), np.float32)) for n in dims},
        failed=sorted((manifest.ids[r], why) for r, why in buf.failed),
        ratings={c: values[buf.rows] for c, values in ratings.items()},
        distributions={t: values[buf.rows] for t, values in distributions.items()},
    )


def _table_values(manifest: Manifest) -> np.ndarray:
    table = distribution_table(manifest)
    assert table is not None  # the store records a distribution
    return table.values
