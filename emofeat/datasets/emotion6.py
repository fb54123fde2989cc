"""Emotion6 (Peng et al., CVPR 2015), read as released.

Layout::

    root/images/<keyword>/<n>.jpg   keyword: anger, disgust, fear, joy, sadness, surprise
    root/ground_truth.txt           tab separated, one header line, then per image:
        file (relative to images/), valence, arousal (1-9 scale), and the probabilities of
        anger, disgust, fear, joy, sadness, surprise, neutral

The label is the folder keyword, one of Emotion6's own six classes (not mapped to Mikels'
eight: use the ``label`` task), or with ``--label-from ratings`` the emotion annotators rated
most probable (seven classes with neutral; ties dropped; see :mod:`emofeat.datasets.labels`).
Extra columns: ``valence_score``, ``arousal_score`` and ``prob_<emotion>`` for the seven
probabilities (floats); ``label_folder`` and ``label_ratings`` (text, "" where tied).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from emofeat.datasets._common import (
    UNLISTED,
    annotation_and_images,
    image_id,
    missing_reason,
    numbered_lines,
    parse_float,
    refuse_min_agree,
)
from emofeat.datasets.manifest import Manifest
from emofeat.datasets.names import DiskNames
from emofeat.errors import EmofeatError

#: Emotion6's own classes: Ekman's six basic emotions, the image folder names.
EMOTION6_CLASSES: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
#: The probability columns of ground_truth.txt, in file order (the six and neutral).
PROBABILITIES: tuple[str, ...] = (*EMOTION6_CLASSES, "neutral")
GROUND_TRUTH = "ground_truth.txt"
IMAGES = "images"
N_FIELDS = 3 + len(PROBABILITIES)


def _fields(line: str) -> list[str]:
    return [f.strip() for f in (line.split("\t") if "\t" in line else line.split())]


def rated_label(probabilities: list[float]) -> str:
    """The emotion with the highest rated probability ("" when two share it)."""
    top = max(probabilities)
    winners = [p for p, v in zip(PROBABILITIES, probabilities, strict=True) if v == top]
    return winners[0] if len(winners) == 1 else ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Emotion6Reader:
    """Emotion6: ``images/<keyword>/`` + ``ground_truth.txt`` (valence, arousal, 7 probs)."""

    name = "emotion6"

    @staticmethod
    def detect(root: Path) -> bool:
        return annotation_and_images(root, GROUND_TRUTH, IMAGES) is not None

    @staticmethod
    def read(root: Path, min_agree: int | None = None) -> Manifest:
        refuse_min_agree("emotion6", min_agree)
        parts = annotation_and_images(root, GROUND_TRUTH, IMAGES)
        if parts is None:
            raise EmofeatError(f"{root} is not an Emotion6 release: needs {GROUND_TRUTH} "
                               f"and {IMAGES}/")
        truth, images = parts
        prefix = images.name
        rows: list[tuple[str, str]] = []
        columns: dict[str, list[float]] = {
            "valence_score": [], "arousal_score": [], **{f"prob_{p}": [] for p in PROBABILITIES}
        }
        rules: dict[str, list[str]] = {"label_folder": [], "label_ratings": []}
        listed: dict[str, int] = {}
        dropped: Counter[str] = Counter()
        names = DiskNames(root, images)
        lines = list(numbered_lines(truth))
        if not lines:
            raise EmofeatError(f"{truth}:1: empty file (expected a header line)")
        header_line, header = lines[0]
        if len(_fields(header)) != N_FIELDS:
            raise EmofeatError(
                f"{truth}:{header_line}: expected a header of {N_FIELDS} tab-separated "
                "columns (file, valence, arousal, 7 probabilities)"
            )
        if not _is_number(_fields(header)[1]):
            lines = lines[1:]  # the header line; a file without one starts with data
        for number, line in lines:
            where = f"{truth}:{number}"
            fields = _fields(line)
            if len(fields) != N_FIELDS:
                raise EmofeatError(f"{where}: expected {N_FIELDS} columns, found {len(fields)}")
            rel = fields[0].strip("'\"").replace("\\", "/")
            if rel.lower().startswith(f"{IMAGES}/"):
                rel = rel[len(IMAGES) + 1:]
            key = image_id(rel, where, prefix)
            key = names.find(key) or key
            keyword = rel.split("/", 1)[0].strip().lower() if "/" in rel else ""
            if keyword not in EMOTION6_CLASSES:
                raise EmofeatError(
                    f"{where}: '{fields[0]}' is not in a class folder "
                    f"({', '.join(EMOTION6_CLASSES)})"
                )
            if key in listed:
                raise EmofeatError(f"{where}: {key} is listed twice (also on line {listed[key]})")
            listed[key] = number
            values = [parse_float(v, where, name) for v, name in
                      zip(fields[1:], ("valence", "arousal", *PROBABILITIES), strict=True)]
            if (reason := missing_reason(names, key)) is not None:
                dropped[reason] += 1
                continue
            rows.append((key, keyword))
            rules["label_folder"].append(keyword)
            rules["label_ratings"].append(rated_label(values[2:]))
            for column, value in zip(columns.values(), values, strict=True):
                column.append(value)
        unlisted = len(names.ids - set(listed))
        if unlisted:
            dropped[UNLISTED] = unlisted
        return Manifest.from_rows(root, "emotion6", rows, extra={**columns, **rules},
                                  dropped=dropped, files=names.files(listed))
