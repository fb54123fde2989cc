"""How one data set's labels read in another data set's classes: the label mapping table.

A run trained on one data set predicts its own task's classes (``emotion8``: Mikels' eight,
``valence``: negative/positive, ``label``: its data set's own classes). Applied to another
data set, each target image needs its true class in those classes, or none:

- Mikels data sets (FI as a folder or CSV, EmoSet, ArtPhoto, Abstract, the demo): the eight
  emotions map to themselves, and to valence as :data:`emofeat.taxonomy.POSITIVE` says.
- Emotion6: anger, disgust, fear and sadness are Mikels classes of the same name; joy (which
  spans amusement, contentment and excitement) and surprise (no Mikels counterpart) are
  unmapped, never guessed. Valence comes from the valence rating (below).
- Twitter I: positive/negative, so valence only.
- Rated sets, valence by a threshold on the scale midpoint (:data:`RATING_SCALES`): above it
  positive, below it negative, exactly on it unmapped (``neutral rating``). Emotion6 rates
  1-9 (midpoint 5), OASIS 1-7 (midpoint 4, the rule OASIS's own labels follow).

A task no target image maps onto is refused with the reasons (:class:`UnmappableTask`).
Nothing here imports numpy, torch or scikit-learn.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from emofeat.errors import EmofeatError
from emofeat.taxonomy import EMOTIONS, SCORE_TASKS, VALENCE_CLASSES, normalise_label, valence_of

#: The valence of a rated data set comes from its ``valence_score`` (see RATING_SCALES).
FROM_RATING = "from rating"


class UnmappableTask(EmofeatError):
    """The run's task cannot be mapped onto the target data set (the reason is the message)."""


@dataclass(frozen=True)
class RatingScale:
    """A rating scale; valence is positive above the midpoint, negative below it."""

    low: float
    high: float

    @property
    def midpoint(self) -> float:
        return (self.low + self.high) / 2


#: Rated data sets (their ``valence_score`` column): the scale, and so the midpoint.
RATING_SCALES: dict[str, RatingScale] = {"emotion6": RatingScale(1, 9),
                                         "oasis": RatingScale(1, 7)}


@dataclass(frozen=True)
class LabelMap:
    """One row of the table: a label of a taxonomy, its Mikels class and its valence
    (None: unmapped, ``why`` says why; :data:`FROM_RATING`: by the rating threshold)."""

    taxonomy: str
    label: str
    emotion8: str | None
    valence: str | None
    why: str = ""


_VALENCE_ONLY = "only valence is annotated"

#: The label mapping table, one row per (taxonomy, label).
TABLE: tuple[LabelMap, ...] = (
    *(LabelMap("mikels", e, e, valence_of(e)) for e in EMOTIONS),
    *(LabelMap("emotion6", e, e, FROM_RATING) for e in ("anger", "disgust", "fear", "sadness")),
    LabelMap("emotion6", "joy", None, FROM_RATING,
             "joy spans amusement, contentment and excitement; not guessed"),
    LabelMap("emotion6", "surprise", None, FROM_RATING, "surprise has no Mikels counterpart"),
    LabelMap("emotion6", "neutral", None, FROM_RATING,
             "neutral (a class under --label-from ratings) has no Mikels counterpart"),
    LabelMap("binary", "negative", None, "negative", _VALENCE_ONLY),
    LabelMap("binary", "positive", None, "positive", _VALENCE_ONLY),
    LabelMap("oasis", "negative", None, FROM_RATING, _VALENCE_ONLY),
    LabelMap("oasis", "positive", None, FROM_RATING, _VALENCE_ONLY),
    LabelMap("oasis", "neutral", None, FROM_RATING, _VALENCE_ONLY),
)
_ROWS: dict[tuple[str, str], LabelMap] = {(r.taxonomy, r.label): r for r in TABLE}

#: The taxonomy of each published release; other formats (folder, csv, demo) are read label
#: by label as Mikels emotions or positive/negative.
FORMAT_TAXONOMY: dict[str, str] = {"emoset": "mikels", "artphoto": "mikels",
                                   "abstract": "mikels", "emotion6": "emotion6",
                                   "twitter1": "binary", "oasis": "oasis"}
