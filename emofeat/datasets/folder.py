"""Readers for image trees: ``root/<label>/*`` (FI's layout) and the synthetic demo set."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from emofeat.datasets.manifest import Manifest
from emofeat.datasets.names import escape_id
from emofeat.errors import EmofeatError
from emofeat.images import is_image_file
from emofeat.paths import is_hidden
from emofeat.taxonomy import normalise_label

DEMO_MARKER = "EMOFEAT_SYNTHETIC_DEMO.json"


def _label_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p))


def read_folder_tree(root: Path, fmt: str) -> Manifest:
    """One class per sub-folder; images anywhere below it (by ending or by content). Hidden
    entries are skipped; names that are not valid UTF-8 get escaped ids (emofeat.datasets.names)."""
    rows: list[tuple[str, str]] = []
    files: dict[str, str] = {}
    dropped: Counter[str] = Counter()
    for label_dir in _label_dirs(root):
        label = escape_id(normalise_label(label_dir.name))
        for path in sorted(label_dir.rglob("*")):
            if is_hidden(path, root):
                continue
            if not path.is_file():
                if path.is_symlink() and not path.exists():
                    dropped["broken or looping link"] += 1
                elif not path.is_dir():
                    dropped["not a regular file (device, pipe or socket)"] += 1
                continue
            if not is_image_file(path):
                dropped["not an image file"] += 1
                continue
            rel = path.relative_to(root).as_posix()
            rows.append((escape_id(rel), label))
            files[rows[-1][0]] = rel
    return Manifest.from_rows(root, fmt, rows, dropped=dropped, files=files)


class FolderReader:
    """``root/<label>/*.jpg``: the label is the folder name (synonyms like ``sad`` normalised)."""

    name = "folder"

    @staticmethod
    def detect(root: Path) -> bool:
        return root.is_dir() and any(
            is_image_file(p) for d in _label_dirs(root) for p in d.iterdir() if p.is_file()
        )

    @staticmethod
    def read(root: Path, min_agree: int | None = None) -> Manifest:
        if min_agree is not None:
            raise EmofeatError(
                "--min-agree needs agreement counts, which a folder tree does not have; "
                "give a CSV with path,label,agree columns (--format csv)"
            )
        return read_folder_tree(root, "folder")


class DemoReader:
    """The synthetic demo set written by :func:`emofeat.demo.make_demo` (a folder tree + marker)."""

    name = "demo"

    @staticmethod
    def detect(root: Path) -> bool:
        return (root / DEMO_MARKER).is_file()

    @staticmethod
    def read(root: Path, min_agree: int | None = None) -> Manifest:
        if not DemoReader.detect(root):
            raise EmofeatError(
                f"{root} is not an emofeat demo set (no {DEMO_MARKER}); "
                "make one with `emofeat data make-demo DIR`"
            )
        if min_agree is not None:
            raise EmofeatError("--min-agree does not apply to the synthetic demo set")
        return read_folder_tree(root, "demo")
