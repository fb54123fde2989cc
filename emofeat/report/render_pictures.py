"""The pictures of a classification task in report.md and report.html: the gallery (its
captions, a thumbnail each in HTML) and the 2-D feature map (its caption; the figure in
HTML). The templates lay them out; report.md points at report.html for the pixels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emofeat.report.model import TaskReport
from emofeat.report.pictures_model import MAP_FIGURE, THUMB_PREFIX, GalleryImage
from emofeat.report.table import Table

GALLERY_HEADER = ("true class", "kind", "image", "predicted")


def _confidence(image: GalleryImage, score: str) -> str:
    return f"{score} {image.confidence:.3f}"


def caption(image: GalleryImage, score: str) -> str:
    """One line: the kind, the true and the predicted class, the confidence."""
    return (f"{image.kind}: true {image.true}, predicted {image.predicted}, "
            f"{_confidence(image, score)}")


def gallery_context(task: TaskReport, uris: Mapping[str, str]) -> dict[str, Any] | None:
    """The gallery's cards (a thumbnail's data URI, or None where it could not be made) and
    its table for report.md; None in reports without a gallery."""
    shown = task.gallery
    if shown is None:
        return None
    intro = (f"Test images of {shown.run} (the reference run): per true class, its most "
             f"confident right and most confident wrong predictions; the confidence is "
             f"the run's {shown.score} of the class it predicted.")
    if not shown.images:
        intro += " The run scored no test images."
    cards = [{"uri": uris.get(THUMB_PREFIX + i.id), "id": i.id, "kind": i.kind,
              "true": i.true, "predicted": i.predicted,
              "confidence": _confidence(i, shown.score), "caption": caption(i, shown.score)}
             for i in shown.images]
    table = Table((*GALLERY_HEADER, shown.score),
                  [[i.true, i.kind, i.id, i.predicted, f"{i.confidence:.3f}"]
                   for i in shown.images], numeric_from=4, names=(2,))
    return {"run": shown.run, "intro": intro, "note": shown.note or "", "cards": cards,
            "table": table}


def map_context(task: TaskReport, uris: Mapping[str, str]) -> dict[str, Any] | None:
    """The 2-D map's caption, whether it was drawn, and its data URI (HTML only)."""
    fmap = task.feature_map
    if fmap is None:
        return None
    return {"caption": fmap.caption, "drawn": fmap.method is not None,
            "uri": uris.get(MAP_FIGURE)}
