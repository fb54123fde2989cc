"""Device and precision: CUDA when there is one, AMP through autocast, exact fp32 on CPU."""

from __future__ import annotations

import contextlib
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
