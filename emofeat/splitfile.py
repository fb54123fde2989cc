"""``splits.csv``: the :class:`Split` record, its file (written atomically, read back with
any line ending), its hash and its checks against the data.

The bottom of the split stack: :mod:`emofeat.splits` makes splits, the feature store
(:mod:`emofeat.store`) keeps one; both import this module, which imports neither.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from emofeat.atomic import write_bytes
from emofeat.csvrows import write_row
from emofeat.datasets.manifest import Manifest
from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_bytes
from emofeat.textfiles import read_text

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Which split every image id belongs to, and the SHA-256 of its ``splits.csv`` bytes.

    A grouped split (``group_by``: the column or ``duplicates``) keeps every image's group
    in ``groups`` and in a third column of splits.csv named after ``group_by``; no group is
    in two splits. Ungrouped splits have two columns, as always.
    """

    assignment: Mapping[str, str]
    groups: Mapping[str, str] | None = None
    group_by: str | None = None

    def ids(self, name: str) -> list[str]:
        """Ids of one split, sorted."""
        if name not in SPLIT_NAMES:
            raise EmofeatError(f"unknown split '{name}'; valid: {', '.join(SPLIT_NAMES)}")
        return sorted(k for k, v in self.assignment.items() if v == name)

    def counts(self) -> dict[str, int]:
        c = Counter(self.assignment.values())
        return {name: c.get(name, 0) for name in SPLIT_NAMES}

    def counts_by_class(self, manifest: Manifest) -> dict[str, dict[str, int]]:
        """Images of each class of ``manifest`` in each split: {class: {split: n}}."""
        counts = {label: dict.fromkeys(SPLIT_NAMES, 0) for label in manifest.classes}
        for image_id, label in zip(manifest.ids, manifest.labels, strict=True):
            counts[label][self.assignment[image_id]] += 1
        return counts

    @property
    def n_groups(self) -> int | None:
        return None if self.groups is None else len(set(self.groups.values()))

    @property
    def group_info(self) -> dict[str, str | int] | None:
        """``{"by": ..., "n_groups": ...}`` for a grouped split (run.json), else None."""
        if self.groups is None:
            return None
        return {"by": str(self.group_by), "n_groups": len(set(self.groups.values()))}

    def to_csv_bytes(self) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        groups = self.groups
        writer.writerow(["id", "split"] if groups is None else ["id", "split", self.group_by])
        for image_id in sorted(self.assignment):
            row = [image_id, self.assignment[image_id]]
            write_row(buf, writer, row if groups is None else [*row, groups[image_id]])
        return buf.getvalue().encode("utf-8")

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.to_csv_bytes())


def write_split(split: Split, path: str | Path) -> str:
    """Write ``splits.csv`` atomically; returns its SHA-256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = split.to_csv_bytes()
    write_bytes(path, data)
    return sha256_bytes(data)


def read_split(path: str | Path, manifest: Manifest | None = None) -> Split:
    """Read ``splits.csv``; with a manifest, check both name exactly the same ids."""
    path = Path(path)
    if not path.is_file():
        raise EmofeatError(f"split file {path} does not exist")
    rows = iter(read_text(path).csv_rows())  # any line ending, a BOM (a spreadsheet saved it)
    header = [h.strip() for h in next(rows, [])]
    if [h.lower() for h in header[:2]] != ["id", "split"] or len(header) > 3 \
            or (len(header) == 3 and not header[2]):
        raise EmofeatError(f"{path} is not a splits.csv (header must be 'id,split' or "
                           "'id,split,<group column>')")
    assignment: dict[str, str] = {}
    groups: dict[str, str] | None = {} if len(header) == 3 else None
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header) or row[1].strip() not in SPLIT_NAMES:
            raise EmofeatError(f"{path}:{line}: expected "
                               f"{','.join(['id', '|'.join(SPLIT_NAMES), *header[2:]])}")
        if row[0] in assignment:
            raise EmofeatError(f"{path}:{line}: id '{row[0]}' appears twice")
        assignment[row[0]] = row[1].strip()
        if groups is not None:
            groups[row[0]] = row[2]
    split = Split(assignment, groups, header[2] if groups is not None else None)
    if groups is not None:
        check_groups_apart(split, str(path))
    if manifest is not None:
        check_split_matches(split, manifest.ids, source=str(path))
    return split


def check_groups_apart(split: Split, source: str = "split") -> None:
    """Refuse a grouped split that puts a group in two splits."""
    assert split.groups is not None
    where: dict[str, str] = {}
    for image_id, group in split.groups.items():
        part = split.assignment[image_id]
        if where.setdefault(group, part) != part:
            raise EmofeatError(f"{source}: group '{group}' ({split.group_by}) is in both "
                               f"{where[group]} and {part}")


def check_split_matches(split: Split, ids: Sequence[str], source: str = "split",
                        unreadable: Collection[str] = (), data: str = "the data") -> None:
    """Refuse a split that names ids the data does not have, or leaves some out.

    ``unreadable`` ids (images extraction could not decode) may be in the split only.
    """
    known = set(ids)
    foreign = sorted(set(split.assignment) - known - set(unreadable))
    if foreign:
        raise EmofeatError(
            f"{source} names {len(foreign)} ids that are not in {data}, e.g. {foreign[:3]}"
        )
    absent = sorted(known - set(split.assignment))
    if absent:
        raise EmofeatError(
            f"{source} does not cover {len(absent)} images of {data}, e.g. {absent[:3]}"
        )
