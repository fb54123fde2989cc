"""The feature store: a directory of HDF5 shards plus ``store.json``.

```
store.json       provenance (backbone, weights, data config, layers, pooling, dtype, hashes,
                 versions) and the shard table [{index, file, rows, sha256, failed}]
splits.csv       the split every later stage uses
shard-00000.h5   /ids (N,) utf-8, /labels (N,) utf-8, /features/<layer> (N, D)
failed.csv       id, reason: images that could not be decoded
```

A shard is written under a temporary name and renamed when complete; the shard table is
updated after the rename, and ``status`` becomes ``complete`` only when every shard is in.
Re-running the same configuration skips shards whose hash verifies, so an interrupted run
ends with the same bytes as an uninterrupted one. One writer at a time (a file lock).
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emofeat.atomic import replacing, write_json, write_text
from emofeat.errors import EmofeatError
from emofeat.extract_config import DTYPES  # noqa: F401  (re-exported)
from emofeat.hashing import sha256_bytes, sha256_file
from emofeat.splits import Split, read_split, write_split

log = logging.getLogger(__name__)

STORE_FORMAT = "emofeat-feature-store"
FORMAT_VERSION = 1
META_FILE = "store.json"
SPLITS_FILE = "splits.csv"
FAILED_FILE = "failed.csv"
LOCK_FILE = ".store.lock"

#: Keys of store.json that decide the bytes of the shards; resuming requires them equal.
CONFIG_KEYS = ("backbone", "weights", "data_config", "layers", "pooling", "dtype", "precision",
               "shard_size", "dataset", "splits_sha256")


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.h5"


def shard_ranges(n_rows: int, shard_size: int) -> list[range]:
    """Manifest rows of each shard: fixed-size slices in manifest order."""
    return [range(s, min(s + shard_size, n_rows)) for s in range(0, n_rows, shard_size)]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EmofeatError(f"cannot read {path}: {exc}") from None


@contextmanager
def _exclusive_lock(directory: Path) -> Iterator[None]:
    """Hold an advisory lock on the store for as long as one writer works on it."""
    fd = os.open(directory / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EmofeatError(
                f"another emofeat process is writing {directory}; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)


def _describe_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = []
    for key in CONFIG_KEYS:
        if old.get(key) != new.get(key):
            parts.append(f"{key}: store has {json.dumps(old.get(key))[:120]}, "
                         f"this run asks for {json.dumps(new.get(key))[:120]}")
    return "; ".join(parts)


def _write_shard(path: Path, meta: Mapping[str, Any], index: int, ids: Sequence[str],
                 labels: Sequence[str], features: Mapping[str, np.ndarray]) -> None:
    """One HDF5 shard: /ids, /labels, /features/<layer> with each layer's metadata."""
    dtype = np.dtype(meta["dtype"])
    string = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as f:
        f.attrs["format"] = STORE_FORMAT
        f.attrs["shard_index"] = index
        f.attrs["backbone"] = meta["backbone"]
        f.attrs["pooling"] = meta["pooling"]
        f.create_dataset("ids", data=np.array(list(ids), dtype=object), dtype=string)
        f.create_dataset("labels", data=np.array(list(labels), dtype=object), dtype=string)
        group = f.create_group("features")
        for info in meta["layers"]:
            name = info["name"]
            arr = np.asarray(features[name], dtype=dtype).reshape(len(ids), info["dim"])
            ds = group.create_dataset(name, data=arr)
            for key in ("channels", "stride", "dim"):
                ds.attrs[key] = info[key]
            ds.attrs["module"] = name


