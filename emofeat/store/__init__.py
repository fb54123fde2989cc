"""The feature store: a directory of HDF5 shards plus ``store.json``.

```
store.json       provenance (backbone, weights, data config, layers, pooling, dtype, hashes,
                 versions) and the shard table [{index, file, rows, sha256, failed}]
splits.csv       the split every later stage uses
shard-00000.h5   /ids (N,) utf-8, /labels (N,) utf-8, /features/<layer> (N, D)
failed.csv       id, reason: images that could not be decoded
.store.lock      the writer lock (see ``lock``)
```

Modules: ``record`` (store.json as a typed record, its one reader and writer), ``writer``
(creating and resuming a store), ``lock`` (one writing process per store), ``journal`` (the
shards of ranks other than 0 in a job of several), ``reader`` (:class:`Store`).
"""

from emofeat.extract_config import DTYPES
from emofeat.store.reader import Store
from emofeat.store.record import (
    CONFIG_KEYS,
    FORMAT_VERSION,
    STORE_FORMAT,
    STORE_JSON,
    DatasetInfo,
    ShardEntry,
    StoredLayer,
    StoreRecord,
)
from emofeat.store.writer import (
    FAILED_FILE,
    LOCK_FILE,
    META_FILE,
    SPLITS_FILE,
    StoreWriter,
    join_for_writing,
    open_for_writing,
    shard_name,
    shard_ranges,
)

__all__ = [
    "CONFIG_KEYS", "DTYPES", "FAILED_FILE", "FORMAT_VERSION", "LOCK_FILE", "META_FILE",
    "SPLITS_FILE", "STORE_FORMAT", "STORE_JSON", "DatasetInfo", "ShardEntry", "Store",
    "StoreRecord", "StoreWriter", "StoredLayer", "join_for_writing", "open_for_writing",
    "shard_name", "shard_ranges",
]
