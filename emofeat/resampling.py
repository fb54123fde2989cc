"""Repeated evaluation: k stratified folds, R seeded random splits, and lists of seeds.

Features do not depend on the split, so a store is extracted once and every fold (or
repeat) is a split file of its own, with its own SHA-256, that ``fit --splits`` and
``finetune --splits`` use on the same images. Runs of one configuration on several splits,
or with several training seeds, are aggregated by ``compare`` (:mod:`emofeat.report.repeats`).

- :func:`make_folds`: k folds, stratified by label and seeded (scikit-learn's
  ``StratifiedKFold`` on the sorted ids): each image is in exactly one fold's ``test``; in
  each fold, ``val`` is carved from the rest per class as :func:`~emofeat.splits.make_split`
  does (the same val fraction of each class), the remainder is ``train``.
- :func:`make_repeats`: R stratified random splits with seeds ``seed``, ``seed + 1``, ...
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emofeat.datasets.manifest import Manifest
from emofeat.errors import EmofeatError
from emofeat.splits import (
    DEFAULT_FRACTIONS,
    DEFAULT_SEED,
    Split,
    _allocate,
    check_no_release_split,
    group_holdout,
    make_split,
    parse_fractions,
    write_split,
)

log = logging.getLogger(__name__)

#: File names of the split files :func:`write_splits` writes: fold-1.csv, repeat-1.csv, ...
PREFIX = {"folds": "fold", "repeats": "repeat"}


def make_folds(manifest: Manifest, k: int, seed: int = DEFAULT_SEED,
               val_fraction: float = DEFAULT_FRACTIONS[1], groups: Sequence[str] | None = None,
               group_by: str | None = None) -> list[Split]:
    """``k`` stratified, seeded folds: fold i's test is the i-th part, val carved from the
    rest per class (``val_fraction`` of each class, at least one where a class has 3 or
    more images), the rest train. The same manifest and seed give the same folds whatever
    order the images were listed in.

    With ``groups`` (one per manifest row, named ``group_by``) every group stays in one
    split of each fold: ``StratifiedGroupKFold`` cuts the test parts, and with as many
    folds as groups each group is one fold's test (leave-one-group-out, e.g. OASIS's four
    categories); val is whole groups of the rest."""
    from sklearn.model_selection import StratifiedKFold

    check_no_release_split(manifest, "folds")
    if k < 2:
        raise EmofeatError(f"folds must be at least 2, got {k}")
    if not 0 <= val_fraction < 1:
        raise EmofeatError(f"the val fraction must be in [0, 1), got {val_fraction:g}")
    if groups is not None:
        return _group_folds(manifest, k, seed, val_fraction, groups, group_by or "group")
    order = np.argsort(np.asarray(manifest.ids, dtype=object), kind="stable")
    ids = [manifest.ids[i] for i in order]
    labels = np.asarray([manifest.labels[i] for i in order], dtype=object)
    smallest = min(np.unique(labels, return_counts=True)[1])
    if smallest < k:
        raise EmofeatError(f"{k} folds need at least {k} images of every class; the smallest "
                           f"class has {smallest}")
    rng = np.random.default_rng(seed)
    folds = []
    kfold = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for rest, test in kfold.split(np.zeros(len(ids)), labels):
        assignment = {ids[i]: "test" for i in test}
        by_label: dict[str, list[str]] = defaultdict(list)
        for i in rest:
            by_label[labels[i]].append(ids[i])
        for label in sorted(by_label):
            members = by_label[label]
            n_class = len(members) + int(np.sum(labels[test] == label))
            n_val = max(min(_allocate(n_class, val_fraction), len(members) - 1), 0)
            picked = set(rng.permutation(len(members))[:n_val].tolist())
            for j, image_id in enumerate(members):
                assignment[image_id] = "val" if j in picked else "train"
        folds.append(Split(assignment))
    return folds


def _group_folds(manifest: Manifest, k: int, seed: int, val_fraction: float,
                 groups: Sequence[str], group_by: str) -> list[Split]:
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedGroupKFold

    labels = np.asarray(manifest.labels, dtype=object)
    group_arr = np.asarray(list(groups), dtype=object)
    n_groups = len(set(groups))
    if n_groups < k:
        raise EmofeatError(f"{k} folds grouped by {group_by} need at least {k} groups; the "
                           f"data set has {n_groups}")
    cv: Any
    if k == n_groups:
        cv = LeaveOneGroupOut()
    elif max(Counter(manifest.labels).values()) < k:
        log.warning("grouped folds: every class has fewer than %d images; groups are "
                    "dealt into folds without stratifying by label", k)
        cv = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    else:
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "the least populated class has only n members"
        warnings.filterwarnings("ignore", message="The least populated class",
                                category=UserWarning)
        parts = list(cv.split(np.zeros(len(labels)), labels, group_arr))
    folds = []
    for i, (rest, test) in enumerate(parts):
        held = val_fraction / (1 - len(test) / len(labels)) if val_fraction else 0.0
        val = group_holdout(labels, group_arr, rest, min(held, 0.5), seed + 1 + i) \
            if held and len(set(group_arr[rest].tolist())) >= 2 else rest[:0]
        part = np.full(len(labels), "train", dtype=object)
        part[test], part[val] = "test", "val"
        folds.append(Split(dict(zip(manifest.ids, part.tolist(), strict=True)),
                           dict(zip(manifest.ids, groups, strict=True)), group_by))
    return folds


def make_repeats(manifest: Manifest, r: int, seed: int = DEFAULT_SEED,
                 fractions: Sequence[float] = DEFAULT_FRACTIONS,
                 groups: Sequence[str] | None = None, group_by: str | None = None
                 ) -> list[Split]:
    """``r`` stratified random train/val/test splits, seeded ``seed``, ``seed + 1``, ...
    (with ``groups``: grouped, see :func:`~emofeat.splits.make_group_split`)."""
    check_no_release_split(manifest, "repeats")
    if r < 2:
        raise EmofeatError(f"repeats must be at least 2, got {r}")
    fractions = parse_fractions(fractions)
    return [make_split(manifest, fractions, seed + i, groups, group_by) for i in range(r)]


def split_names(kind: str, n: int) -> list[str]:
    """``fold-1`` ... ``fold-n`` (kind ``folds``) or ``repeat-1`` ... (``repeats``)."""
    return [f"{PREFIX[kind]}-{i + 1}" for i in range(n)]


def write_splits(splits: Sequence[Split], kind: str, out_dir: str | Path) -> list[Path]:
    """``out_dir/fold-1.csv`` ... (or ``repeat-1.csv`` ...), each written atomically."""
    out = Path(out_dir)
    paths = [out / f"{name}.csv" for name in split_names(kind, len(splits))]
    out.mkdir(parents=True, exist_ok=True)
    # all written in a hidden folder first, then moved: a crash leaves no partial set
    with tempfile.TemporaryDirectory(prefix=".splits-", dir=out) as staging:
        for split, path in zip(splits, paths, strict=True):
            write_split(split, Path(staging) / path.name)
        for path in paths:
            os.replace(Path(staging) / path.name, path)
    return paths


def parse_seeds(text: str | Sequence[int]) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]: distinct integers >= 0, at least one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    if any(isinstance(x, bool) or not isinstance(x, (int, str)) for x in items):
        raise EmofeatError(f"seeds must be integers like 0,1,2: {text}")
    try:
        seeds = [int(x) for x in items]
    except ValueError:
        raise EmofeatError(f"seeds must be integers like 0,1,2: {text}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise EmofeatError(f"seeds must be distinct integers >= 0, at least one: {text}")
    return seeds


def seed_folders(run_dir: str | Path, seeds: Sequence[int] | None
                 ) -> list[tuple[Path, int | None]]:
    """``run_dir`` itself (no seeds), or ``run_dir/seed-<s>`` for each seed."""
    if seeds is None:
        return [(Path(run_dir), None)]
    return [(Path(run_dir) / f"seed-{s}", s) for s in seeds]


def requested_seeds(seeds: str | Sequence[int] | None, seed: int, default: int
                    ) -> list[int] | None:
    """The seeds asked for (None: one run with ``seed``); ``seed`` other than its default
    beside them is an error: each seed makes its own run."""
    if seeds is None:
        return None
    if seed != default:
        raise EmofeatError("give --seed or --seeds, not both (seeds make one run per seed)")
    return parse_seeds(seeds)
