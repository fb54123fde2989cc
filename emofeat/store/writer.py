"""Writing a feature store: shards under temporary names, then the shard table in store.json.

A shard is written under a temporary name and renamed when complete; the shard table is
updated after the rename, and ``status`` becomes ``complete`` only when every shard is in.
Re-running the same configuration skips shards whose hash verifies, so an interrupted run
ends with the same bytes as an uninterrupted one. One writing process at a time (a lock, see
:mod:`emofeat.store.lock`); in a job of several ranks that process is rank 0, and the other
ranks write only their own shards and journals (:func:`join_for_writing`,
:mod:`emofeat.store.journal`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emofeat.atomic import replacing, write_text
from emofeat.csvrows import write_row
from emofeat.errors import EmofeatError, StoreChanged
from emofeat.hashing import sha256_file
from emofeat.splitfile import Split, write_split
from emofeat.store.journal import JOURNAL_GLOB, read_journals, remove_journals, write_journal
from emofeat.store.lock import LOCK_FILE
from emofeat.store.lock import exclusive_lock as _exclusive_lock
from emofeat.store.record import (
    STORE_FORMAT,
    STORE_JSON,
    ShardEntry,
    StoreRecord,
    as_record,
    describe_difference,
)

log = logging.getLogger(__name__)

META_FILE = "store.json"
SPLITS_FILE = "splits.csv"
FAILED_FILE = "failed.csv"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.h5"


def shard_ranges(n_rows: int, shard_size: int) -> list[range]:
    """Manifest rows of each shard: fixed-size slices in manifest order."""
    return [range(s, min(s + shard_size, n_rows)) for s in range(0, n_rows, shard_size)]


def _shard_image(record: StoreRecord, index: int, ids: Sequence[str],
                 labels: Sequence[str], features: Mapping[str, np.ndarray],
                 ratings: Mapping[str, Sequence[float]] | None = None,
                 distributions: Mapping[str, np.ndarray] | None = None) -> bytes:
    """One HDF5 shard: /ids, /labels, /features/<layer> with each layer's metadata,
    /ratings/<column> when the store records ratings, /distributions/<task> when it records
    distributions.

    Built in memory (the same bytes HDF5 writes to disk), so that a full disk fails a plain
    write, which is reported cleanly, and never HDF5 halfway through closing a file."""
    dtype = np.dtype(record.dtype)
    string = h5py.string_dtype("utf-8")
    name = f"shard-{index}-{os.getpid()}-{threading.get_ident()}"
    with h5py.File(name, "w", driver="core", backing_store=False) as f:
        f.attrs["format"] = STORE_FORMAT
        f.attrs["shard_index"] = index
        f.attrs["backbone"] = record.backbone
        f.attrs["pooling"] = record.pooling
        f.create_dataset("ids", data=np.array(list(ids), dtype=object), dtype=string)
        f.create_dataset("labels", data=np.array(list(labels), dtype=object), dtype=string)
        group = f.create_group("features")
        for layer in record.layers:
            arr = np.asarray(features[layer.name], dtype=dtype).reshape(len(ids), layer.dim)
            ds = group.create_dataset(layer.name, data=arr)
            ds.attrs["channels"] = layer.channels
            ds.attrs["stride"] = layer.stride
            ds.attrs["dim"] = layer.dim
            ds.attrs["module"] = layer.name
        if record.ratings is not None:
            given = ratings or {}
            group = f.create_group("ratings")
            for column in record.ratings.columns:
                if column not in given:
                    raise RuntimeError(f"shard {index}: no values of rating '{column}'")
                values = np.asarray(given[column], dtype=np.float64).reshape(len(ids))
                group.create_dataset(column, data=values)
        if record.distributions is not None:
            group = f.create_group("distributions")
            for task, info in record.distributions.items():
                if task not in (distributions or {}):
                    raise RuntimeError(f"shard {index}: no distribution '{task}'")
                values = np.asarray(distributions[task], dtype=np.float64)  # type: ignore[index]
                group.create_dataset(task, data=values.reshape(len(ids), len(info.classes)))
        f.flush()
        return bytes(f.id.get_file_image())


@dataclass
class StoreWriter:
    """Writes one store; use through :func:`open_for_writing` (which takes the lock), or
    :func:`join_for_writing` in ranks other than 0."""

    path: Path
    record: StoreRecord
    ranges: list[range]
    done: dict[int, ShardEntry] = field(default_factory=dict)
    complete_on_disk: bool = False  # resumed a complete store whose shards all verified
    rank: int = 0  # not 0: shards are recorded in this rank's journal, not in store.json

    def pending(self) -> list[int]:
        """Indices of shards still to write, in order."""
        return [i for i in range(len(self.ranges)) if i not in self.done]

    def write_shard(
        self,
        index: int,
        ids: Sequence[str],
        labels: Sequence[str],
        features: Mapping[str, np.ndarray],
        failed: Sequence[tuple[str, str]] = (),
        ratings: Mapping[str, Sequence[float]] | None = None,
        distributions: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Write shard ``index`` to a temporary file, rename it into place, record it.
        ``ratings``: the values of each rating column of the record, row by row;
        ``distributions``: each distribution of the record, (rows, classes)."""
        final = self.path / shard_name(index)
        image = _shard_image(self.record, index, ids, labels, features, ratings,
                             distributions)
        with replacing(final) as tmp, open(tmp, "wb") as fh:
            fh.write(image)
            fh.flush()
            os.fsync(fh.fileno())
        self.done[index] = ShardEntry(index=index, file=final.name, rows=len(ids),
                                      sha256=sha256_file(final),
                                      failed=tuple((str(i), str(why)) for i, why in failed))
        if self.rank:
            write_journal(self.path, self.rank, self.done.values())
        else:
            self._save(status="incomplete")

    def record_shards(self, entries: Iterable[ShardEntry]) -> None:
        """Rank 0: add shards that other ranks wrote to the shard table."""
        self.done.update((entry.index, entry) for entry in entries)
        self._save(status="incomplete")

    def _save(self, status: str) -> None:
        shards = tuple(self.done[i] for i in sorted(self.done))
        failed = sorted((r for s in shards for r in s.failed), key=lambda r: r[0])
        self.record = replace(self.record, status=status, shards=shards,
                              n_rows=sum(s.rows for s in shards), n_failed=len(failed))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["id", "reason"])
        for row in failed:
            write_row(buf, writer, row)
        write_text(self.path / FAILED_FILE, buf.getvalue())
        STORE_JSON.write(self.path / META_FILE, self.record)

    def finish(self, seconds: float | None = None, device: str | None = None) -> None:
        """Mark the store complete, with the time and device of this session if given."""
        if self.rank:
            raise RuntimeError("only rank 0 finishes a store")
        if self.pending():
            raise RuntimeError(f"shards {self.pending()} were not written")
        notes = {k: v for k, v in (("seconds", seconds), ("device", device)) if v is not None}
        self.record = replace(self.record, **notes)
        self._save(status="complete")
        remove_journals(self.path)


