"""OASIS, the Open Affective Standardized Image Set (Kurdi, Lozano & Banaji, Behavior
Research Methods 2017), read as released.

Layout::

    root/OASIS.csv          a row per image: Theme, Valence_mean, Arousal_mean (1-7 scale),
                            and others (an unnamed index column, Category, Source,
                            Valence_SD, Valence_N, ...) which are tolerated
    root/images/<Theme>.jpg

OASIS rates images on continuous scales and has no emotion categories, so the label is the
binary valence by the scale midpoint :data:`VALENCE_MIDPOINT` (4.0): a mean above it is
``positive``, below it ``negative``; exactly 4.0 is dropped and counted (``neutral
rating``). Extra columns ``valence_score``, ``arousal_score`` (the means, 1-7) and, where the
CSV has it, ``category`` (Person, Animal, Object, Scene).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from emofeat.datasets._common import (
    LISTED_MISSING,
    UNLISTED,
    annotation_and_images,
    image_id,
    image_ids_under,
    parse_float,
    read_text,
    refuse_min_agree,
)
from emofeat.datasets.manifest import Manifest
from emofeat.errors import EmofeatError

RATINGS = "OASIS.csv"
IMAGES = "images"
#: Midpoint of OASIS's 1-7 valence scale: above it positive, below it negative.
VALENCE_MIDPOINT = 4.0
NEUTRAL = "neutral rating"
REQUIRED = ("theme", "valence_mean", "arousal_mean")


def _image_index(root: Path, images: Path) -> dict[str, str]:
    """Lower-case file stem -> id, for themes whose image is not ``<Theme>.jpg`` exactly."""
    index: dict[str, str] = {}
    for key in sorted(image_ids_under(root, images, recursive=False)):
        index.setdefault(Path(key).stem.lower(), key)
    return index


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
        try:
            table = list(csv.reader(io.StringIO(read_text(ratings))))
        except csv.Error as exc:
            raise EmofeatError(f"{ratings}: malformed CSV ({exc})") from None
        if not table:
            raise EmofeatError(f"{ratings}:1: empty file (expected a header line)")
        header = [h.strip().strip('"').lower() for h in table[0]]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise EmofeatError(
                f"{ratings}:1: lacks column(s) {', '.join(missing)}; found {','.join(header)}"
            )
        col = {name: header.index(name) for name in (*REQUIRED, "category") if name in header}
        index = _image_index(root, images)
        rows: list[tuple[str, str]] = []
        columns: dict[str, list[float | str]] = {"valence_score": [], "arousal_score": []}
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
            if not (root / key).is_file():
                key = index.get(theme.lower(), key)
            if key in listed:
                raise EmofeatError(f"{where}: {key} is listed twice (also on line {listed[key]})")
            listed[key] = number
            if not (root / key).is_file():
                dropped[LISTED_MISSING] += 1
            elif valence == VALENCE_MIDPOINT:
                dropped[NEUTRAL] += 1
            else:
                rows.append((key, "positive" if valence > VALENCE_MIDPOINT else "negative"))
                columns["valence_score"].append(valence)
                columns["arousal_score"].append(arousal)
                if "category" in col:
                    columns["category"].append(record[col["category"]].strip())
        unlisted = len(image_ids_under(root, images) - set(listed))
        if unlisted:
            dropped[UNLISTED] = unlisted
        return Manifest.from_rows(root, "oasis", rows, extra=columns, dropped=dropped)
