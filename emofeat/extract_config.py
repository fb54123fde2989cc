"""What ``emofeat extract`` is asked to do, checked without importing torch or h5py.

The engine is :mod:`emofeat.extract`; it re-exports :class:`ExtractConfig`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emofeat.backbones.names import DEFAULT_BACKBONE
from emofeat.device import DEVICES, MEMORY_FORMATS, PRECISIONS
from emofeat.errors import EmofeatError
from emofeat.pooling import POOLINGS

#: The dtypes a feature store can hold.
DTYPES = ("float32", "float16")
#: Where JPEGs are decoded and resized: ``cpu`` (Pillow, in the loader), ``gpu`` (nvJPEG on
#: the CUDA device, :mod:`emofeat.device_decode`), ``auto`` (gpu on CUDA, else cpu).
DECODES = ("auto", "cpu", "gpu")


@dataclass
class ExtractConfig:
    """What ``emofeat extract`` is asked to do (everything but the data and the output)."""

    backbone: str = DEFAULT_BACKBONE
    weights: str = "pretrained"
    layers: Sequence[str] | None = None  # None: the backbone's default layers
    pooling: str = "avg"
    batch_size: int | None = None  # None: per device, emofeat.device.DEFAULT_BATCH_SIZE
    workers: int | None = None  # None: 0 (decode threads) on the CPU, else min(16, CPUs - 1)
    device: str = "auto"
    precision: str = "auto"
    dtype: str = "float32"
    shard_size: int = 1024
    strict: bool = False
    overwrite: bool = False
    seed: int = 0  # random-init weights
    memory_format: str = "auto"  # channels_last
    compile: bool = False  # torch.compile the backbone (pays off on long GPU runs)
    decode: str = "auto"  # DECODES: gpu (nvJPEG) on CUDA, else cpu (Pillow)

    def check(self) -> None:
        for name, value, valid in (("pooling", self.pooling, POOLINGS),
                                   ("precision", self.precision, PRECISIONS),
                                   ("device", self.device, DEVICES),
                                   ("dtype", self.dtype, DTYPES),
                                   ("decode", self.decode, DECODES),
                                   ("memory format", self.memory_format, MEMORY_FORMATS)):
            if value not in valid:
                raise EmofeatError(f"unknown {name} '{value}'; valid: {', '.join(valid)}")
        if (self.batch_size is not None and self.batch_size < 1) or self.shard_size < 1:
            raise EmofeatError("--batch-size and --shard-size must be at least 1")
        if self.workers is not None and self.workers < 0:
            raise EmofeatError("--workers must be 0 or more")
