"""What a zero-shot run is asked to do (:class:`ZeroshotConfig`) and what its images are
(:class:`ImageSet`), whichever source they come from, with the run's file and layer names.

Below both :mod:`emofeat.zeroshot.images` (which fills an :class:`ImageSet`) and
:mod:`emofeat.zeroshot.run` (which scores it); no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from emofeat.backbones.names import is_open_clip
from emofeat.errors import EmofeatError
from emofeat.splitfile import Split
from emofeat.zeroshot.prompts import ENSEMBLE, check_choice

#: The model file of a zero-shot run: the class embeddings used, (classes, dim) float32.
CLASSES_FILE = "model-classes.npy"
EMBEDDING_LAYER = "embedding"


@dataclass(frozen=True)
class ZeroshotConfig:
    """What ``emofeat zeroshot`` is asked to do (besides the data and the output)."""

    model: str
    task: str = "emotion8"
    weights: str = "pretrained"  # images only; a store's own weights are used with a store
    prompts: str | None = None  # a TOML file; None: the shipped emotion prompts
    prompt_choice: str = ENSEMBLE
    batch_size: int | None = None
    device: str = "auto"
    precision: str = "auto"
    workers: int | None = None
    seed: int = 0  # random weights
    overwrite: bool = False
    # a complete run made the same way is kept, one made otherwise redone (emofeat run)
    reuse: bool = False

    def check(self) -> None:
        if not is_open_clip(self.model):
            raise EmofeatError(f"zero-shot runs need an open_clip model "
                               f"(open_clip:ARCH/PRETRAINED); got '{self.model}'")
        check_choice(self.prompt_choice)


@dataclass
class ImageSet:
    """What the images of a run are, whichever source: ids, labels, split, embeddings."""

    ids: list[str]
    y: np.ndarray  # class index, -1: no label of the task
    split: Split
    fmt: str
    manifest_sha256: str
    label_from: str | None
    features: dict[str, Any]
    weights: dict[str, Any]
    data_config: dict[str, Any]
    # (class embedding sets, logit scale) -> (N, sets, K) cosine logits
    logits: Callable[[list[np.ndarray], float], np.ndarray]
    failed: tuple[tuple[str, str], ...] = ()
