"""OASIS, the Open Affective Standardized Image Set (Kurdi, Lozano & Banaji, Behavior
Research Methods 2017), read as released.

Layout::

    root/OASIS.csv          a row per image: Theme, Valence_mean, Arousal_mean (1-7 scale),
                            and others (an unnamed index column, Category, Source,
                            Valence_SD, Valence_N, ...) which are tolerated
    root/images/<Theme>.jpg

OASIS rates images on continuous scales and has no emotion categories, so the label is the
binary valence by the scale midpoint :data:`VALENCE_MIDPOINT` (4.0): a mean above it is
``positive``, below it ``negative``; exactly 4.0 is ``neutral``: such images keep their
ratings for the rating tasks and are left out (and counted) of the tasks that need the
binary label. Extra columns ``valence_score``, ``arousal_score`` (the means, 1-7), ``theme`` and
``family`` (the theme without its number: "Dog 1" ... "Dog 6" are family "Dog", for grouped
splits) and, where the CSV has it, ``category`` (Person, Animal, Object, Scene).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from emofeat.datasets._common import (
    UNLISTED,
    annotation_and_images,
    csv_rows,
    image_id,
    missing_reason,
    parse_float,
    refuse_min_agree,
)
from emofeat.datasets.manifest import Manifest
from emofeat.datasets.names import DiskNames, loose_key
from emofeat.errors import EmofeatError

RATINGS = "OASIS.csv"
IMAGES = "images"
#: Midpoint of OASIS's 1-7 valence scale: above it positive, below it negative.
VALENCE_MIDPOINT = 4.0
#: The label of images rated exactly on the midpoint: no binary valence, so they serve
#: the rating tasks only (emofeat.datasets.tasks.UNLABELLED).
NEUTRAL = "neutral"
REQUIRED = ("theme", "valence_mean", "arousal_mean")


def _stem_index(names: DiskNames) -> dict[str, str]:
    """Loose file stem -> id, for themes whose image is not ``<Theme>.jpg`` (another ending,
    a space before it)."""
    index: dict[str, str] = {}
    for key in sorted(names.ids):
        if "/" not in key.split("/", 1)[1]:
            index.setdefault(loose_key(Path(names.names[key]).stem), key)
    return index


def theme_family(theme: str) -> str:
    """The family of photos a theme belongs to: ``"Dog 6"`` -> ``"Dog"`` (OASIS names the
    photos of one subject ``<subject> <n>``); a theme without a number is its own family."""
    return re.sub(r"\s*\d+$", "", theme).strip() or theme


class OasisReader:
    """OASIS: ``OASIS.csv`` mean ratings + ``images/<Theme>.jpg``; label = binary valence."""

    name = "oasis"

    @staticmethod
    def detect(root: Path) -> bool:
        return annotation_and_images(root, RATINGS, IMAGES) is not None

    @staticmethod
    def read(root: Path, min_agree: int | None = None) -> Manifest:
        refuse_min_agree("oasis", min_agree)
        parts = annotation_and_images(root, RATINGS, IMAGES)
        if parts is None:
            raise EmofeatError(f"{root} is not the OASIS release: needs {RATINGS} and {IMAGES}/")
        ratings, images = parts
        table = csv_rows(ratings)
        if not table:
            raise EmofeatError(f"{ratings}:1: empty file (expected a header line)")
        header = [h.strip().strip('"').lower() for h in table[0]]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise EmofeatError(
                f"{ratings}:1: lacks column(s) {', '.join(missing)}; found {','.join(header)}"
            )
        col = {name: header.index(name) for name in (*REQUIRED, "category") if name in header}
        names = DiskNames(root, images)
        index = _stem_index(names)
        rows: list[tuple[str, str]] = []
        columns: dict[str, list[float | str]] = {"valence_score": [], "arousal_score": [],
                                                 "theme": [], "family": []}
        if "category" in col:
            columns["category"] = []
        listed: dict[str, int] = {}
        dropped: Counter[str] = Counter()
        for number, record in enumerate(table[1:], start=2):
            if not any(c.strip() for c in record):
                continue
            where = f"{ratings}:{number}"
            if len(record) < len(header):
                raise EmofeatError(f"{where}: expected {len(header)} cells, found {len(record)}")
            theme = record[col["theme"]].strip()
            if not theme:
                raise EmofeatError(f"{where}: empty Theme")
            valence = parse_float(record[col["valence_mean"]], where, "Valence_mean")
            arousal = parse_float(record[col["arousal_mean"]], where, "Arousal_mean")
            key = image_id(f"{theme}.jpg", where, images.name)
            key = names.find(key) or index.get(loose_key(theme), key)
            if key in listed:
                raise EmofeatError(f"{where}: {key} is listed twice (also on line {listed[key]})")
            listed[key] = number
            if (reason := missing_reason(names, key)) is not None:
                dropped[reason] += 1
            else:
                label = "positive" if valence > VALENCE_MIDPOINT else "negative"
                rows.append((key, NEUTRAL if valence == VALENCE_MIDPOINT else label))
                columns["valence_score"].append(valence)
                columns["arousal_score"].append(arousal)
                columns["theme"].append(theme)
                columns["family"].append(theme_family(theme))
                if "category" in col:
                    columns["category"].append(record[col["category"]].strip())
        unlisted = len(names.ids - set(listed))
        if unlisted:
            dropped[UNLISTED] = unlisted
        return Manifest.from_rows(root, "oasis", rows, extra=columns, dropped=dropped,
                                  files=names.files(listed))
