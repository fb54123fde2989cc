"""Abstract paintings (Machajdik & Hanbury, ACM Multimedia 2010), read as released.

Layout::

    root/ABSTRACT_groundTruth.csv   header 'name','Amusement','Anger','Awe','Content',
                                    'Disgust','Excitement','Fear','Sad'; per image its file
                                    name (in single quotes) and 8 vote counts
    root/<file>.jpg                 the images, beside the CSV

The label is the emotion with the most votes (Mikels' names: ``Content`` -> contentment,
``Sad`` -> sadness); images whose top votes tie are dropped and counted (``tied votes``), as
are images nobody voted for. Extra columns: ``votes`` (the total) and ``share_<emotion>``
(that emotion's share of the votes, 0-1) for each of the eight.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from emofeat.datasets._common import (
    UNLISTED,
    child_file,
    csv_rows,
    image_id,
    missing_reason,
    parse_count,
    refuse_min_agree,
)
from emofeat.datasets.manifest import Manifest
from emofeat.datasets.names import DiskNames
from emofeat.errors import EmofeatError
from emofeat.taxonomy import EMOTIONS, normalise_label

GROUND_TRUTH = "ABSTRACT_groundTruth.csv"
TIED = "tied votes"
NO_VOTES = "no votes"


def _cell(text: str) -> str:
    return text.strip().strip("'\"").strip()


def _header(truth: Path, header: list[str]) -> list[str]:
    """The emotion of each vote column, in file order; all eight exactly once."""
    cells = [_cell(h) for h in header]
    if len(cells) == len(EMOTIONS):  # no cell above the file names
        cells = ["", *cells]
    emotions = [normalise_label(c).lower() for c in cells[1:]]
    if sorted(emotions) != sorted(EMOTIONS):
        found = ", ".join(cells[1:]) or "none"
        raise EmofeatError(
            f"{truth}:1: expected vote columns for the eight emotions (Amusement, Anger, Awe, "
            f"Content, Disgust, Excitement, Fear, Sad), found {found}"
        )
    return emotions


class AbstractReader:
    """Abstract paintings: ``ABSTRACT_groundTruth.csv`` vote counts beside the images."""

    name = "abstract"

    @staticmethod
    def detect(root: Path) -> bool:
        return root.is_dir() and child_file(root, GROUND_TRUTH) is not None

    @staticmethod
    def read(root: Path, min_agree: int | None = None) -> Manifest:
        refuse_min_agree("abstract", min_agree)
        truth = child_file(root, GROUND_TRUTH)
        if truth is None:
            raise EmofeatError(f"{root} is not the Abstract release: no {GROUND_TRUTH}")
        table = csv_rows(truth, quotechar="'", skipinitialspace=True)
        numbered = [(n, r) for n, r in enumerate(table, start=1) if any(c.strip() for c in r)]
        if not numbered:
            raise EmofeatError(f"{truth}:1: empty file (expected a header line)")
        emotions = _header(truth, numbered[0][1])
        rows: list[tuple[str, str]] = []
        columns: dict[str, list[float | int]] = {
            "votes": [], **{f"share_{e}": [] for e in EMOTIONS}
        }
        listed: dict[str, int] = {}
        dropped: Counter[str] = Counter()
        names = DiskNames(root, root, recursive=False)
        for number, record in numbered[1:]:
            where = f"{truth}:{number}"
            if len(record) != 1 + len(emotions):
                raise EmofeatError(
                    f"{where}: expected a file name and {len(emotions)} vote counts, "
                    f"found {len(record)} cells"
                )
            key = image_id(_cell(record[0]), where)
            key = names.find(key) or key
            if key in listed:
                raise EmofeatError(f"{where}: {key} is listed twice (also on line {listed[key]})")
            listed[key] = number
            votes = {e: parse_count(v, where, f"votes for {e}")
                     for e, v in zip(emotions, record[1:], strict=True)}
            total, top = sum(votes.values()), max(votes.values())
            winners = [e for e, v in votes.items() if v == top]
            if (reason := missing_reason(names, key)) is not None:
                dropped[reason] += 1
            elif total == 0:
                dropped[NO_VOTES] += 1
            elif len(winners) > 1:
                dropped[TIED] += 1
            else:
                rows.append((key, winners[0]))
                columns["votes"].append(total)
                for emotion in EMOTIONS:
                    columns[f"share_{emotion}"].append(votes[emotion] / total)
        unlisted = len(names.ids - set(listed))
        if unlisted:
            dropped[UNLISTED] = unlisted
        return Manifest.from_rows(root, "abstract", rows, extra=columns, dropped=dropped,
                                  files=names.files(listed))
