"""ArtPhoto (Machajdik & Hanbury, ACM Multimedia 2010), read as released.

Layout: one flat folder of images named ``<emotion>_<n>.jpg`` (``amusement_12.jpg``,
``sad_3.jpg``); the label is the file name's prefix, normalised to Mikels' names with the
taxonomy's synonyms (``sad`` -> sadness, ``content`` -> contentment). Images whose prefix is
not an emotion are dropped and counted, as are non-image files (the release's ReadMe).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from emofeat.datasets._common import NOT_IMAGE, refuse_min_agree
from emofeat.datasets.manifest import Manifest
from emofeat.datasets.names import escape_id
from emofeat.images import is_image_file
from emofeat.taxonomy import EMOTIONS, normalise_label

NO_PREFIX = "no emotion prefix in the file name"
_PREFIX = re.compile(r"^([A-Za-z]+)[_\-\s]")


def emotion_prefix(file_name: str) -> str | None:
    """The Mikels emotion a file name starts with (``sad_3.jpg`` -> sadness), else None."""
    match = _PREFIX.match(file_name.strip())
    if match is None:
        return None
    emotion = normalise_label(match.group(1)).lower()
    return emotion if emotion in EMOTIONS else None


def _visible_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))


def _has_image_folder(root: Path) -> bool:
    return any(
        is_image_file(p)
        for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
        for p in d.iterdir() if p.is_file()
    )


class ArtPhotoReader:
    """ArtPhoto: a flat folder of ``<emotion>_<n>.jpg``; the label is the name's prefix."""

    name = "artphoto"

    @staticmethod
    def detect(root: Path) -> bool:
        """A folder whose own images mostly carry an emotion prefix and which has no
        sub-folder of images (so a ``root/<label>/`` tree never matches)."""
        if not root.is_dir():
            return False
        images = [p for p in _visible_files(root) if is_image_file(p)]
        if not images or _has_image_folder(root):
            return False
        labelled = sum(emotion_prefix(p.name) is not None for p in images)
        return 2 * labelled >= len(images)

    @staticmethod
    def read(root: Path, min_agree: int | None = None) -> Manifest:
        refuse_min_agree("artphoto", min_agree)
        rows: list[tuple[str, str]] = []
        files: dict[str, str] = {}
        dropped: Counter[str] = Counter()
        for path in _visible_files(root):
            if not is_image_file(path):
                dropped[NOT_IMAGE] += 1
                continue
            emotion = emotion_prefix(path.name)
            if emotion is None:
                dropped[NO_PREFIX] += 1
            else:
                rows.append((escape_id(path.name), emotion))
                files[rows[-1][0]] = path.name
        return Manifest.from_rows(root, "artphoto", rows, dropped=dropped, files=files)
