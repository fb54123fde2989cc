"""Reading a complete feature store: ``Store.open(path)``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_bytes, sha256_file
from emofeat.splitfile import Split, read_split
from emofeat.store.record import STORE_JSON, ShardEntry, StoredLayer, StoreRecord
from emofeat.store.writer import META_FILE, SPLITS_FILE


class Store:
    """Read access to a complete feature store. ``Store.open(path)``.

    Every shard's SHA-256 is checked against store.json before its first read: a changed
    or damaged shard is refused, never used.
    """

    def __init__(self, path: Path, record: StoreRecord) -> None:
        self.path = path
        self.record = record
        self._verified: set[int] = set()

    @classmethod
    def open(cls, path: str | Path, allow_incomplete: bool = False) -> Store:
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise EmofeatError(f"{path} is not a feature store (no {META_FILE})")
        record = STORE_JSON.read(meta_path)
        if record.status != "complete" and not allow_incomplete:
            raise EmofeatError(
                f"{path} is incomplete ({len(record.shards)} of {record.n_shards} shards); "
                "re-run the same `emofeat extract` command to resume it"
            )
        return cls(path, record)

    @cached_property
    def meta(self) -> dict[str, Any]:
        """store.json as a dict (older callers; new code reads :attr:`record`)."""
        return STORE_JSON.dump(self.record)

    @property
    def layers(self) -> list[StoredLayer]:
        return list(self.record.layers)

    @property
    def layer_names(self) -> list[str]:
        return self.record.layer_names

    @property
    def sha256(self) -> str:
        """Identity of the store's content: a hash over its shards' hashes."""
        table = json.dumps([s.sha256 for s in self.record.shards]).encode()
        return sha256_bytes(table)

    def _shards(self) -> list[ShardEntry]:
        return sorted(self.record.shards, key=lambda s: s.index)

    def _open_shard(self, shard: ShardEntry) -> h5py.File:
        """A shard for reading, once its hash matched store.json (checked once per Store)."""
        file = self.path / shard.file
        if shard.index not in self._verified:
            if not file.is_file():
                raise EmofeatError(f"{file} is missing; re-run the same `emofeat extract` "
                                   "command to redo it")
            if sha256_file(file) != shard.sha256:
                raise EmofeatError(f"{file} does not match its SHA-256 in store.json (changed "
                                   "or damaged); refusing to read it: re-run the same "
                                   "`emofeat extract` command to redo it")
            self._verified.add(shard.index)
        return h5py.File(file, "r")

    def _read_strings(self, name: str) -> list[str]:
        values: list[str] = []
        for shard in self._shards():
            with self._open_shard(shard) as f:
                values.extend(f[name].asstr()[...].tolist())
        return values

    @cached_property
    def ids(self) -> list[str]:
        return self._read_strings("ids")

    @cached_property
    def labels(self) -> list[str]:
        return self._read_strings("labels")

    @property
    def rating_columns(self) -> tuple[str, ...]:
        """The rating columns recorded in the store (none in stores of data sets without
        ratings, and in stores written before emofeat recorded them)."""
        return self.record.ratings.columns if self.record.ratings is not None else ()

    def check_rating(self, column: str) -> None:
        """Raise, saying why, unless the store records the rating ``column``."""
        if column not in self.rating_columns:
            have = (f"its ratings: {', '.join(self.rating_columns)}" if self.rating_columns
                    else "it has none: its data set has no rating columns (Emotion6 and OASIS "
                    "have valence_score and arousal_score), or the store was written before "
                    "emofeat recorded them (re-extract it with --overwrite)")
            raise EmofeatError(f"the store {self.path} holds no rating '{column}'; {have}")

    def ratings(self, column: str) -> np.ndarray:
        """A rating column, (N,) float64 in store order (NaN: no rating for that image)."""
        self.check_rating(column)
        parts = []
        for shard in self._shards():
            with h5py.File(self.path / shard.file, "r") as f:
                parts.append(f["ratings"][column][...])
        return np.concatenate(parts) if parts else np.zeros(0, np.float64)

    def check_distribution(self, task: str) -> None:
        """Raise, saying why, unless the store records the distribution ``task``."""
        have = self.record.distributions or {}
        if task not in have:
            raise EmofeatError(
                f"the store {self.path} holds no distribution '{task}': its data set has no "
                "per-class shares or vote counts (Emotion6, Abstract, or a CSV list with "
                "dist_<class> or votes_<class> columns), or the store was written before "
                "emofeat recorded them (re-extract it with --overwrite)")

    def distribution_classes(self, task: str) -> tuple[str, ...]:
        self.check_distribution(task)
        return (self.record.distributions or {})[task].classes

    def distribution(self, task: str) -> np.ndarray:
        """A distribution, (N, classes) float64 in store order (NaN rows: invalid)."""
        classes = self.distribution_classes(task)
        parts = []
        for shard in self._shards():
            with h5py.File(self.path / shard.file, "r") as f:
                parts.append(f["distributions"][task][...])
        return np.concatenate(parts) if parts else np.zeros((0, len(classes)), np.float64)

    @property
    def failed(self) -> dict[str, str]:
        return {image_id: why for s in self._shards() for image_id, why in s.failed}

    def split(self) -> Split:
        return read_split(self.path / SPLITS_FILE)

    @property
    def splits_sha256(self) -> str:
        return self.record.splits_sha256

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
            with self._open_shard(shard) as f:
                parts.append(f["features"][layer][...])
        dim = next(d.dim for d in self.record.layers if d.name == layer)
        full = np.concatenate(parts) if parts else np.zeros((0, dim), self.record.dtype)
        if ids is None:
            return full
        position = {k: i for i, k in enumerate(self.ids)}
        missing = [k for k in ids if k not in position]
        if missing:
            raise EmofeatError(f"{len(missing)} ids are not in the store, e.g. {missing[:3]}")
        return full[[position[k] for k in ids]]

    def _shard_problems(self, shard: ShardEntry) -> list[str]:
        file = self.path / shard.file
        if not file.is_file():
            return [f"{shard.file}: missing"]
        if sha256_file(file) != shard.sha256:
            return [f"{shard.file}: SHA-256 differs from store.json"]
        problems = []
        with h5py.File(file, "r") as f:
            for name in ("ids", "labels", *(f"features/{n}" for n in self.layer_names),
                         *(f"ratings/{c}" for c in self.rating_columns),
                         *(f"distributions/{t}" for t in self.record.distributions or {})):
                if name not in f:
                    problems.append(f"{shard.file}: no /{name}")
                elif f[name].shape[0] != shard.rows:
                    problems.append(f"{shard.file}: /{name} has {f[name].shape[0]} rows, "
                                    f"store.json says {shard.rows}")
        return problems

    def verify(self) -> list[str]:
        """Check every shard's hash and row count; returns the problems found (empty: fine)."""
        problems = [p for shard in self._shards() for p in self._shard_problems(shard)]
        if len(self.record.shards) != self.record.n_shards:
            problems.append(f"{len(self.record.shards)} shards of {self.record.n_shards}")
        return problems
