"""The data set a run is evaluated on: a feature store, or a data set read by its reader."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emofeat.datasets import load_manifest
from emofeat.errors import EmofeatError
from emofeat.splits import Split, make_split, read_split, release_split, split_source
from emofeat.transfer.record import DatasetRef, dataset_name

if TYPE_CHECKING:
    from emofeat.store import Store

log = logging.getLogger(__name__)
VALENCE_RATING = "valence_score"


@dataclass(frozen=True)
class Target:
    """Ids, labels and valence ratings (rated data sets) of the target, and its split."""

    ref: DatasetRef
    ids: list[str]
    labels: list[str]
    ratings: np.ndarray | None
    split: Split | None  # None: none known (every image is evaluated)
    store: Store | None = None  # features come from here; None: from the images
    root: Path | None = None  # the images' folder (a data set given as such)
    files: Mapping[str, str] = field(default_factory=dict)  # ids not their name on disk


def _store_target(path: Path, splits_file: str | Path | None) -> Target:
    from emofeat.classical.storedata import store_split
    from emofeat.store import Store

    store = Store.open(path)
    split = store_split(store, splits_file)
    rec = store.record
    ref = DatasetRef(name=dataset_name(rec.dataset.format, rec.dataset_root),
                     format=rec.dataset.format, manifest_sha256=rec.dataset.manifest_sha256,
                     splits_sha256=split.sha256, root=rec.dataset_root)
    ratings = store.ratings(VALENCE_RATING) if VALENCE_RATING in store.rating_columns else None
    return Target(ref, list(store.ids), list(store.labels), ratings, split, store=store)


def _data_target(path: Path, splits_file: str | Path | None, fmt: str,
                 min_agree: int | None, allow_outside_root: bool, need_split: bool,
                 label_from: str | None = None) -> Target:
    from emofeat.ratings import rating_table

    manifest = load_manifest(path, fmt, min_agree, allow_outside_root, label_from)
    split = read_split(splits_file, manifest) if splits_file else release_split(manifest)
    if split is None and need_split:
        split = make_split(manifest)
        log.info("%s: test split of the %s; pass --splits to use another", path,
                 split_source(manifest))
    ref = DatasetRef(name=dataset_name(manifest.format, manifest.root),
                     format=manifest.format, manifest_sha256=manifest.sha256,
                     splits_sha256=split.sha256 if split else None,
                     root=str(manifest.root.resolve()))
    return Target(ref, list(manifest.ids), list(manifest.labels),
                  rating_table(manifest).get(VALENCE_RATING), split, root=manifest.root,
                  files=manifest.files)


def open_target(data: str | Path, splits_file: str | Path | None = None, fmt: str = "auto",
                min_agree: int | None = None, allow_outside_root: bool = False,
                need_split: bool = False, label_from: str | None = None) -> Target:
    """A feature store (a folder with store.json), else a data set in ``fmt``."""
    from emofeat.store import META_FILE

    path = Path(data)
    if (path / META_FILE).is_file():
        if label_from is not None:
            raise EmofeatError(f"--label-from: {path} is a feature store; its labels follow "
                               "the rule it was extracted with (store.json dataset.label_from)")
        return _store_target(path, splits_file)
    return _data_target(path, splits_file, fmt, min_agree, allow_outside_root, need_split,
                        label_from)
