"""Device and precision: CUDA when there is one, AMP through autocast, exact fp32 on CPU."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import platform
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from emofeat.errors import EmofeatError

if TYPE_CHECKING:
    import torch

# torch is imported by the functions that need it, so the CLI can list these choices
# without loading it.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
#: ``auto``: channels_last (fastest for convolutional backbones on CPU and GPU alike).
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")

#: Images per batch of a frozen forward pass when none is asked for, by device type. On a
#: 2-core CPU IRv2 and Lite0 run fastest at 4-16 images (the activations stay in the
#: caches): at 16, extraction end to end is 1.8x (IRv2) and 2.2x (Lite0) as fast as at 32;
#: an H200 runs IRv2 in bf16 + channels_last fastest at 256 (benchmarks/README.md). Out of
#: memory halves it.
DEFAULT_BATCH_SIZE = {"cpu": 16, "cuda": 256}

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise EmofeatError("--device cuda was asked for, but no CUDA GPU is available")
    if device not in ("cpu", "cuda"):
        raise EmofeatError(f"unknown device '{device}'; valid: {', '.join(DEVICES)}")
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 (fp16 where bf16 is unsupported) on CUDA, exact fp32 on the CPU."""
    import torch

    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


AmpContext = Callable[[], contextlib.AbstractContextManager]


def autocast_for(precision: str, device: torch.device) -> AmpContext:
    import torch

    if precision == "fp32":
        return contextlib.nullcontext
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return partial(torch.autocast, device_type=device.type, dtype=dtype)


def resolve_batch_size(batch_size: int | None, device: torch.device) -> int:
    """``batch_size``, or :data:`DEFAULT_BATCH_SIZE` for the device."""
    return batch_size if batch_size is not None else DEFAULT_BATCH_SIZE.get(device.type, 32)


#: glibc's mallopt parameters, and the values :func:`keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64-bit
_TRIM_THRESHOLD = 512 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc keep freed memory for reuse (mmap only above 32 MiB, no heap trimming below
    512 MiB), once per process; False where the C library is not glibc.

    A CPU forward pass allocates and frees its activations layer by layer; with glibc's
    defaults, blocks of a few MiB go back to the kernel and come back as fresh pages to
    fault in at every batch. Keeping them made forward passes at batch 4-16 up to 1.8x
    faster on the 2-core machine (benchmarks/README.md); the process keeps its high-water
    mark for the rest of its life."""
    kept = False
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        libc = ctypes.CDLL(None)
        kept = bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
                    and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    log.debug("glibc keeps freed memory for CPU forward passes: %s", kept)
    return kept
