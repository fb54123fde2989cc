"""File names as found on disk, and the ids they become.

Archives unpacked from other systems hold names that are not valid UTF-8 (a Latin-1 ``é``
is the single byte ``0xe9``); Python reads them with ``surrogateescape``, as strings that
cannot be written to a UTF-8 CSV or HDF5 file. Such a name's id writes each byte that is
not UTF-8 as a ``\\xNN`` escape (``caf\\xe9.jpg``), so ids are plain Unicode everywhere
(splits.csv, failed.csv, predictions.csv, the shards' ``/ids``); the manifest keeps the
name on disk beside the id (:attr:`~emofeat.datasets.Manifest.files`) to open the file.
Valid names are their own ids, newlines, leading dashes and all.

Annotation files and the names on disk often disagree in small ways: a trailing space
(``"Dog 1 .jpg"``), letter case, Unicode normalisation (macOS writes ``é`` as ``e`` plus a
combining accent), or a legacy encoding on one side only. :class:`DiskNames` finds a
listed name's file by a loose key that ignores these, when the exact name is not there.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from emofeat.images import is_image_file
from emofeat.paths import is_hidden


def is_valid_text(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (no bytes carried by surrogateescape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def escape_id(name: str) -> str:
    """A name on disk as id text: itself when valid, else its bytes that are not UTF-8 as
    ``\\xNN`` escapes (``caf\\xe9.jpg``)."""
    if is_valid_text(name):
        return name
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def _loose_part(part: str) -> str:
    if not is_valid_text(part):
        part = os.fsencode(part).decode("cp1252", errors="replace")
    stem, dot, ending = part.strip().rpartition(".")
    if dot and stem.strip():
        part = f"{stem.strip()}.{ending.strip()}"
    return unicodedata.normalize("NFC", part.strip()).casefold()


def loose_key(name: str) -> str:
    """The key two spellings of one file name share: each part stripped of spaces around it
    and before its ending (``"Dog 1 .jpg"``), NFC-normalised and case-folded; bytes that are
    not UTF-8 read as Windows-1252."""
    return "/".join(_loose_part(p) for p in name.replace("\\", "/").split("/"))


class DiskNames:
    """The visible image files below ``folder``, by id (relative to ``root``), found by their
    exact id or by :func:`loose_key` (where exactly one file has that key)."""

    def __init__(self, root: Path, folder: Path, recursive: bool = True) -> None:
        self.root = root
        self.names: dict[str, str] = {}  # id -> relative name on disk
        found: Iterable[Path] = ()
        if folder.is_dir():
            found = folder.rglob("*") if recursive else folder.iterdir()
        for path in sorted(found):
            if is_hidden(path, root) or not path.is_file() or not is_image_file(path):
                continue
            rel = path.relative_to(root).as_posix()
            self.names[escape_id(rel)] = rel
        self._loose: dict[str, str | None] | None = None

    @property
    def ids(self) -> set[str]:
        return set(self.names)

    def find(self, listed: str) -> str | None:
        """The id of the file a listed id names: the same id, else the one file whose loose
        key is the listed id's; None when there is none or the loose key is ambiguous."""
        if listed in self.names:
            return listed
        if self._loose is None:
            self._loose = {}
            for image_id in self.names:
                key = loose_key(self.names[image_id])
                self._loose[key] = None if key in self._loose else image_id
        return self._loose.get(loose_key(listed))

    def files(self, ids: Iterable[str]) -> dict[str, str]:
        """Id -> name on disk, for the ids whose name differs (not valid UTF-8)."""
        return {i: self.names[i] for i in ids if i in self.names and self.names[i] != i}

