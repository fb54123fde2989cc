"""A frozen backbone that returns pooled features of chosen layers.

Used by extraction and by ``predict`` on frozen-feature runs. What it does for speed:

- uint8 batches (timm's prefetcher convention) are normalised on the device, so DataLoader
  workers ship a quarter of the bytes and do no float work;
- channels_last (the default: fastest on CPU and GPU), AMP through ``torch.autocast``,
  optional ``torch.compile``;
- on the CPU, glibc keeps freed memory (:func:`emofeat.device.keep_freed_memory`), so the
  activations of each batch do not come back as fresh pages to fault in;
- the layer hooks are registered once for as long as the model is entered
  (``with FeatureModel(...) as fm``), not per batch;
- :meth:`FeatureModel.submit` starts a batch and copies its pooled outputs back
  asynchronously, so the caller can queue the next batch before waiting for this one;
- on out-of-memory the batch is split in halves, down to one image.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from emofeat.backbones import tap
from emofeat.device import MEMORY_FORMATS, AmpContext, autocast_for, keep_freed_memory
from emofeat.errors import EmofeatError

log = logging.getLogger(__name__)

def use_channels_last(memory_format: str, device: torch.device) -> bool:
    """``auto``: channels_last, which both oneDNN on the CPU and cuDNN's tensor cores run
    fastest for convolutional backbones (measured: benchmarks/README.md)."""
    if memory_format not in MEMORY_FORMATS:
        raise EmofeatError(f"unknown memory format '{memory_format}'; valid: "
                           f"{', '.join(MEMORY_FORMATS)}")
    return memory_format in ("auto", "channels_last")


@dataclass
class PendingFeatures:
    """Pooled features on their way to the host; :meth:`result` waits for the copy."""

    host: dict[str, torch.Tensor]
    event: Any = None  # a torch.cuda.Event recorded after the copies, or None on the CPU

    def result(self) -> dict[str, np.ndarray]:
        if self.event is not None:
            self.event.synchronize()
        return {n: t.numpy() for n, t in self.host.items()}


@dataclass
class FeatureModel:
    """A frozen backbone with pooled taps, AMP and out-of-memory back-off.

    ``mean``/``std`` (the data config's, in 0..1 units) are needed for uint8 input; float
    input is taken as already normalised.
    """

    model: nn.Module
    layers: Sequence[str]
    pooling: str
    device: torch.device
    precision: str
    micro_batch: int
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    memory_format: str = "auto"
    compile: bool = False
    _autocast: AmpContext = field(init=False)
    _channels_last: bool = field(init=False)
    _pooled: dict[str, torch.Tensor] | None = field(init=False, default=None)
    _hooks: contextlib.ExitStack | None = field(init=False, default=None)
    _forward: Any = field(init=False)

    def __post_init__(self) -> None:
        if self.device.type == "cpu":
            keep_freed_memory()
        self._channels_last = use_channels_last(self.memory_format, self.device)
        fmt = torch.channels_last if self._channels_last else torch.contiguous_format
        self.model = self.model.eval().to(self.device, memory_format=fmt)
        self._autocast = autocast_for(self.precision, self.device)
        self._forward = torch.compile(self.model) if self.compile else self.model
        self._scale: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.mean is not None and self.std is not None:
            m = torch.tensor(self.mean, dtype=torch.float32, device=self.device) * 255
            s = torch.tensor(self.std, dtype=torch.float32, device=self.device) * 255
            self._scale = (m.view(1, -1, 1, 1), s.view(1, -1, 1, 1))

    # ------------------------------------------------------------------ hooks

    def __enter__(self) -> FeatureModel:
        stack = contextlib.ExitStack()
        self._pooled = stack.enter_context(tap(self.model, self.layers, self.pooling))
        self._hooks = stack
        return self

    def __exit__(self, *exc: object) -> None:
        if self._hooks is not None:
            self._hooks.close()
        self._hooks, self._pooled = None, None

    # ------------------------------------------------------------------ forward

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if x.dtype == torch.uint8:
            if self._scale is None:
                raise EmofeatError("uint8 images need the data config's mean and std")
            x = x.float().sub_(self._scale[0]).div_(self._scale[1])
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @torch.inference_mode()
    def _run(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        assert self._pooled is not None
        chunks: dict[str, list[torch.Tensor]] = {n: [] for n in self.layers}
        for start in range(0, images.shape[0], self.micro_batch):
            x = self._prepare(images[start:start + self.micro_batch])
            with self._autocast():
                self._forward(x)
            for name in self.layers:
                chunks[name].append(self._pooled[name].float())
        return {n: (c[0] if len(c) == 1 else torch.cat(c)) for n, c in chunks.items()}

    def _run_backing_off(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        while True:
            try:
                return self._run(images)
            except torch.OutOfMemoryError:
                if self.micro_batch == 1:
                    raise EmofeatError("out of memory with a batch of one image; use a smaller "
                                       "backbone or another device") from None
                self.micro_batch = max(1, min(self.micro_batch, images.shape[0]) // 2)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                log.warning("out of memory: retrying with batches of %d", self.micro_batch)

    def submit(self, images: torch.Tensor) -> PendingFeatures:
        """Start a batch; on CUDA the pooled outputs come back asynchronously."""
        if self._pooled is None:
            raise RuntimeError("FeatureModel.submit needs `with FeatureModel(...)`")
        out = self._run_backing_off(images)
        if self.device.type != "cuda":
            return PendingFeatures(out)
        host = {n: t.to("cpu", non_blocking=True) for n, t in out.items()}
        event = torch.cuda.Event()
        event.record()
        return PendingFeatures(host, event)

    def __call__(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Pooled features per layer for a batch (float32 arrays), waiting for them."""
        if self._pooled is not None:
            return self.submit(images).result()
        with self:
            return self.submit(images).result()
