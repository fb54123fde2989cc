"""Stratified, seeded train/val/test splits saved as ``splits.csv`` (id, split) and hashed.

The same manifest and seed give a byte-identical file whatever order the file system listed
the images in: ids are sorted before anything random happens. Hyperparameters are chosen on
``val`` only; ``test`` is scored once, at the end. The file itself (:class:`Split`,
:func:`read_split`, :func:`write_split`) lives in :mod:`emofeat.splitfile`, re-exported here.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emofeat.datasets.manifest import Manifest
from emofeat.errors import EmofeatError
from emofeat.splitfile import (
    SPLIT_NAMES,
    Split,
    check_groups_apart,
    check_split_matches,
    read_split,
    write_split,
)

__all__ = [
    "DEFAULT_FRACTIONS", "DEFAULT_SEED", "SPLIT_NAMES", "Split", "check_groups_apart",
    "check_no_release_split", "check_split_matches", "choose_split", "group_holdout",
    "make_group_split", "make_split", "parse_fractions", "read_split", "release_split",
    "split_groups", "split_source", "write_split",
]
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.80, 0.05, 0.15)
DEFAULT_SEED = 0

log = logging.getLogger(__name__)



def parse_fractions(text: str | Sequence[float]) -> tuple[float, float, float]:
    """``"0.8,0.05,0.15"`` -> (0.8, 0.05, 0.15); they must be >= 0, train > 0, sum to 1."""
    try:
        parts = [float(x) for x in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        raise EmofeatError(f"split fractions must be numbers like 0.8,0.05,0.15: {text}") from None
    if len(parts) != 3 or any(p < 0 for p in parts) or parts[0] <= 0:
        raise EmofeatError(f"split fractions must be three numbers train,val,test >= 0: {text}")
    if abs(sum(parts) - 1.0) > 1e-6:
        raise EmofeatError(f"split fractions must sum to 1, got {sum(parts):g} ({text})")
    return parts[0], parts[1], parts[2]


def _allocate(n: int, fraction: float) -> int:
    """How many of a class of ``n`` go to a held-out split: rounded, at least one if n >= 3."""
    if fraction <= 0:
        return 0
    k = int(np.floor(n * fraction + 0.5))
    return max(k, 1) if n >= 3 else k


def make_split(
    manifest: Manifest,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = DEFAULT_SEED,
    groups: Sequence[str] | None = None,
    group_by: str | None = None,
) -> Split:
    """Stratify by label: each class is shuffled with the seed and cut train/val/test.

    With ``groups`` (one per manifest row, named ``group_by``), whole groups are cut
    instead (:func:`make_group_split`). A manifest with its own ``split`` column (a
    release's official split) is used as-is, see :func:`release_split`; which split was
    made is logged.
    """
    f_train, f_val, f_test = parse_fractions(fractions)
    if groups is not None:
        return make_group_split(manifest, groups, group_by or "group", (f_train, f_val, f_test),
                                seed)
    release = release_split(manifest)
    if release is not None:
        log.info("split: the %s release's own (%s), sha256 %s", manifest.format,
                 ", ".join(f"{k} {v}" for k, v in release.counts().items()), release.sha256)
        if (f_train, f_val, f_test) != DEFAULT_FRACTIONS or seed != DEFAULT_SEED:
            log.warning("the %s release has its own split: fractions and seed are ignored",
                        manifest.format)
        return release
    log.info("split: seeded stratified (seed %d, fractions %g/%g/%g)", seed, f_train, f_val,
             f_test)
    by_label: dict[str, list[str]] = defaultdict(list)
    for image_id, label in zip(manifest.ids, manifest.labels, strict=True):
        by_label[label].append(image_id)
    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {}
    for label in sorted(by_label):
        members = sorted(by_label[label])
        order = rng.permutation(len(members))
        n_test = _allocate(len(members), f_test)
        n_val = min(_allocate(len(members), f_val), len(members) - n_test - 1)
        n_val = max(n_val, 0)
        for rank, idx in enumerate(order):
            name = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            assignment[members[idx]] = name
    return Split(assignment)


def check_no_release_split(manifest: Manifest, what: str) -> None:
    if "split" in manifest.extra:
        raise EmofeatError(f"the {manifest.format} release has its own split; {what} are "
                           "made only for data sets without one")


def group_holdout(labels: np.ndarray, groups: np.ndarray, rows: np.ndarray, fraction: float,
                  seed: int) -> np.ndarray:
    """The rows (a subset of ``rows``) of whole groups held out for about ``fraction`` of
    them, each class's share kept as far as groups allow: the first fold of scikit-learn's
    ``StratifiedGroupKFold`` with round(1 / fraction) folds (``GroupShuffleSplit``, with a
    warning, where every class is smaller than that)."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    if fraction <= 0 or not len(rows):
        return rows[:0]
    n_groups = len(set(groups[rows].tolist()))
    if n_groups < 2:
        raise EmofeatError(f"a grouped split needs at least 2 groups, found {n_groups}")
    k = min(max(2, round(1 / fraction)), n_groups)
    y = labels[rows]
    if max(Counter(y.tolist()).values()) < k:  # no class can be spread over k folds
        log.warning("grouped split: every class has fewer than %d images (the parts a %.0f%% "
                    "hold-out is one of); whole groups are held out at random, not "
                    "stratified by label", k, 100 * fraction)
        cv: Any = GroupShuffleSplit(n_splits=1, test_size=1 / k, random_state=seed)
    else:
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "the least populated class has only n members"
        warnings.filterwarnings("ignore", message="The least populated class",
                                category=UserWarning)
        _, held = next(cv.split(np.zeros(len(rows)), y, groups[rows]))
    return rows[held]


def make_group_split(manifest: Manifest, groups: Sequence[str], group_by: str,
                     fractions: Sequence[float] = DEFAULT_FRACTIONS,
                     seed: int = DEFAULT_SEED) -> Split:
    """A seeded train/val/test split that keeps every group in one split (test: about the
    test fraction of the images, by whole groups, stratified by label as far as groups
    allow; val likewise from the rest)."""
    check_no_release_split(manifest, "grouped splits")
    f_train, f_val, f_test = parse_fractions(fractions)
    if len(groups) != len(manifest):
        raise ValueError("one group per manifest row")
    labels = np.asarray(manifest.labels, dtype=object)
    group_arr = np.asarray(list(groups), dtype=object)
    everything = np.arange(len(manifest))
    test = group_holdout(labels, group_arr, everything, f_test, seed)
    rest = np.setdiff1d(everything, test)
    val = group_holdout(labels, group_arr, rest, f_val / (f_train + f_val), seed + 1) \
        if f_val > 0 else rest[:0]
    part = np.full(len(manifest), "train", dtype=object)
    part[test], part[val] = "test", "val"
    log.info("split: seeded, grouped by %s (%d groups; seed %d), stratified by label as far "
             "as the groups allow", group_by, len(set(groups)), seed)
    return Split(dict(zip(manifest.ids, part.tolist(), strict=True)),
                 dict(zip(manifest.ids, groups, strict=True)), group_by)


def split_groups(manifest: Manifest, by: str, cache_dir: Path | None = None,
                 where: str = "--group-by") -> list[str]:
    """Every image's group for ``--group-by BY``: a text column of the manifest (OASIS's
    ``family``, ``category``; an empty value is a group of its own), or ``duplicates``
    (exact and near copies found as ``data audit`` finds them; ``cache_dir``: an audit
    folder whose hash cache to use)."""
    if by == "duplicates":
        from emofeat.audit import duplicate_groups

        return duplicate_groups(manifest, cache_dir)
    text = [name for name, column in manifest.extra.items() if name != "split"
            and column and all(isinstance(v, str) for v in column)]
    if by not in text:
        raise EmofeatError(f"{where}: the {manifest.format} data set has no column '{by}'; "
                           f"valid: duplicates{''.join(', ' + t for t in text)}")
    return [v or image_id for v, image_id in zip(manifest.extra[by], manifest.ids, strict=True)]


def release_split(manifest: Manifest) -> Split | None:
    """The release's own train/val/test split (a ``split`` column, e.g. EmoSet's), or None.

    Its hash is ``.sha256`` like any split's. Values other than train/val/test are refused.
    """
    column = manifest.extra.get("split")
    if column is None:
        return None
    bad = sorted({str(v) for v in column} - set(SPLIT_NAMES))
    if bad:
        raise EmofeatError(f"the {manifest.format} data set's own split has values {bad[:3]}; "
                           f"expected {', '.join(SPLIT_NAMES)}")
    return Split(dict(zip(manifest.ids, column, strict=True)))


def split_source(manifest: Manifest, fractions: Sequence[float] | str = DEFAULT_FRACTIONS,
                 seed: int = DEFAULT_SEED) -> str:
    """One line naming the split :func:`make_split` gives for these arguments."""
    if "split" in manifest.extra:
        return f"the {manifest.format} release's own split"
    f = parse_fractions(fractions)
    return f"seeded stratified split (seed {seed}, {f[0]:g}/{f[1]:g}/{f[2]:g})"


def choose_split(manifest: Manifest, splits_file: str | Path | None = None,
                 store: str | Path | None = None) -> Split:
    """The split a command works on: a splits.csv, a feature store's own split, or (neither
    given) the default seeded split; either way checked against ``manifest``."""
    if splits_file is not None and store is not None:
        raise EmofeatError("give a splits file or a store to take the split from, not both")
    if store is not None:
        from emofeat.store import SPLITS_FILE, Store

        Store.open(store)  # a complete store, or a clear error
        return read_split(Path(store) / SPLITS_FILE, manifest)
    if splits_file is not None:
        return read_split(splits_file, manifest)
    return make_split(manifest)


