"""CSV rows that read back as written, with ``\\n`` line ends.

``csv.writer`` with ``lineterminator="\\n"`` leaves a field holding a lone ``\\r`` unquoted,
and every CSV reader then ends the row there. Such rows are quoted here the way
``csv.writer`` quotes any other special field; every other row is ``csv.writer``'s own, byte
for byte (so existing files and their hashes stay the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

_SPECIAL = (",", '"', "\r", "\n")


def _field(value: Any) -> str:
    text = str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in _SPECIAL) \
        else text


def write_row(fh: TextIO, writer: Any, row: Sequence[Any]) -> None:
    """``writer.writerow(row)`` (a ``csv.writer`` on ``fh`` with ``"\\n"`` line ends), except
    that a row with a ``\\r`` in a field is written with that field quoted."""
    if any("\r" in str(v) for v in row):
        fh.write(",".join(_field(v) for v in row) + "\n")
    else:
        writer.writerow(row)