@dataclass
class StoreWriter:
    """Writes one store; use through :func:`open_for_writing` (which takes the lock)."""

    path: Path
    meta: dict[str, Any]
    ranges: list[range]
    done: dict[int, dict[str, Any]] = field(default_factory=dict)
    complete_on_disk: bool = False  # resumed a complete store whose shards all verified

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
    ) -> None:
        """Write shard ``index`` to a temporary file, rename it into place, record it."""
        final = self.path / shard_name(index)
        with replacing(final) as tmp:
            _write_shard(tmp, self.meta, index, ids, labels, features)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        self.done[index] = {
            "index": index,
            "file": final.name,
            "rows": len(ids),
            "sha256": sha256_file(final),
            "failed": [list(x) for x in failed],
        }
        self._save(status="incomplete")

    def _save(self, status: str) -> None:
        self.meta["status"] = status
        self.meta["shards"] = [self.done[i] for i in sorted(self.done)]
        self.meta["n_rows"] = sum(s["rows"] for s in self.meta["shards"])
        failed = sorted((r for s in self.meta["shards"] for r in s["failed"]),
                        key=lambda r: r[0])
        self.meta["n_failed"] = len(failed)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["id", "reason"])
        writer.writerows(failed)
        write_text(self.path / FAILED_FILE, buf.getvalue())
        write_json(self.path / META_FILE, self.meta)

    def finish(self) -> None:
        if self.pending():
            raise RuntimeError(f"shards {self.pending()} were not written")
        self._save(status="complete")