#: How the data sets are named in reports (other formats: the folder's name).
DISPLAY_NAMES: dict[str, str] = {"emoset": "EmoSet", "emotion6": "Emotion6",
                                 "twitter1": "Twitter I", "oasis": "OASIS",
                                 "abstract": "Abstract", "artphoto": "ArtPhoto"}


def label_row(fmt: str, label: str) -> LabelMap | None:
    """The table's row for a label of a data set of format ``fmt`` (None: not in the table)."""
    name = normalise_label(label)
    if fmt in FORMAT_TAXONOMY:
        return _ROWS.get((FORMAT_TAXONOMY[fmt], name))
    return _ROWS.get(("mikels", name)) or _ROWS.get(("binary", name))


def valence_from_rating(fmt: str, rating: float | None) -> tuple[str | None, str]:
    """``positive``/``negative`` by the scale midpoint of ``fmt``, or None and why."""
    scale = RATING_SCALES[fmt]
    if rating is None or math.isnan(rating):
        return None, "no valence rating"
    if rating == scale.midpoint:
        return None, f"neutral rating (exactly the midpoint {scale.midpoint:g})"
    return ("positive" if rating > scale.midpoint else "negative"), ""


def mapping_kind(task: str, classes: Sequence[str]) -> str:
    """Which column of the table a run's classes use: ``emotion8``, ``valence``, or
    ``identical`` (a ``label`` run: target labels of the same name)."""
    if task in SCORE_TASKS:
        raise UnmappableTask(f"'{task}' is a rating task; cross-dataset evaluation maps "
                             "classes, and rating scales differ between data sets "
                             "(Emotion6 1-9, OASIS 1-7)")
    if task in ("emotion8", "valence"):
        return task
    return "valence" if tuple(classes) == VALENCE_CLASSES else "identical"


def map_label(fmt: str, label: str, kind: str, classes: Sequence[str],
              rating: float | None = None) -> tuple[str | None, str]:
    """A target image's class among ``classes`` (a run's), or None and why it is unmapped.

    ``kind`` is :func:`mapping_kind`'s answer; ``rating`` the image's valence rating (rated
    data sets only).
    """
    name = normalise_label(label)
    if kind == "identical":
        if name in classes:
            return name, ""
        return None, f"'{name}' is not a class of the run ({', '.join(classes)})"
    row = label_row(fmt, label)
    if row is None:
        return None, f"'{name}' is not in the label mapping table"
    target = row.emotion8 if kind == "emotion8" else row.valence
    if target == FROM_RATING:
        return valence_from_rating(fmt, rating)
    if target is None:
        return None, f"'{name}': {row.why}"
    return target, ""


@dataclass(frozen=True)
class Mapped:
    """Every target image's class index (None: unmapped) and the unmapped counts by reason."""

    index: tuple[int | None, ...]
    unmapped: dict[str, int]

    @property
    def n_mapped(self) -> int:
        return sum(i is not None for i in self.index)


def map_labels(fmt: str, labels: Sequence[str], task: str, classes: Sequence[str],
               ratings: Sequence[float] | None = None, target: str = "the target") -> Mapped:
    """Map every label of a target data set onto a run's classes; refuse (with the reasons)
    when none maps. ``ratings``: the target's valence ratings, for rated data sets."""
    kind = mapping_kind(task, classes)
    if kind == "valence" and fmt in RATING_SCALES and ratings is None:
        raise UnmappableTask(f"valence on {fmt} comes from its valence ratings, which "
                             f"{target} does not have")
    position = {c: i for i, c in enumerate(classes)}
    index: list[int | None] = []
    why: Counter[str] = Counter()
    for k, label in enumerate(labels):
        cls, reason = map_label(fmt, label, kind, classes,
                                None if ratings is None else ratings[k])
        if cls is None or cls not in position:
            why[reason or f"'{cls}' is not a class of the run"] += 1
            index.append(None)
        else:
            index.append(position[cls])
    mapped = Mapped(tuple(index), dict(sorted(why.items())))
    if not mapped.n_mapped:
        reasons = "; ".join(f"{r} ({n})" for r, n in mapped.unmapped.items())
        raise UnmappableTask(f"task '{task}' of the run cannot be mapped onto {target} "
                             f"({fmt}): no image maps to its classes: {reasons}")
    return mapped
