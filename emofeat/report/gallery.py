"""The gallery of a classification task: per true class, the reference run's most
confident right and most confident wrong test predictions, as small thumbnails.

The picks are data (:class:`~emofeat.report.pictures_model.Gallery`, kept in report.json);
the thumbnails are JPEG bytes made at compare time from the data set's image files, found
through the feature store a run read (its store.json names the data set's folder; image
ids are paths below it). An image that cannot be found or read leaves its caption without
a thumbnail, and the gallery says so in one line: it never stops the report.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emofeat.report.collect import RunInfo
from emofeat.report.pictures_model import THUMB_PREFIX, Gallery, GalleryImage
from emofeat.runs import FeatureRun, Predictions, ZeroshotRun

log = logging.getLogger(__name__)

#: Images per true class and kind (right, wrong): the page stays small.
PER_KIND = 2
#: Thumbnails fit a square of this many pixels.
THUMB_PX = 112
JPEG_QUALITY = 80

#: A run's score_kind -> what its confidence is called in captions.
SCORE_NAMES = {"probability": "probability", "decision": "margin"}


def picks(test: Predictions, per_kind: int = PER_KIND) -> tuple[GalleryImage, ...]:
    """Per true class (in the run's class order), its ``per_kind`` most confident right
    predictions, then its most confident wrong ones (ties: by id)."""
    n = len(test.ids)
    confidence = test.scores[np.arange(n), test.y_pred] if n else np.zeros(0)
    out: list[GalleryImage] = []
    for k, name in enumerate(test.classes):
        for kind, right in (("right", True), ("wrong", False)):
            rows = [i for i in range(n)
                    if test.y_true[i] == k and bool(test.y_pred[i] == k) == right]
            rows.sort(key=lambda i: (-float(np.nan_to_num(confidence[i], nan=-np.inf)),
                                     test.ids[i]))
            out += [GalleryImage(id=test.ids[i], kind=kind, true=name,
                                 predicted=test.classes[int(test.y_pred[i])],
                                 confidence=round(float(confidence[i]), 6))
                    for i in rows[:per_kind]]
    return tuple(out)


def store_of(run: RunInfo) -> str | None:
    """The feature store a run read, if it read one."""
    record = run.record
    if isinstance(record, FeatureRun):
        return record.features.store
    if isinstance(record, ZeroshotRun):
        return record.features.get("store")
    return None


def image_root(runs: Sequence[RunInfo]) -> Path | None:
    """The data set's folder, from the store.json of the first run (in the order given)
    whose store is there; None when none is."""
    from emofeat.store.reader import Store

    for run in runs:
        if (store := store_of(run)) is None:
            continue
        try:
            return Path(Store.open(store, allow_incomplete=True).record.dataset_root)
        except Exception as e:  # a moved or damaged store: try the next run's
            log.debug("%s: no image folder from its store %s: %s", run.name, store, e)
    return None


def thumbnail(path: Path, px: int = THUMB_PX) -> bytes:
    """A JPEG of the image at ``path`` that fits a ``px`` square, decoded as extraction
    decodes it (:func:`emofeat.images.load_rgb`: upright, RGB, alpha on white)."""
    from emofeat.images import load_rgb

    small = load_rgb(path)
    small.thumbnail((px, px))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _file(root: Path, image_id: str) -> Path:
    """The file of an id below ``root``; an id that leads outside it is refused."""
    path = (root / image_id).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError("the id leads outside the data folder")
    if not path.is_file():
        raise FileNotFoundError("no such file")
    return path


def thumbnails(images: Sequence[GalleryImage], root: Path | None
               ) -> tuple[dict[str, bytes], str | None]:
    """Thumbnails by figure key (``thumb:<id>``), and a one-line note when some (or all)
    could not be made."""
    ids = list(dict.fromkeys(i.id for i in images))
    if not ids:
        return {}, None
    if root is None:
        return {}, ("Thumbnails left out: no run of this task names a feature store whose "
                    "store.json gives the data set's folder, so the images were not found; "
                    "the gallery shows captions only.")
    thumbs: dict[str, bytes] = {}
    failed: list[tuple[str, str]] = []
    for image_id in ids:
        try:
            thumbs[THUMB_PREFIX + image_id] = thumbnail(_file(root, image_id))
        except Exception as e:  # missing, unreadable or not an image: the caption stays
            failed.append((image_id, str(e) or type(e).__name__))
    if not failed:
        return thumbs, None
    first, why = failed[0]
    note = (f"{len(failed)} of {len(ids)} gallery images could not be read below {root} "
            f"(e.g. {first}: {why}); they are shown by their captions only.")
    return thumbs, note


def gallery(runs: Sequence[RunInfo], run_name: str) -> tuple[Gallery, dict[str, bytes]]:
    """The gallery of the run ``run_name`` (the task's reference) and its thumbnails."""
    by_name = {r.name: r for r in runs}
    run = by_name[run_name]
    assert isinstance(run.test, Predictions)
    images = picks(run.test)
    thumbs, note = thumbnails(images, image_root([run, *runs]))
    if note:
        log.warning("%s gallery: %s", run.task, note)
    score = SCORE_NAMES.get(run.record.score_kind, run.record.score_kind)
    return Gallery(run=run_name, score=score, images=images, note=note), thumbs
