"""The pictures of a classification task in report.json: the gallery of the reference
run's most confident right and wrong test predictions (:mod:`emofeat.report.gallery`) and
the 2-D map of the best linear probe's features (:mod:`emofeat.report.featuremap`).

Below :mod:`emofeat.report.model`, which holds them in a :class:`TaskReport`; the pixels
(thumbnails, the map) are figures of report.html, not part of report.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from emofeat.records import OMIT_IF_NONE


@dataclass(frozen=True, kw_only=True)
class GalleryImage:
    """A test image in the gallery: the run's most confident right or wrong prediction
    among the images of its true class."""

    id: str
    kind: Literal["right", "wrong"]
    true: str
    predicted: str
    confidence: float  # the run's score of the predicted class


@dataclass(frozen=True, kw_only=True)
class Gallery:
    """The reference run's gallery: per true class, its most confident right and wrong
    predictions (a few of each)."""

    run: str
    score: str  # what ``confidence`` is: "probability", or "margin" (an SVM's decision)
    images: tuple[GalleryImage, ...]  # by class (task order), right before wrong
    # one line when some thumbnails could not be made at compare time (absent: none missing)
    note: str | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True, kw_only=True)
class FeatureMap:
    """A 2-D map of one frozen run's features of the test images, coloured by class."""

    run: str | None  # the run whose store and layer are mapped (None: no run qualifies)
    layer: str | None
    method: Literal["UMAP", "PCA"] | None  # None: no map drawn (the caption says why)
    n_points: int  # images drawn (subsampled to a cap)
    n_images: int  # test images of the run
    caption: str


#: The key of a gallery image's thumbnail among its task's figures (``thumb:<id>``).
THUMB_PREFIX = "thumb:"
#: The key of the 2-D map among a task's figures.
MAP_FIGURE = "feature_map"
