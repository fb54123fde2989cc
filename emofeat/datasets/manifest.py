"""The Manifest: one row per image, the same shape whatever release it came from."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_bytes


@dataclass(frozen=True)
class Manifest:
    """Images of one dataset, sorted by id.

    ``ids`` are paths relative to ``root`` (POSIX separators), the stable key in splits,
    stores and runs. ``extra`` holds optional per-row columns (``agree``, ``split``, ...).
    ``dropped`` counts rows the reader left out, by reason, so nothing disappears silently.
    ``files`` names the file on disk of the ids that are not their file's name (names that
    are not valid UTF-8, see :mod:`emofeat.datasets.names`). ``label_rule``: which of a
    release's label rules gave ``labels``, where not its default.
    """

    root: Path
    format: str
    ids: tuple[str, ...]
    labels: tuple[str, ...]
    extra: Mapping[str, tuple] = field(default_factory=dict)
    dropped: Mapping[str, int] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    #: the label rule the labels follow where the release offers several and the default
    #: was not used (:mod:`emofeat.datasets.labels`); part of the hash when set
    label_rule: str | None = None

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.labels):
            raise ValueError("ids and labels differ in length")
        if list(self.ids) != sorted(self.ids):
            raise ValueError("manifest ids must be sorted")
        if len(set(self.ids)) != len(self.ids):
            dup = [k for k, n in Counter(self.ids).items() if n > 1][:3]
            raise EmofeatError(f"duplicate image ids in the dataset: {dup}")
        for name, column in self.extra.items():
            if len(column) != len(self.ids):
                raise ValueError(f"extra column '{name}' differs in length")

    @classmethod
    def from_rows(
        cls,
        root: Path,
        fmt: str,
        rows: Sequence[tuple[str, str]],
        extra: Mapping[str, Sequence] | None = None,
        dropped: Mapping[str, int] | None = None,
        files: Mapping[str, str] | None = None,
    ) -> Manifest:
        """Build a manifest from unsorted (id, label) rows and aligned extra columns;
        ``files``: the names on disk of ids that differ from theirs."""
        order = sorted(range(len(rows)), key=lambda i: rows[i][0])
        extra = extra or {}
        return cls(
            root=root,
            format=fmt,
            ids=tuple(rows[i][0] for i in order),
            labels=tuple(rows[i][1] for i in order),
            extra={k: tuple(v[i] for i in order) for k, v in extra.items()},
            dropped=dict(dropped or {}),
            files={k: v for k, v in (files or {}).items() if k != v},
        )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def paths(self) -> list[Path]:
        return [self.path(i) for i in self.ids]

    def path(self, image_id: str) -> Path:
        """The file of an id (its name on disk, which :attr:`files` gives where it differs)."""
        return self.root / self.files.get(image_id, image_id)

    def counts(self) -> dict[str, int]:
        """Images per label, labels sorted."""
        c = Counter(self.labels)
        return {k: c[k] for k in sorted(c)}

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.labels)))

    @property
    def sha256(self) -> str:
        """Hash of the (id, label) table and the label rule where one was chosen: identical
        for the same images, labels and rule."""
        text = f"label_rule\t{self.label_rule}\n" if self.label_rule else ""
        text += "".join(f"{i}\t{lab}\n" for i, lab in zip(self.ids, self.labels, strict=True))
        return sha256_bytes(text.encode("utf-8"))