@contextmanager
def open_for_writing(
    path: str | Path,
    meta: dict[str, Any],
    n_rows: int,
    split: Split,
    overwrite: bool = False,
) -> Iterator[StoreWriter]:
    """Create or resume a store for ``meta`` (store.json fields without the shard table).

    An existing store with another configuration is refused, naming what differs, unless
    ``overwrite``. Complete shards whose hash verifies are kept; the rest are redone.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EmofeatError(f"{path} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(path):
        meta_path = path / META_FILE
        old = _read_json(meta_path) if meta_path.exists() else None
        if old is None and any(p.name != LOCK_FILE for p in path.iterdir()):
            raise EmofeatError(f"{path} is not empty and holds no feature store; "
                               "choose another --out (it is never overwritten)")
        if old is not None and old.get("format") != STORE_FORMAT:
            raise EmofeatError(f"{meta_path} is not an emofeat feature store")
        if old is not None and (diff := _describe_difference(old, meta)):
            if not overwrite:
                raise EmofeatError(f"{path} holds a store with another configuration ({diff}); "
                                   "use another --out or pass --overwrite")
            old = None
        if old is None:
            for pattern in ("shard-*.h5", ".*.tmp*", META_FILE, SPLITS_FILE, FAILED_FILE):
                for child in path.glob(pattern):
                    child.unlink()
        ranges = shard_ranges(n_rows, meta["shard_size"])
        writer = StoreWriter(path, {**meta, "n_shards": len(ranges)}, ranges)
        if old is not None:
            for entry in old.get("shards", []):
                file = path / entry["file"]
                if file.is_file() and sha256_file(file) == entry["sha256"]:
                    writer.done[entry["index"]] = entry
                else:
                    log.warning("shard %s is missing or damaged; it will be redone", file.name)
            log.info("resuming %s: %d of %d shards already complete", path, len(writer.done),
                     len(writer.ranges))
        for stale in path.glob(".shard-*.tmp-*"):
            stale.unlink()
        splits_path = path / SPLITS_FILE
        if not splits_path.exists() or splits_path.read_bytes() != split.to_csv_bytes():
            write_split(split, splits_path)
        writer.complete_on_disk = (old is not None and old.get("status") == "complete"
                                   and not writer.pending())
        if not writer.complete_on_disk:  # a complete, verified store is left untouched
            writer._save(status="complete" if not writer.pending() else "incomplete")
        yield writer


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class StoredLayer:
    name: str
    dim: int
    channels: int
    stride: int


class Store:
    """Read access to a complete feature store. ``Store.open(path)``."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta

    @classmethod
    def open(cls, path: str | Path, allow_incomplete: bool = False) -> Store:
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise EmofeatError(f"{path} is not a feature store (no {META_FILE})")
        meta = _read_json(meta_path)
        if meta.get("format") != STORE_FORMAT:
            raise EmofeatError(f"{meta_path} is not an emofeat feature store")
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise EmofeatError(f"{path} was written by a newer emofeat (format "
                               f"{meta['format_version']}); upgrade emofeat to read it")
        if meta.get("status") != "complete" and not allow_incomplete:
            raise EmofeatError(
                f"{path} is incomplete ({len(meta.get('shards', []))} of {meta.get('n_shards')} "
                "shards); re-run the same `emofeat extract` command to resume it"
            )
        return cls(path, meta)

    @property
    def layers(self) -> list[StoredLayer]:
        return [StoredLayer(d["name"], d["dim"], d["channels"], d["stride"])
                for d in self.meta["layers"]]

    @property
    def layer_names(self) -> list[str]:
        return [d["name"] for d in self.meta["layers"]]

    @property
    def sha256(self) -> str:
        """Identity of the store's content: a hash over its shards' hashes."""
        table = json.dumps([s["sha256"] for s in self.meta["shards"]]).encode()
        return sha256_bytes(table)

    def _shards(self) -> list[dict[str, Any]]:
        return sorted(self.meta["shards"], key=lambda s: s["index"])

    def _read_strings(self, name: str) -> list[str]:
        values: list[str] = []
        for shard in self._shards():
            with h5py.File(self.path / shard["file"], "r") as f:
                values.extend(f[name].asstr()[...].tolist())
        return values

    @cached_property
    def ids(self) -> list[str]:
        return self._read_strings("ids")

    @cached_property
    def labels(self) -> list[str]:
        return self._read_strings("labels")

    @property
    def failed(self) -> dict[str, str]:
        return {r[0]: r[1] for s in self._shards() for r in s["failed"]}

    def split(self) -> Split:
        return read_split(self.path / SPLITS_FILE)

    @property
    def splits_sha256(self) -> str:
        return str(self.meta["splits_sha256"])

    def check_layer(self, layer: str) -> None:
        if layer not in self.layer_names:
            raise EmofeatError(f"layer '{layer}' is not in the store {self.path}; "
                               f"its layers: {', '.join(self.layer_names)}")

    def load(self, layer: str, ids: Sequence[str] | None = None) -> np.ndarray:
        """Features of one layer, (N, D), in store order or in the order of ``ids``.

        Only that layer's datasets are read; other layers stay on disk.
        """
        self.check_layer(layer)
        parts = []
        for shard in self._shards():
            with h5py.File(self.path / shard["file"], "r") as f:
                parts.append(f["features"][layer][...])
        dim = next(d.dim for d in self.layers if d.name == layer)
        full = np.concatenate(parts) if parts else np.zeros((0, dim), self.meta["dtype"])
        if ids is None:
            return full
        position = {k: i for i, k in enumerate(self.ids)}
        missing = [k for k in ids if k not in position]
        if missing:
            raise EmofeatError(f"{len(missing)} ids are not in the store, e.g. {missing[:3]}")
        return full[[position[k] for k in ids]]

    def verify(self) -> list[str]:
        """Check every shard's hash and row count; returns the problems found (empty: fine)."""
        problems = []
        for shard in self._shards():
            file = self.path / shard["file"]
            if not file.is_file():
                problems.append(f"{shard['file']}: missing")
                continue
            if sha256_file(file) != shard["sha256"]:
                problems.append(f"{shard['file']}: SHA-256 differs from store.json")
                continue
            with h5py.File(file, "r") as f:
                for name in ("ids", "labels", *(f"features/{n}" for n in self.layer_names)):
                    if name not in f:
                        problems.append(f"{shard['file']}: no /{name}")
                    elif f[name].shape[0] != shard["rows"]:
                        problems.append(f"{shard['file']}: /{name} has {f[name].shape[0]} rows, "
                                        f"store.json says {shard['rows']}")
        if len(self.meta["shards"]) != self.meta.get("n_shards"):
            problems.append(f"{len(self.meta['shards'])} shards of {self.meta.get('n_shards')}")
        return problems
