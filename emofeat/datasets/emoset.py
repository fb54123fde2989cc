"""EmoSet-118K (Yang et al., ICCV 2023), read as released.

Layout::

    root/info.json                     per field a {"label2idx": {...}, "idx2label": {...}}
    root/train.json val.json test.json [[label, name, image_path, annotation_path], ...]
    root/image/<emotion>/<name>.jpg
    root/annotation/<emotion>/<name>.json
        {"emotion": ..., "brightness": ..., "colorfulness": ..., "scene": ...,
         "object": [...], "facial_expression": ..., "human_action": ...}

The release's own split becomes the ``split`` column (train/val/test), which
:func:`emofeat.splits.make_split` uses instead of a seeded split. The attributes become
extra columns: the value as text, ``""`` where the attribute was not annotated, ``object``'s
list joined with ``;``. An image whose annotation file is missing keeps its label (the split
list has it) with empty attributes, and a warning says how many.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from emofeat.datasets._common import (
    UNLISTED,
    child_file,
    image_id,
    json_list_with_lines,
    load_json,
    missing_reason,
    refuse_min_agree,
)
from emofeat.datasets.manifest import Manifest
from emofeat.datasets.names import DiskNames
from emofeat.errors import EmofeatError
from emofeat.taxonomy import normalise_label

log = logging.getLogger(__name__)

SPLIT_FILES: tuple[str, ...] = ("train", "val", "test")
ATTRIBUTES: tuple[str, ...] = (
    "brightness", "colorfulness", "scene", "object", "facial_expression", "human_action",
)


def _attribute_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def _emotions(info_path: Path) -> set[str]:
    info = load_json(info_path)
    try:
        table = info["emotion"]["label2idx"]
    except (KeyError, TypeError):
        raise EmofeatError(f"{info_path}:1: no emotion.label2idx table") from None
    if not isinstance(table, dict) or not table:
        raise EmofeatError(f"{info_path}:1: emotion.label2idx is not a non-empty table")
    return {str(k) for k in table}


def _annotation(path: Path, label: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = load_json(path)
    if not isinstance(data, dict):
        raise EmofeatError(f"{path}:1: expected a JSON object")
    emotion = data.get("emotion")
    if emotion is not None and str(emotion) != label:
        raise EmofeatError(
            f"{path}:1: emotion '{emotion}' differs from the split list's label '{label}'"
        )
    return data


class _Folders:
    """The images of each top-level folder a split list names, scanned when first named."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scanned: dict[str, DiskNames] = {}

    def of(self, key: str) -> DiskNames:
        top = key.split("/", 1)[0] if "/" in key else ""
        if top not in self.scanned:
            self.scanned[top] = DiskNames(self.root, self.root / top, recursive=bool(top))
        return self.scanned[top]


class EmoSetReader:
    """EmoSet-118K: split lists + per-image attribute annotations; its own split is kept."""

    name = "emoset"

    @staticmethod
    def detect(root: Path) -> bool:
        return (
            root.is_dir()
            and child_file(root, "info.json") is not None
            and all(child_file(root, f"{s}.json") is not None for s in SPLIT_FILES)
        )

    @staticmethod
    def read(root: Path, min_agree: int | None = None) -> Manifest:
        refuse_min_agree("emoset", min_agree)
        info_path = child_file(root, "info.json")
        if info_path is None:
            raise EmofeatError(f"{root} is not an EmoSet release: no info.json")
        emotions = _emotions(info_path)
        rows: list[tuple[str, str]] = []
        columns: dict[str, list[Any]] = {"split": [], **{a: [] for a in ATTRIBUTES}}
        seen: dict[str, str] = {}
        dropped: Counter[str] = Counter()
        folders = _Folders(root)
        files: dict[str, str] = {}
        no_annotation = 0
        for split in SPLIT_FILES:
            list_path = child_file(root, f"{split}.json")
            if list_path is None:
                raise EmofeatError(f"{root} is not an EmoSet release: no {split}.json")
            for index, (line, entry) in enumerate(json_list_with_lines(list_path)):
                where = f"{list_path}:{line}: entry {index}"
                if (not isinstance(entry, list) or len(entry) != 4
                        or not all(isinstance(v, str) for v in entry)):
                    raise EmofeatError(
                        f"{where}: expected [label, name, image_path, annotation_path]"
                    )
                label, _name, image_path, annotation_path = entry
                if label not in emotions:
                    raise EmofeatError(
                        f"{where}: label '{label}' is not in {info_path.name}'s emotion table"
                    )
                key = image_id(image_path, where)
                names = folders.of(key)
                key = names.find(key) or key
                if key in seen:
                    raise EmofeatError(f"{where}: {key} is listed twice (also at {seen[key]})")
                seen[key] = where
                if (reason := missing_reason(names, key)) is not None:
                    dropped[reason] += 1
                    continue
                files.update(names.files([key]))
                annotation = _annotation(root / image_id(annotation_path, where), label)
                if annotation is None:
                    no_annotation += 1
                    annotation = {}
                rows.append((key, normalise_label(label)))
                columns["split"].append(split)
                for attribute in ATTRIBUTES:
                    columns[attribute].append(_attribute_text(annotation.get(attribute)))
        present: set[str] = set()
        for top, names in folders.scanned.items():
            if top:
                present |= names.ids
        unlisted = len(present - set(seen))
        if unlisted:
            dropped[UNLISTED] = unlisted
        if no_annotation:
            log.warning("%s: %d images have no annotation file; their attributes are empty",
                        root, no_annotation)
        return Manifest.from_rows(root, "emoset", rows, extra=columns, dropped=dropped,
                                  files=files)
