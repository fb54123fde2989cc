"""Emotion distributions: the share of annotators who felt each emotion, as a task.

A data set offers the task ``distribution`` when its manifest has per-class columns of one
of these kinds (the first kind present wins; the class is the column name after the prefix):

- ``prob_<class>``: probabilities (Emotion6's seven, neutral included);
- ``share_<class>``: vote shares (Abstract's eight);
- ``dist_<class>``: shares from a CSV list;
- ``votes_<class>``: vote counts from a CSV list (FI or Twitter lists that give them).

Every row is validated and normalised to sum 1: a missing or negative value, a row whose
values are all zero, and (for shares, not counts) a row whose shares sum further than
:data:`SUM_TOLERANCE` from 1 are invalid. The normalised table travels in the feature store
as ``/distributions/<task>`` (float64, N x classes; invalid rows NaN), hashed in store.json
like the ratings, with the invalid rows counted by reason and the first one described: a
store serves every other task whatever its distributions hold. Where the distribution task
is used (fit, fine-tune, the baseline), an invalid row is an error naming it, unless
``drop_invalid``: then such rows are left out of the task, counted.

No torch or scikit-learn here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from emofeat.datasets.manifest import Manifest
from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_bytes

#: The one distribution task.
DISTRIBUTION_TASK = "distribution"
#: Column prefixes of a distribution, in the order they are looked for, and whether the
#: values are shares (which must sum to about 1) or counts (any positive total).
PREFIXES: dict[str, str] = {"prob_": "shares", "share_": "shares", "dist_": "shares",
                            "votes_": "counts"}
#: How far from 1 a row of shares may sum (then rescaled): released shares are rounded,
#: Emotion6's seven probabilities to two decimals (up to 7 x 0.005 = 0.035 off).
SUM_TOLERANCE = 0.05

MISSING = "missing share"
NEGATIVE = "negative share"
ALL_ZERO = "all shares zero"
NOT_ONE = f"shares do not sum to 1 (within {SUM_TOLERANCE})"


@dataclass(frozen=True)
class DistributionSource:
    """Where a manifest's distribution comes from: a prefix and the class columns."""

    prefix: str
    classes: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.prefix + c for c in self.classes)

    @property
    def counts(self) -> bool:
        return PREFIXES[self.prefix] == "counts"

    def describe(self) -> str:
        return f"{self.prefix}<class> columns ({', '.join(self.classes)})"


def distribution_source(manifest: Manifest) -> DistributionSource | None:
    """The manifest's distribution columns (the first prefix of :data:`PREFIXES` with at
    least two classes), or None."""
    for prefix in PREFIXES:
        classes = tuple(c[len(prefix):] for c in manifest.extra if c.startswith(prefix)
                        and len(c) > len(prefix))
        if len(classes) >= 2:
            return DistributionSource(prefix, classes)
    return None


def _number(value: Any) -> float:
    return float(value) if isinstance(value, Real) and not isinstance(value, bool) \
        else math.nan


def row_problem(values: np.ndarray, counts: bool) -> str | None:
    """Why one row of raw values is no distribution (None: it is one)."""
    if not np.all(np.isfinite(values)):
        return MISSING
    if np.any(values < 0):
        return NEGATIVE
    total = float(values.sum())
    if total <= 0:
        return ALL_ZERO
    if not counts and abs(total - 1.0) > SUM_TOLERANCE:
        return NOT_ONE
    return None


@dataclass(frozen=True)
class DistributionTable:
    """Every row's normalised distribution (NaN rows: invalid), the classes, the source,
    the invalid rows by reason and the first of them described."""

    source: DistributionSource
    values: np.ndarray  # (N, C) float64, rows sum to 1 or are NaN
    invalid: dict[str, int] = field(default_factory=dict)
    first_invalid: str | None = None  # "image X: reason (values); N more invalid rows"

    @property
    def classes(self) -> tuple[str, ...]:
        return self.source.classes

    @property
    def usable(self) -> np.ndarray:
        return np.isfinite(self.values).all(axis=1)

    @property
    def n(self) -> int:
        return int(self.usable.sum())


def refuse_invalid(where: str, first_invalid: str | None, drop_invalid: bool,
                   hint: str = "pass --drop-invalid") -> None:
    """The error of a distribution with invalid rows used without ``drop_invalid``."""
    if first_invalid is not None and not drop_invalid:
        raise EmofeatError(f"{where}: {first_invalid}; fix the annotations, or {hint} to "
                           "leave such images out of the distribution task (counted)")


def distribution_table(manifest: Manifest, drop_invalid: bool = True,
                       hint: str = "pass --drop-invalid") -> DistributionTable | None:
    """The manifest's distribution, validated and normalised (None: it has none); invalid
    rows are NaN and counted. ``drop_invalid=False``: an invalid row raises
    :class:`EmofeatError` naming it, its values and how many rows are invalid (``hint``:
    how to drop them)."""
    source = distribution_source(manifest)
    if source is None:
        return None
    raw = np.array([[_number(v) for v in manifest.extra[c]] for c in source.columns],
                   dtype=np.float64).T.reshape(len(manifest), len(source.classes))
    why: Counter[str] = Counter()
    first: tuple[int, str] | None = None
    values = np.full_like(raw, np.nan)
    for i, row in enumerate(raw):
        problem = row_problem(row, source.counts)
        if problem is None:
            values[i] = row / row.sum()
            continue
        why[problem] += 1
        first = first or (i, problem)
    described = None
    if first is not None:
        i, problem = first
        shown = ", ".join(f"{c}={'' if math.isnan(v) else f'{v:g}'}"
                          for c, v in zip(source.columns, raw[i], strict=True))
        more = sum(why.values()) - 1
        described = (f"image {manifest.ids[i]}: {problem} ({shown})"
                     f"{f'; {more} more invalid rows' if more else ''}")
    refuse_invalid(str(manifest.root), described, drop_invalid, hint)
    return DistributionTable(source, values, dict(why), described)


def distributions_info(table: DistributionTable | None, ids: tuple[str, ...] | list[str]
                       ) -> dict[str, Any] | None:
    """store.json's ``distributions``: per task its classes, source columns, a hash of
    (id, normalised values) and the invalid rows left out by reason; None without any."""
    if table is None:
        return None
    lines = ["\t".join([image_id, *(repr(float(v)) for v in table.values[i])])
             for i, image_id in enumerate(ids)]
    return {DISTRIBUTION_TASK: {
        "classes": list(table.classes), "source": table.source.describe(),
        "sha256": sha256_bytes(("\n".join(lines) + "\n").encode("utf-8")),
        "invalid": dict(sorted(table.invalid.items())),
        **({"first_invalid": table.first_invalid} if table.first_invalid else {})}}


def dominant(values: np.ndarray) -> np.ndarray:
    """Each row's dominant class (the first on ties), as indices."""
    return np.argmax(values, axis=1)