def _previous(path: Path, record: StoreRecord, overwrite: bool) -> StoreRecord | None:
    """The store already at ``path`` if this run continues it; None: start afresh."""
    meta_path = path / META_FILE
    if not meta_path.exists():
        if any(p.name != LOCK_FILE for p in path.iterdir()):
            raise EmofeatError(f"{path} is not empty and holds no feature store; "
                               "choose another --out (it is never overwritten)")
        return None
    old = STORE_JSON.read(meta_path)
    # a store written before emofeat recorded ratings or distributions goes on without them
    missing = {k: None for k in ("ratings", "distributions")
               if getattr(old, k) is None and getattr(record, k) is not None}
    if missing and not describe_difference(old, replace(record, **missing)):
        log.warning("%s was written without the data set's %s; it is kept as it is "
                    "(re-extract with --overwrite to record them)", path,
                    " and ".join(missing))
        return old
    if diff := describe_difference(old, record):
        if not overwrite:
            raise StoreChanged(f"{path} holds a store with another configuration ({diff}); "
                               "use another --out or pass --overwrite", diff)
        return None
    return old


def _verifies(writer: StoreWriter, entry: ShardEntry) -> bool:
    file = writer.path / entry.file
    return (0 <= entry.index < len(writer.ranges) and entry.file == shard_name(entry.index)
            and file.is_file() and sha256_file(file) == entry.sha256)


