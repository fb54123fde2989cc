"""Shard journals: what a rank other than 0 has written, kept beside its shards.

In a job of several ranks only rank 0 writes store.json. Each other rank writes its shards
and, after each one, rewrites its journal ``.rank-NNNNN.shards.json`` (atomically) with the
shard table entries it has made. At the end of the job the entries reach rank 0 through the
process group; the journal is what survives if the rank, or the job, dies first: the next run
reads every journal, keeps the entries whose shard verifies against its hash like any entry
of store.json, records them, and removes the journals.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emofeat.errors import EmofeatError
from emofeat.records import RecordFile
from emofeat.store.record import ShardEntry

log = logging.getLogger(__name__)

JOURNAL_GLOB = ".rank-*.shards.json"


@dataclass(frozen=True)
class ShardJournal:
    """The shard table entries one rank has written in this job."""

    rank: int
    shards: tuple[ShardEntry, ...]


JOURNAL_JSON: RecordFile[ShardJournal] = RecordFile(
    "emofeat-shard-journal", 1, "shard journal", lambda data: ShardJournal)


def journal_path(directory: Path, rank: int) -> Path:
    return directory / f".rank-{rank:05d}.shards.json"


def write_journal(directory: Path, rank: int, entries: Iterable[ShardEntry]) -> None:
    shards = tuple(sorted(entries, key=lambda e: e.index))
    JOURNAL_JSON.write(journal_path(directory, rank), ShardJournal(rank, shards))


def read_journals(directory: Path) -> list[ShardEntry]:
    """Every entry of every journal in ``directory``; an unreadable journal is skipped with a
    warning (its shards are redone)."""
    entries: list[ShardEntry] = []
    for path in sorted(directory.glob(JOURNAL_GLOB)):
        try:
            entries.extend(JOURNAL_JSON.read(path).shards)
        except EmofeatError as exc:
            log.warning("ignoring %s: %s", path.name, exc)
    return entries


def remove_journals(directory: Path) -> None:
    for path in directory.glob(JOURNAL_GLOB):
        path.unlink(missing_ok=True)
