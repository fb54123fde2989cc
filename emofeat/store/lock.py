"""The store's writer lock: one writing process per store, never held by the dead.

It is a POSIX record lock (``fcntl.lockf``, ``F_SETLK``) on ``.store.lock``, chosen over
``flock`` for three properties:

- it belongs to the process that took it and is not inherited across ``fork``: DataLoader
  workers forked from the writer do not hold it, so the workers of a writer killed with
  SIGKILL (they outlive it by seconds) never block the next run, as an ``flock`` shared with
  them through the inherited descriptor did;
- the kernel drops it when its process dies, however it dies: a lock whose owner is gone
  never blocks;
- it works on NFS (lockd / NFSv4 locks), where cluster stores live.

Its one trap: a process loses such a lock when it closes *any* descriptor of the file, even
one opened for another purpose. So a process opens the lock file once per store: a second
writer in the same process is refused from an in-process registry before anything is opened
(and so before anything could be closed), and nothing else in emofeat opens the lock file.

The holder writes ``pid host`` into the file, so a refused writer can say who holds it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emofeat.errors import EmofeatError

LOCK_FILE = ".store.lock"

#: (device, inode) of the lock files this process holds.
_HELD: set[tuple[int, int]] = set()
_GUARD = threading.Lock()


def _key(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _busy(directory: Path, holder: str) -> EmofeatError:
    return EmofeatError(f"another emofeat process is writing {directory}{holder}; "
                        "wait for it to finish")


def _holder(fd: int) -> str:
    """`` (pid N on HOST)`` from the lock file; empty if it says nothing usable."""
    try:
        pid, host = os.pread(fd, 256, 0).decode("utf-8").split()
        return f" (pid {int(pid)} on {host})"
    except (OSError, UnicodeDecodeError, ValueError):
        return ""


def _acquire(directory: Path) -> tuple[int, tuple[int, int]]:
    path = directory / LOCK_FILE
    with _GUARD:
        try:
            if _key(os.stat(path)) in _HELD:
                raise _busy(directory, " (a writer in this process)")
        except FileNotFoundError:
            pass
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)  # this process holds no lock on the file: closing drops nothing
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                raise _busy(directory, holder) from None
            raise
        key = _key(os.fstat(fd))
        _HELD.add(key)
    try:  # who holds it, for the message of a refused writer; the lock does not need it
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    except OSError:
        pass
    return fd, key


@contextmanager
def exclusive_lock(directory: str | Path) -> Iterator[None]:
    """Hold the store's lock for as long as one writer works on it; a held lock is an
    :class:`EmofeatError` naming the holder."""
    fd, key = _acquire(Path(directory))
    try:
        yield
    finally:
        with _GUARD:
            _HELD.discard(key)
            os.close(fd)  # drops the lock