def _keep_verified(writer: StoreWriter, old: StoreRecord) -> None:
    """Keep the shards of store.json, and of the journals of ranks other than 0, whose files
    verify; the rest are redone."""
    for entry in (*old.shards, *read_journals(writer.path)):
        if entry.index in writer.done:
            continue
        if _verifies(writer, entry):
            writer.done[entry.index] = entry
        else:
            log.warning("shard %s is missing or damaged; it will be redone", entry.file)
    log.info("resuming %s: %d of %d shards already complete", writer.path, len(writer.done),
             len(writer.ranges))


@contextmanager
def open_for_writing(
    path: str | Path,
    meta: StoreRecord | Mapping[str, Any],
    n_rows: int,
    split: Split,
    overwrite: bool = False,
) -> Iterator[StoreWriter]:
    """Create or resume a store for ``meta`` (its record without the shard table, or the
    same as store.json fields in a dict).

    An existing store with another configuration is refused, naming what differs, unless
    ``overwrite``. Complete shards whose hash verifies are kept; the rest are redone.
    """
    path = Path(path)
    base = as_record(meta)
    ranges = shard_ranges(n_rows, base.shard_size)
    record = replace(base, n_shards=len(ranges))
    if path.exists() and not path.is_dir():
        raise EmofeatError(f"{path} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(path):
        old = _previous(path, record, overwrite)
        if old is not None:  # an older store goes on without ratings or distributions
            record = replace(record, **{k: None for k in ("ratings", "distributions")
                                        if getattr(old, k) is None})
        if old is None:
            for pattern in ("shard-*.h5", ".*.tmp*", JOURNAL_GLOB, META_FILE, SPLITS_FILE,
                            FAILED_FILE):
                for child in path.glob(pattern):
                    child.unlink()
        writer = StoreWriter(path, record, ranges)
        if old is not None:
            _keep_verified(writer, old)
        for stale in path.glob(".*.tmp-*"):  # left by a writer that died; never read
            stale.unlink()
        splits_path = path / SPLITS_FILE
        if not splits_path.exists() or splits_path.read_bytes() != split.to_csv_bytes():
            write_split(split, splits_path)
        writer.complete_on_disk = (old is not None and old.status == "complete"
                                   and not writer.pending())
        if not writer.complete_on_disk:  # a complete, verified store is left untouched
            writer._save(status="complete" if not writer.pending() else "incomplete")
        remove_journals(path)  # their verified entries are in store.json now
        yield writer


def join_for_writing(path: str | Path, meta: StoreRecord | Mapping[str, Any], n_rows: int,
                     rank: int) -> StoreWriter:
    """The writer of rank ``rank`` (not 0) of a job whose rank 0 holds the store open (with
    :func:`open_for_writing`, so store.json is there): it writes its own shards and journal,
    never store.json, and takes no lock. A configuration other than rank 0's is refused."""
    path = Path(path)
    base = as_record(meta)
    ranges = shard_ranges(n_rows, base.shard_size)
    record = replace(base, n_shards=len(ranges))
    if diff := describe_difference(STORE_JSON.read(path / META_FILE), record):
        raise EmofeatError(f"rank {rank} was given another configuration than rank 0 ({diff});"
                           " every rank must run the same command")
    return StoreWriter(path, record, ranges, rank=rank)
