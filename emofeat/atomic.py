"""Files that appear whole or not at all: write to a temporary sibling, then rename.

A full disk (or quota) while writing one is an :class:`EmofeatError` naming the disk: the
temporary file is removed, the old file (if any) stays, and re-running resumes.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emofeat.errors import EmofeatError

_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# HDF5 reports a failed write as RuntimeError/OSError with the C errno in its message
_DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "errno = 28",
                   "errno = 122")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full."""
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return True
    return isinstance(exc, (OSError, RuntimeError)) and any(t in str(exc)
                                                             for t in _DISK_FULL_TEXT)


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def disk_full_error(path: str | Path | None) -> EmofeatError:
    """One line naming the disk that filled up while ``path`` (if known) was written."""
    if path is None:
        return EmofeatError("no space left on the disk (or over quota); free some space and "
                            "re-run the same command (finished work is kept)")
    try:
        disk = f"the disk mounted at {_mount_point(Path(path).parent)}"
    except OSError:
        disk = "the disk"
    return EmofeatError(f"no space left on {disk} while writing {path}; free some space and "
                        "re-run the same command (finished work is kept)")


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; it replaces ``path`` only if the block ends
    without an exception (and is removed otherwise)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        if not is_disk_full(exc):
            raise
        tmp.unlink(missing_ok=True)
        raise disk_full_error(path) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")
