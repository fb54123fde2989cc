"""A data set's ratings (Emotion6, OASIS): the columns a feature store records for the
rating regression tasks (:data:`emofeat.taxonomy.SCORE_TASKS`)."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from emofeat.datasets import Manifest
from emofeat.hashing import sha256_bytes
from emofeat.taxonomy import SCORE_TASKS


def _value(v: Any) -> float:
    """A rating as a float; anything that is not a number (None, "") is NaN."""
    return float(v) if isinstance(v, Real) and not isinstance(v, bool) else math.nan


def rating_columns(manifest: Manifest) -> tuple[str, ...]:
    """The rating columns of the manifest's extra columns, in task order."""
    return tuple(c for c in SCORE_TASKS if c in manifest.extra)


def rating_table(manifest: Manifest) -> dict[str, np.ndarray]:
    """Every rating column as (N,) float64 in manifest order (NaN where a row has none)."""
    return {c: np.array([_value(v) for v in manifest.extra[c]], dtype=np.float64)
            for c in rating_columns(manifest)}


def ratings_info(manifest: Manifest) -> dict[str, Any] | None:
    """store.json's ``ratings``: the columns and a hash of (id, values); None without any."""
    table = rating_table(manifest)
    if not table:
        return None
    lines = ["\t".join([image_id, *(repr(float(table[c][i])) for c in table)])
             for i, image_id in enumerate(manifest.ids)]
    return {"columns": list(table),
            "sha256": sha256_bytes(("\n".join(lines) + "\n").encode("utf-8"))}
