"""Helpers shared by the readers of published releases (EmoSet, Emotion6, Twitter I, ...).

Every reader reports what it leaves out in ``Manifest.dropped`` under the same reasons, so
``emofeat data show`` reads alike whatever the release:

- :data:`LISTED_MISSING`: an annotation file names an image that is not there;
- :data:`UNLISTED`: an image is there but no annotation file names it;
- :data:`NOT_IMAGE`: a file that is not an image where images are expected.

Malformed annotation files raise :class:`EmofeatError` with ``file:line:`` in the message.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from emofeat import textfiles
from emofeat.datasets.names import DiskNames
from emofeat.errors import EmofeatError

LISTED_MISSING = "listed but missing"
UNLISTED = "present but not listed"
NOT_IMAGE = "not an image file"

_WS = re.compile(r"\s*")


def refuse_min_agree(fmt: str, min_agree: int | None) -> None:
    """Formats without per-image agreement counts reject ``--min-agree``."""
    if min_agree is not None:
        raise EmofeatError(
            f"--min-agree needs agreement counts, which the {fmt} format does not have"
        )


def child(folder: Path, name: str) -> Path | None:
    """The entry of ``folder`` called ``name`` (exact spelling first, then any case)."""
    exact = folder / name
    if exact.exists():
        return exact
    if not folder.is_dir():
        return None
    lower = name.lower()
    matches = sorted(p for p in folder.iterdir() if p.name.lower() == lower)
    return matches[0] if matches else None


def child_file(folder: Path, name: str) -> Path | None:
    path = child(folder, name)
    return path if path is not None and path.is_file() else None


def child_dir(folder: Path, name: str) -> Path | None:
    path = child(folder, name)
    return path if path is not None and path.is_dir() else None


def annotation_and_images(root: Path, annotation: str, images: str = "images"
                          ) -> tuple[Path, Path] | None:
    """The annotation file and image folder of a release laid out as ``root/<annotation>`` +
    ``root/<images>/`` (either name matched exactly, else ignoring case); None if absent."""
    if not root.is_dir():
        return None
    found = child_file(root, annotation), child_dir(root, images)
    return (found[0], found[1]) if found[0] is not None and found[1] is not None else None


def read_text(path: Path) -> str:
    """A text annotation file, decoded by :func:`emofeat.textfiles.read_text` (BOMs, legacy
    encodings); line endings as in the file."""
    return textfiles.read_text(path).text


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its ending) for the non-blank lines of a text file (LF,
    CRLF or CR line endings)."""
    return textfiles.read_text(path).numbered_lines()


def csv_rows(path: Path, **options: Any) -> list[list[str]]:
    """The rows of a CSV annotation file (any line ending and encoding); a malformed file is
    an error naming it."""
    try:
        return textfiles.read_text(path).csv_rows(**options)
    except csv.Error as exc:
        raise EmofeatError(f"{path}: malformed CSV ({exc})") from None


def image_id(raw: str, where: str, prefix: str = "") -> str:
    """A listed path as a manifest id: POSIX, relative, below the root (``prefix/raw``)."""
    text = raw.strip().strip("'\"").replace("\\", "/")
    rel = PurePosixPath(prefix) / text if prefix else PurePosixPath(text)
    if not text or rel.is_absolute() or ".." in rel.parts or re.match(r"^[A-Za-z]:", text):
        raise EmofeatError(f"{where}: '{raw.strip()}' is not a relative image path")
    return rel.as_posix()


def parse_float(value: str, where: str, column: str) -> float:
    try:
        number = float(value.strip().strip("'\""))
    except ValueError:
        raise EmofeatError(f"{where}: {column} '{value.strip()}' is not a number") from None
    if not math.isfinite(number):
        raise EmofeatError(f"{where}: {column} '{value.strip()}' is not a finite number")
    return number


def parse_count(value: str, where: str, column: str) -> int:
    number = parse_float(value, where, column)
    if number < 0 or number != int(number):
        raise EmofeatError(f"{where}: {column} '{value.strip()}' is not a vote count")
    return int(number)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def load_json(path: Path) -> Any:
    """A JSON file; a syntax error is reported with its line."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise EmofeatError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None


def json_list_with_lines(path: Path) -> list[tuple[int, Any]]:
    """The entries of a JSON file holding one list, each with the line it starts on."""
    text = read_text(path)
    decoder = json.JSONDecoder()
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    if not text.startswith("[", pos):
        raise EmofeatError(f"{path}:{_line_of(text, pos)}: expected a JSON list of entries")
    pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    entries: list[tuple[int, Any]] = []
    line, counted = 1, 0
    if text.startswith("]", pos):
        return entries
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise EmofeatError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
        entries.append((line, value))
        pos = _WS.match(text, end).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        elif text.startswith("]", pos):
            break
        else:
            raise EmofeatError(f"{path}:{_line_of(text, pos)}: malformed JSON (expected , or ])")
    if text[pos + 1:].strip():
        raise EmofeatError(f"{path}:{_line_of(text, pos + 1)}: malformed JSON (extra data)")
    return entries


def image_ids_under(root: Path, folder: Path, recursive: bool = True) -> set[str]:
    """Ids (relative to ``root``) of the visible image files in ``folder``."""
    return DiskNames(root, folder, recursive).ids


def missing_reason(names: DiskNames, key: str) -> str | None:
    """Why a listed id has no image in ``names`` (None: it has one): missing, or a file
    that is not an image."""
    if key in names.names:
        return None
    return NOT_IMAGE if (names.root / key).is_file() else LISTED_MISSING
