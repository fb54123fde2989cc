"""store.json as a typed record: :class:`StoreRecord`, read and written by :data:`STORE_JSON`.

The fields are declared in the order they appear in the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from emofeat.records import OMIT_IF_NONE, RecordFile, to_json

STORE_FORMAT = "emofeat-feature-store"
FORMAT_VERSION = 1

#: Fields of store.json that decide the bytes of the shards; resuming requires them equal.
CONFIG_KEYS = ("backbone", "weights", "data_config", "layers", "pooling", "prefix_tokens",
               "dtype", "precision", "decode", "shard_size", "dataset", "splits_sha256",
               "ratings", "distributions")


@dataclass(frozen=True)
class StoredLayer:
    """A layer of the store: its pooled dimension, channels and stride."""

    name: str
    dim: int
    channels: int
    stride: int


@dataclass(frozen=True)
class ShardEntry:
    """A row of the shard table: a complete shard file and its hash."""

    index: int
    file: str
    rows: int
    sha256: str
    failed: tuple[tuple[str, str], ...]  # (id, reason) of images that could not be read


@dataclass(frozen=True)
class DatasetInfo:
    format: str
    n_images: int
    manifest_sha256: str
    min_agree: int | None
    # the label rule, for releases with several (Emotion6: folder or ratings)
    label_from: str | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True)
class RatingsInfo:
    """Rating columns of the data set, kept per shard as ``/ratings/<column>`` (float64, NaN
    where an image has none), and a hash of their values (id, value per column)."""

    columns: tuple[str, ...]
    sha256: str


@dataclass(frozen=True)
class DistributionInfo:
    """An emotion distribution of the data set (:mod:`emofeat.distributions`), kept per
    shard as ``/distributions/<task>`` (float64, rows x classes, normalised; NaN rows:
    invalid and left out), a hash of (id, values), and the invalid rows by reason."""

    classes: tuple[str, ...]
    source: str  # the columns it was read from
    sha256: str
    invalid: dict[str, int]
    # the first invalid row described ("image X: reason (values); N more invalid rows"):
    # fitting the distribution task names it unless invalid rows are dropped
    first_invalid: str | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, kw_only=True)
class StoreRecord:
    """What store.json says: provenance, the configuration and the shard table."""

    status: Literal["complete", "incomplete"]
    shard_size: int
    dataset: DatasetInfo
    dataset_root: str
    splits_sha256: str
    # the data set's ratings (Emotion6, OASIS); absent for data sets without, and in stores
    # written before emofeat recorded them
    ratings: RatingsInfo | None = field(default=None, metadata=OMIT_IF_NONE)
    # the data set's emotion distributions by task (Emotion6, Abstract, CSV dist_ columns);
    # absent for data sets without
    distributions: dict[str, DistributionInfo] | None = field(default=None,
                                                              metadata=OMIT_IF_NONE)
    versions: dict[str, str]
    backbone: str
    # true for hand-crafted features (no network); absent for a backbone's
    handcrafted: bool | None = field(default=None, metadata=OMIT_IF_NONE)
    weights: dict[str, Any]  # the backbone's WeightsInfo: requested, source, origin, ...
    data_config: dict[str, Any]  # the preprocessing (timm's data config for backbones)
    layers: tuple[StoredLayer, ...]
    pooling: str
    # class and register tokens left out when token outputs (ViT-style) were pooled: only
    # the patch tokens are pooled; absent when no layer gives tokens or the model has none
    prefix_tokens: int | None = field(default=None, metadata=OMIT_IF_NONE)
    dtype: str
    precision: str
    # where images were decoded and resized when not by Pillow on the CPU (absent): the
    # batched decoder and its device, e.g. "torchcodec:cuda" (emofeat.device_decode); its
    # pixels differ from Pillow's by up to a level, so a store is resumed only alike
    decode: str | None = field(default=None, metadata=OMIT_IF_NONE)
    n_shards: int = 0
    shards: tuple[ShardEntry, ...] = ()
    n_rows: int = 0
    n_failed: int = 0
    # time and device of the last extraction session, once it has finished
    seconds: float | None = field(default=None, metadata=OMIT_IF_NONE)
    device: str | None = field(default=None, metadata=OMIT_IF_NONE)

    @property
    def layer_names(self) -> list[str]:
        return [la.name for la in self.layers]


STORE_JSON: RecordFile[StoreRecord] = RecordFile(STORE_FORMAT, FORMAT_VERSION, "feature store",
                                                 lambda data: StoreRecord)


def describe_difference(old: StoreRecord, new: StoreRecord) -> str:
    """The configuration fields in which two stores differ (empty: the same)."""
    a, b = to_json(old), to_json(new)
    return "; ".join(f"{key}: store has {json.dumps(a.get(key))[:120]}, "
                     f"this run asks for {json.dumps(b.get(key))[:120]}"
                     for key in CONFIG_KEYS if a.get(key) != b.get(key))


def as_record(meta: StoreRecord | Mapping[str, Any]) -> StoreRecord:
    """A store record, from one or from store.json fields as a dict (as extract builds)."""
    if isinstance(meta, StoreRecord):
        return meta
    return STORE_JSON.load({"format": STORE_FORMAT, **meta}, "the store's metadata")
