"""The reader registry: which reader ``auto`` picks, and loading a data set into a Manifest."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from emofeat.datasets.abstract import AbstractReader
from emofeat.datasets.artphoto import ArtPhotoReader
from emofeat.datasets.csvlist import CsvReader, check_min_agree
from emofeat.datasets.emoset import EmoSetReader
from emofeat.datasets.emotion6 import Emotion6Reader
from emofeat.datasets.folder import DemoReader, FolderReader
from emofeat.datasets.labels import apply_label_rule, check_label_from
from emofeat.datasets.manifest import Manifest
from emofeat.datasets.oasis import OasisReader
from emofeat.datasets.twitter import TwitterReader
from emofeat.errors import EmofeatError

log = logging.getLogger(__name__)


class Reader(Protocol):
    name: str

    @staticmethod
    def detect(path: Path) -> bool: ...

    @staticmethod
    def read(path: Path, min_agree: int | None = None) -> Manifest: ...


#: Readers by format name, in the order ``auto`` tries them: releases with marker files
#: first, the flat ArtPhoto folder next, the generic CSV list and folder tree last.
READERS: dict[str, type[Reader]] = {r.name: r for r in (
    DemoReader, EmoSetReader, Emotion6Reader, TwitterReader, OasisReader, AbstractReader,
    ArtPhotoReader, CsvReader, FolderReader,
)}
FORMATS: tuple[str, ...] = ("auto", *READERS)


def detect_format(path: Path) -> str:
    for name, reader in READERS.items():
        if reader.detect(path):
            return name
    raise EmofeatError(
        f"cannot tell the format of {path}: expected a release as published (EmoSet, "
        "Emotion6, Twitter I, OASIS, Abstract, ArtPhoto), a folder of <label>/ sub-folders "
        "with images, a .csv list (path,label[,agree]) or a demo set; pass --format "
        f"({', '.join(READERS)})"
    )


def load_manifest(data: str | Path, fmt: str = "auto", min_agree: int | None = None,
                  allow_outside_root: bool = False, label_from: str | None = None) -> Manifest:
    """Read a dataset into a Manifest. Raises :class:`EmofeatError` for anything unusable.

    ``allow_outside_root`` lets a CSV list name images outside its folder (absolute paths,
    ``..``); the readers of published releases always refuse such paths. ``label_from``
    picks one of a release's label rules (:data:`LABEL_RULES`; None: its default).
    """
    path = Path(data)
    if fmt not in FORMATS:
        raise EmofeatError(f"unknown format '{fmt}'; valid formats: {', '.join(FORMATS)}")
    check_min_agree(min_agree)
    if not path.exists():
        raise EmofeatError(f"{path} does not exist")
    name = detect_format(path) if fmt == "auto" else fmt
    check_label_from(name, label_from)
    if name != "csv" and not path.is_dir():
        raise EmofeatError(f"{path} is not a directory (format '{name}')")
    if name == "csv":
        manifest = CsvReader.read(path, min_agree, allow_outside_root=allow_outside_root)
    else:
        manifest = READERS[name].read(path, min_agree=min_agree)
    manifest = apply_label_rule(manifest, label_from)
    if not len(manifest):
        why = f" (dropped: {dict(manifest.dropped)})" if manifest.dropped else ""
        raise EmofeatError(f"no images found in {path}{why}")
    for reason, n in manifest.dropped.items():
        log.warning("%s: %d entries left out: %s", path, n, reason)
    log.info("read %d images in %d classes from %s (%s)", len(manifest),
             len(manifest.classes), path, name)
    return manifest
