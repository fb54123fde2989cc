"""A frozen backbone that returns pooled features of chosen layers: AMP, channels_last and
out-of-memory back-off. Used by extraction and by ``predict`` on frozen-feature runs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from emofeat.backbones import tap
from emofeat.device import AmpContext, autocast_for
from emofeat.errors import EmofeatError

log = logging.getLogger(__name__)


@dataclass
class FeatureModel:
    """A frozen backbone with pooled taps, AMP and out-of-memory back-off."""

    model: nn.Module
    layers: Sequence[str]
    pooling: str
    device: torch.device
    precision: str
    micro_batch: int
    _autocast: AmpContext = field(init=False)

    def __post_init__(self) -> None:
        self.model = self.model.eval().to(self.device, memory_format=torch.channels_last)
        self._autocast = autocast_for(self.precision, self.device)

    @torch.inference_mode()
    def _run(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        chunks: dict[str, list[torch.Tensor]] = {n: [] for n in self.layers}
        for start in range(0, images.shape[0], self.micro_batch):
            x = images[start:start + self.micro_batch]
            x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            with tap(self.model, self.layers, self.pooling) as pooled, self._autocast():
                self.model(x)
            for name in self.layers:
                chunks[name].append(pooled[name].float().cpu())
        return {n: torch.cat(c) for n, c in chunks.items()}

    def __call__(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Pooled features per layer for a batch; halves the batch on out-of-memory."""
        while True:
            try:
                return {n: t.numpy() for n, t in self._run(images).items()}
            except torch.OutOfMemoryError:
                if self.micro_batch == 1:
                    raise EmofeatError("out of memory with a batch of one image; use a smaller "
                                       "backbone or another device") from None
                self.micro_batch = max(1, self.micro_batch // 2)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                log.warning("out of memory: retrying with batches of %d", self.micro_batch)
