"""The one opener of text files that people and other programs wrote: annotation files of
published releases, CSV lists, split files.

Real release files were saved by many tools over many years, so this accepts:

- line endings: LF, CRLF and the lone CR of classic Mac OS (OASIS.csv ships like that);
- a byte-order mark: UTF-8's (Excel's "CSV UTF-8") and UTF-16's (Excel's "Unicode text");
- encodings: UTF-8, else Windows-1252 (the usual legacy encoding of Western tools), else
  Latin-1 where the bytes hold one of the five values Windows-1252 leaves undefined. Which
  legacy encoding was taken is logged, naming the file.

Nothing else is guessed: a UTF-16 file without its mark, or Shift-JIS, reads as garbage
names that then match no image, which the readers count as missing.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Bytes Windows-1252 does not define: a file holding any of them is Latin-1 (ISO 8859-1).
_CP1252_UNDEFINED = frozenset({0x81, 0x8D, 0x8F, 0x90, 0x9D})
_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Text:
    """A decoded text file: its text (line endings as in the file) and the encoding used."""

    path: Path
    text: str
    encoding: str

    def lines(self) -> list[str]:
        """The lines, split at LF, CRLF or CR (no other character ends a line)."""
        lines = _LINE_END.split(self.text)
        return lines[:-1] if lines and lines[-1] == "" else lines

    def numbered_lines(self) -> Iterator[tuple[int, str]]:
        """(line number, line) for the non-blank lines."""
        for number, line in enumerate(self.lines(), start=1):
            if line.strip():
                yield number, line

    def csv_rows(self, **options: object) -> list[list[str]]:
        """The rows of a CSV file (any line ending; quoted fields may hold line breaks)."""
        return list(csv.reader(io.StringIO(self.text, newline=""), **options))  # type: ignore[arg-type]

    def csv_reader(self, **options: object) -> csv.DictReader[str]:
        """A ``csv.DictReader`` over the file (any line ending)."""
        return csv.DictReader(io.StringIO(self.text, newline=""), **options)  # type: ignore[arg-type]


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding) of file bytes, by the rules in the module docstring."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _CP1252_UNDEFINED.intersection(data):
        return data.decode("latin-1"), "latin-1"
    return data.decode("cp1252"), "cp1252"


def read_text(path: str | Path) -> Text:
    """Read and decode a text file; a legacy encoding is logged (INFO) with the file."""
    path = Path(path)
    text, encoding = decode(path.read_bytes())
    if encoding in ("latin-1", "cp1252"):
        log.info("%s is not UTF-8; read as %s", path,
                 "Windows-1252" if encoding == "cp1252" else "Latin-1 (ISO 8859-1)")
    return Text(path, text, encoding)
