"""Where a backbone's weights came from (:class:`WeightsInfo`, as recorded), and which
``--weights`` values name a file. No torch: both :mod:`emofeat.backbones.weights` and
:mod:`emofeat.backbones.openclip` build on it, and neither needs the other for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emofeat.backbones.names import WEIGHT_CHOICES

WEIGHT_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


@dataclass(frozen=True)
class WeightsInfo:
    """Where a backbone's weights came from, as recorded in store.json and run.json."""

    requested: str
    source: str  # bundled | hub | file | random
    origin: str | None = None  # package==version, hub id, or file path
    sha256: str | None = None
    seed: int | None = None  # random init

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_weights_file(weights: str) -> bool:
    return weights not in WEIGHT_CHOICES and (
        Path(weights).suffix.lower() in WEIGHT_FILE_SUFFIXES or Path(weights).exists()
    )
