"""Reader for a CSV list: ``path,label[,agree]``, paths relative to the CSV file; optional
columns ``split`` (a list's own train/val/test split), the ratings ``valence_score`` and
``arousal_score`` (``data audit --drop`` writes them when the data set has them), and an
emotion distribution as ``dist_<class>`` shares or ``votes_<class>`` counts (the task
``distribution``, :mod:`emofeat.distributions`) are kept; an empty cell is a missing value."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path, PurePosixPath

from emofeat.datasets.manifest import Manifest
from emofeat.datasets.names import DiskNames
from emofeat.errors import EmofeatError
from emofeat.images import is_image_file
from emofeat.taxonomy import SCORE_TASKS, normalise_label
from emofeat.textfiles import read_text

REQUIRED = ("path", "label")
#: Columns of an emotion distribution in a CSV list.
DISTRIBUTION_PREFIXES = ("dist_", "votes_")
#: Agreement is "K of 5 annotators agree" in FI and Twitter I.
MAX_AGREE = 5


def check_min_agree(min_agree: int | None) -> None:
    if min_agree is not None and not 0 <= min_agree <= MAX_AGREE:
        raise EmofeatError(f"--min-agree must be between 0 and {MAX_AGREE}, got {min_agree}")


def _read_rows(csv_path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header (stripped, lower case) and rows of a CSV in any line ending and encoding
    :mod:`emofeat.textfiles` reads."""
    try:
        reader = read_text(csv_path).csv_reader()
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        rows = list(reader)
    except csv.Error as exc:
        raise EmofeatError(f"{csv_path}: malformed CSV ({exc})") from None
    return header, rows


class _LazyNames:
    """The images below the CSV's folder, scanned only when a listed name is not there as
    written (to find it by a loose key: trailing spaces, case, Unicode normalisation)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.names: DiskNames | None = None

    def find(self, image_id: str) -> tuple[str, str]:
        """(id, name on disk) of a listed path (itself, where nothing matches)."""
        if (self.root / image_id).is_file():
            return image_id, image_id
        if self.names is None:
            self.names = DiskNames(self.root, self.root)
        found = self.names.find(image_id)
        return (found, self.names.names[found]) if found is not None else (image_id, image_id)


def _parse_agree(value: str, csv_path: Path, line: int) -> int:
    try:
        agree = int(float(value))
    except ValueError:
        raise EmofeatError(f"{csv_path}:{line}: agree '{value}' is not a number") from None
    if not 0 <= agree <= MAX_AGREE:
        raise EmofeatError(f"{csv_path}:{line}: agree {agree} is outside 0-{MAX_AGREE}")
    return agree


def _parse_rating(value: str, csv_path: Path, line: int, column: str) -> float:
    if not value.strip():
        return float("nan")
    try:
        return float(value)
    except ValueError:
        raise EmofeatError(f"{csv_path}:{line}: {column} '{value}' is not a number") from None


def _outside_root(image_id: str) -> bool:
    """Absolute (``/x``, ``C:/x``) or climbing out of the folder with ``..``."""
    path = PurePosixPath(image_id)
    return path.is_absolute() or ".." in path.parts or bool(re.match(r"^[A-Za-z]:", image_id))


def _image_id(rel: str, where: str, allow_outside_root: bool) -> str:
    image_id = PurePosixPath(rel.replace("\\", "/")).as_posix()
    if _outside_root(image_id) and not allow_outside_root:
        raise EmofeatError(f"{where}: path '{rel}' is outside the CSV's folder (absolute or "
                           "with '..'); pass --allow-outside-root (or allow_outside_root = "
                           "true in [data]) to read it anyway")
    return image_id


class CsvReader:
    """A CSV with columns ``path`` and ``label`` and optionally ``agree`` (annotators, of 5).

    Paths are relative to the CSV's folder; absolute ones and ones that climb out with
    ``..`` are refused unless ``allow_outside_root``. A path listed twice is an error naming
    both lines. ``min_agree=K`` keeps rows with ``agree >= K``; rows left out are counted in
    ``dropped``. Listed files that do not exist are dropped and counted, never silently.
    """

    name = "csv"

    @staticmethod
    def detect(path: Path) -> bool:
        return path.is_file() and path.suffix.lower() == ".csv"

    @staticmethod
    def read(csv_path: Path, min_agree: int | None = None,
             allow_outside_root: bool = False) -> Manifest:
        check_min_agree(min_agree)
        if not csv_path.is_file():
            raise EmofeatError(f"{csv_path} is not a CSV file")
        header, raw = _read_rows(csv_path)
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise EmofeatError(
                f"{csv_path} lacks column(s) {', '.join(missing)}; "
                f"expected a header with path,label[,agree], found {','.join(header) or 'none'}"
            )
        has_agree = "agree" in header
        if min_agree is not None and not has_agree:
            raise EmofeatError(f"--min-agree needs an 'agree' column, which {csv_path} lacks")
        root = csv_path.parent
        rows: list[tuple[str, str]] = []
        agree_col: list[int] = []
        dropped: Counter[str] = Counter()
        first_line: dict[str, int] = {}
        names = _LazyNames(root)
        files: dict[str, str] = {}
        kept = [c for c in ("split", *SCORE_TASKS) if c in header] + [
            c for c in header if c.startswith(DISTRIBUTION_PREFIXES) and c not in SCORE_TASKS]
        columns: dict[str, list[str | float]] = {c: [] for c in kept}
        for line, rec in enumerate(raw, start=2):
            rel, label = (rec.get("path") or "").strip(), (rec.get("label") or "").strip()
            if not rel or not label:
                raise EmofeatError(f"{csv_path}:{line}: empty path or label")
            image_id = _image_id(rel, f"{csv_path}:{line}", allow_outside_root)
            image_id, on_disk = names.find(image_id)
            if image_id in first_line:
                raise EmofeatError(f"{csv_path}:{line}: '{image_id}' is listed twice (first "
                                   f"on line {first_line[image_id]})")
            first_line[image_id] = line
            agree = _parse_agree(rec["agree"], csv_path, line) if has_agree else None
            if min_agree is not None and agree is not None and agree < min_agree:
                dropped[f"agree < {min_agree}"] += 1
            elif not (root / on_disk).is_file():
                dropped["file not found"] += 1
            elif not is_image_file(root / on_disk):
                dropped["not an image file"] += 1
            else:
                rows.append((image_id, normalise_label(label)))
                files[image_id] = on_disk
                if agree is not None:
                    agree_col.append(agree)
                for c in kept:
                    value = rec.get(c) or ""
                    columns[c].append(value.strip().lower() if c == "split" else
                                      _parse_rating(value, csv_path, line, c))
        extra = {**({"agree": agree_col} if has_agree else {}), **columns}
        return Manifest.from_rows(root, "csv", rows, extra=extra, dropped=dropped, files=files)
