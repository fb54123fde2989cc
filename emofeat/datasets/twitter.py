"""Twitter I (You et al., AAAI 2015), read as released.

Layout::

    root/images/<name>.jpg
    root/ground_truth/twitter_three_agrees.txt   "<image name> <label>" per line,
                      twitter_four_agrees.txt    1 = positive, 0 = negative
                      twitter_five_agrees.txt

Five annotators judged each image; the three files list the images on whose sentiment at
least 3, 4 or 5 of them agreed, so they nest (five within four within three, which is every
image). ``min_agree`` 3, 4 or 5 picks a file (default 3, all images; 0-2 mean the same as 3,
since a two-way majority of five is always at least three). Labels are ``positive`` and
``negative``, the valence classes. Extra column ``agree``: the largest level whose file
lists the image.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from emofeat.datasets._common import (
    UNLISTED,
    child_dir,
    child_file,
    image_id,
    missing_reason,
    numbered_lines,
)
from emofeat.datasets.manifest import Manifest
from emofeat.datasets.names import DiskNames
from emofeat.errors import EmofeatError

log = logging.getLogger(__name__)

IMAGES = "images"
GROUND_TRUTH = "ground_truth"
AGREE_FILES: dict[int, str] = {
    3: "twitter_three_agrees.txt",
    4: "twitter_four_agrees.txt",
    5: "twitter_five_agrees.txt",
}
LABELS: dict[str, str] = {"1": "positive", "0": "negative"}


def _read_agree_file(path: Path, prefix: str, names: DiskNames
                     ) -> dict[str, tuple[str, int]]:
    """image id -> (label, line) for one agreement file."""
    entries: dict[str, tuple[str, int]] = {}
    for number, line in numbered_lines(path):
        where = f"{path}:{number}"
        parts = line.strip().rsplit(None, 1)
        if len(parts) != 2 or parts[1] not in LABELS:
            raise EmofeatError(f"{where}: expected '<image name> <label>' with label 1 or 0")
        key = image_id(parts[0], where, prefix)
        key = names.find(key) or key
        if key in entries:
            raise EmofeatError(f"{where}: {key} is listed twice (also on line "
                               f"{entries[key][1]})")
        entries[key] = (LABELS[parts[1]], number)
    return entries


def agree_level(min_agree: int | None) -> int:
    """The agreement file ``min_agree`` selects: 3 (default, every image), 4 or 5."""
    if min_agree is None or min_agree <= min(AGREE_FILES):
        return min(AGREE_FILES)
    if min_agree not in AGREE_FILES:
        raise EmofeatError(f"Twitter I has agreement levels 3, 4 and 5, not {min_agree}")
    return min_agree


class TwitterReader:
    """Twitter I: ``images/`` + ``ground_truth/twitter_{three,four,five}_agrees.txt``."""

    name = "twitter1"

    @staticmethod
    def detect(root: Path) -> bool:
        if not root.is_dir() or child_dir(root, IMAGES) is None:
            return False
        truth = child_dir(root, GROUND_TRUTH)
        return truth is not None and any(
            child_file(truth, f) is not None for f in AGREE_FILES.values()
        )

    @staticmethod
    def read(root: Path, min_agree: int | None = None) -> Manifest:
        level = agree_level(min_agree)
        images = child_dir(root, IMAGES)
        truth = child_dir(root, GROUND_TRUTH)
        if images is None or truth is None:
            raise EmofeatError(f"{root} is not the Twitter I release: needs {IMAGES}/ and "
                               f"{GROUND_TRUTH}/")
        files = {k: child_file(truth, f) for k, f in AGREE_FILES.items()}
        chosen = files[level]
        if chosen is None:
            raise EmofeatError(f"{truth} has no {AGREE_FILES[level]} (agreement {level})")
        labels: dict[str, str] = {}
        agree: dict[str, int] = {}
        names = DiskNames(root, images)
        for k, path in sorted(files.items()):
            if path is None:
                log.warning("%s: no %s; agreement %d cannot be told apart", truth,
                            AGREE_FILES[k], k)
                continue
            lower = files.get(k - 1)
            outside = 0
            for key, (label, number) in _read_agree_file(path, images.name, names).items():
                if labels.setdefault(key, label) != label:
                    raise EmofeatError(f"{path}:{number}: {key} is {label} here but "
                                       f"{labels[key]} in a lower-agreement file")
                if lower is not None and agree.get(key) != k - 1:
                    outside += 1
                agree[key] = k
            if outside:
                log.warning("%s: %d images are not in %s: the agreement files do not nest",
                            path, outside, AGREE_FILES[k - 1])
        rows: list[tuple[str, str]] = []
        agree_col: list[int] = []
        dropped: Counter[str] = Counter()
        for key in sorted(labels):
            if agree[key] < level:
                dropped[f"agree < {level}"] += 1
            elif (reason := missing_reason(names, key)) is not None:
                dropped[reason] += 1
            else:
                rows.append((key, labels[key]))
                agree_col.append(agree[key])
        unlisted = len(names.ids - set(labels))
        if unlisted:
            dropped[UNLISTED] = unlisted
        return Manifest.from_rows(root, "twitter1", rows, extra={"agree": agree_col},
                                  dropped=dropped, files=names.files(labels))
