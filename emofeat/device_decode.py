"""JPEG decoding on the extraction device: bytes read by threads, batches decoded by nvJPEG.

``--decode gpu`` (:data:`emofeat.extract_config.DECODES`) replaces the CPU path's Pillow
decoding and resizing in worker processes, which cannot keep an H200 fed
(benchmarks/README.md). Here, for each batch:

1. threads read each file's bytes and look at its header (Pillow's, no decoding): a JPEG
   the batched decoder takes (baseline or extended sequential, 1 or 3 components, no EXIF
   rotation, ending in an EOI marker, within Pillow's pixel limit) is kept as bytes; any
   other image (not a JPEG by content, CMYK/YCCK, progressive, EXIF-rotated, truncated...)
   is decoded by the CPU decoder (:func:`emofeat.images.load_rgb`) in that thread;
2. the JPEG bytes are decoded in one call on the device (:data:`DECODERS`: TorchCodec's
   ``decode_jpeg``, else torchvision's); when that call fails, each image is decoded alone
   and an image the device decoder refuses goes to the CPU decoder;
3. every image, wherever decoded, is resized and centre-cropped on the device as the
   model's timm transform does (:func:`emofeat.transforms.device_transform`: its ``Resize``
   made pass by pass as Pillow makes it, antialiased, the data config's interpolation, then
   its ``CenterCrop``): the CPU path's pixels up to one level.

An image the CPU decoder cannot read fails with the reason the CPU path records, so
failed.csv is the same; rows keep their order. The same code runs with the decoder on the
CPU (``device="cpu"``), which is how the tests cover all of it but the device call. How
many images went to the CPU decoder, and why, is logged at the end.
"""

from __future__ import annotations

import functools
import io
import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from emofeat.images import _WARNINGS_LOCK, ImageReadError, load_rgb

log = logging.getLogger(__name__)

#: A batched decoder: JPEG byte tensors (1-D uint8, on the CPU) -> RGB uint8 CHW tensors on
#: ``device``.
Decoder = Callable[[list[torch.Tensor], torch.device], list[torch.Tensor]]


def _torchcodec(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    from torchcodec.decoders import decode_jpeg

    return list(decode_jpeg(data, mode="RGB", device=device))


#: torchvision 0.29 deprecates its decoders in favour of TorchCodec's; it is the fallback.
_TV_DEPRECATION = "The image decoding and encoding capabilities of TorchVision"


def _torchvision(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _TV_DEPRECATION, DeprecationWarning)
        return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))


def _torchcodec_ok() -> bool:
    try:
        from torchcodec.decoders import decode_jpeg  # noqa: F401  (loads its libraries)
    except Exception:  # not installed, or built for another torch: the next one is used
        return False
    return True


#: Batched JPEG decoders in the order ``--decode gpu`` tries them: name -> (available?,
#: decode).
DECODERS: dict[str, tuple[Callable[[], bool], Decoder]] = {
    "torchcodec": (_torchcodec_ok, _torchcodec),
    "torchvision": (lambda: True, _torchvision),
}


def find_decoder(name: str | None = None, device: torch.device | None = None) -> str | None:
    """The first available decoder of :data:`DECODERS` (or ``name``'s, if available); with
    ``device``, the first that decodes a small JPEG there (a TorchCodec built for another
    torch or CUDA fails here, not on every batch)."""
    names = [name] if name else list(DECODERS)
    return next((n for n in names if n in DECODERS and DECODERS[n][0]()
                 and (device is None or _decodes_on(n, device.type))), None)


@functools.cache
def _decodes_on(name: str, device_type: str) -> bool:
    buf = io.BytesIO()
    Image.new("RGB", (16, 8), (200, 40, 10)).save(buf, "JPEG")
    data = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
    try:
        out = DECODERS[name][1]([data], torch.device(device_type))
        ok = out[0].shape == (3, 8, 16)
    except Exception as exc:
        log.info("the %s decoder does not run on %s: %s", name, device_type, exc)
        return False
    return bool(ok)


# --------------------------------------------------------------------------- per image


#: Why an image went to the CPU decoder (the log's counts).
NOT_JPEG, CMYK, PROGRESSIVE, ROTATED, TRUNCATED, OTHER, DECODER = (
    "not JPEG", "CMYK/YCCK", "progressive", "EXIF-rotated", "no end marker", "other header",
    "device decoder error")


def refusal(data: bytes) -> str | None:
    """Why the batched decoder should not be given these bytes (a reason above), or None.
    Only the header is read (Pillow's parser); nothing is decoded."""
    if not data.startswith(b"\xff\xd8\xff"):
        return NOT_JPEG
    if not data.rstrip(b"\x00\r\n").endswith(b"\xff\xd9"):
        return TRUNCATED  # truncated, or followed by other data: Pillow decides
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        with img:
            if img.mode in ("CMYK", "YCbCr") or img.info.get("adobe_transform") == 0:
                return CMYK if img.mode == "CMYK" else OTHER
            if img.mode not in ("RGB", "L"):
                return OTHER
            if img.info.get("progressive") or img.info.get("progression"):
                return PROGRESSIVE
            if img.getexif().get(0x0112, 1) != 1:  # Orientation
                return ROTATED
    except Exception:  # anything odd: the CPU decoder decides, and names the reason
        return OTHER
    return None


@dataclass
class Item:
    """One image on its way: JPEG bytes for the device, or decoded on the CPU, or failed."""

    row: int
    data: torch.Tensor | None = None  # 1-D uint8 JPEG bytes
    decoded: torch.Tensor | None = None  # CHW uint8, decoded on the CPU
    reason: str = ""  # why it went to the CPU decoder
    failed: str = ""  # why it cannot be read at all (failed.csv)


def read_item(row: int, path: str) -> Item:
    """Read one file: bytes the device can decode, else decoded here by the CPU decoder."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        data = b""
    reason = refusal(data) if data else OTHER
    if reason is None:
        return Item(row, data=torch.frombuffer(bytearray(data), dtype=torch.uint8))
    return cpu_item(row, path, reason)


def cpu_item(row: int, path: str, reason: str) -> Item:
    try:
        rgb = np.array(load_rgb(path))  # a copy torch may own
    except ImageReadError as exc:
        return Item(row, failed=str(exc))
    return Item(row, decoded=torch.from_numpy(rgb).permute(2, 0, 1), reason=reason)


# --------------------------------------------------------------------------- batches


@dataclass
class DeviceDecodeBatches:
    """Batches of ``batch_sampler`` decoded on ``device``, in the collate format of
    :func:`emofeat.loading.collate` (``images`` a uint8 NCHW tensor on ``device``).

    ``threads`` read (and CPU-decode the refused images of) the batch after the one being
    decoded. ``decoder`` is a key of :data:`DECODERS` or a :data:`Decoder`.
    """

    paths: Sequence[str]
    batch_sampler: Iterable[list[int]]
    device: torch.device
    transform: Callable[[torch.Tensor], torch.Tensor]
    threads: int = 1
    decoder: str | Decoder = "torchvision"
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._decode: Decoder = (DECODERS[self.decoder][1] if isinstance(self.decoder, str)
                                 else self.decoder)

    def __len__(self) -> int:
        return len(self.batch_sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.counts.clear()
        with ThreadPoolExecutor(max(1, self.threads), thread_name_prefix="emofeat-read") as pool:
            def submit(rows: list[int]) -> list[Future[Item]]:
                return [pool.submit(read_item, r, self.paths[r]) for r in rows]

            batches = iter(self.batch_sampler)
            ahead = [submit(rows) for rows in _take(batches, 2)]
            while ahead:
                items = [f.result() for f in ahead.pop(0)]
                ahead.extend(submit(rows) for rows in _take(batches, 1))
                yield self._batch(items)
        self._report()

    def _batch(self, items: list[Item]) -> dict[str, Any]:
        jpegs = [it for it in items if it.data is not None]
        for it, image in zip(jpegs, self._decode_all(jpegs), strict=True):
            if image is None:  # the CPU decoder decides: an image, or the CPU path's reason
                cpu = cpu_item(it.row, self.paths[it.row], DECODER)
                it.decoded, it.reason, it.failed = cpu.decoded, cpu.reason, cpu.failed
            else:
                it.decoded = image
        ok = [it for it in items if it.decoded is not None]
        for it in ok:
            self.counts[it.reason or "device"] += 1
        self.counts["failed"] += sum(1 for it in items if it.decoded is None)
        images = [self.transform(it.decoded.to(self.device, non_blocking=True))
                  for it in ok]  # type: ignore[union-attr]
        return {"rows": [it.row for it in ok],
                "images": torch.stack(images) if images else None,
                "failed": [(it.row, it.failed) for it in items if it.decoded is None]}

    def _decode_all(self, jpegs: list[Item]) -> list[torch.Tensor | None]:
        """The batch in one call; when it fails, each image alone (None: refused)."""
        if not jpegs:
            return []
        data = [it.data for it in jpegs]
        try:
            return list(self._decode(data, self.device))  # type: ignore[arg-type]
        except Exception as exc:
            log.debug("batched decode failed (%s); decoding one image at a time", exc)
        out: list[torch.Tensor | None] = []
        for one in data:
            try:
                out.append(self._decode([one], self.device)[0])  # type: ignore[list-item]
            except Exception:
                out.append(None)
        return out

    def _report(self) -> None:
        cpu = {k: v for k, v in self.counts.items() if k not in ("device", "failed") and v}
        name = self.decoder if isinstance(self.decoder, str) else "a custom decoder"
        log.info("decoded %d images on %s (%s), %d by the CPU decoder%s, %d unreadable",
                 self.counts["device"], self.device.type, name, sum(cpu.values()),
                 f" ({', '.join(f'{k}: {v}' for k, v in sorted(cpu.items()))})" if cpu else "",
                 self.counts["failed"])


def _take(it: Iterator[list[int]], n: int) -> list[list[int]]:
    out = []
    for _ in range(n):
        nxt = next(it, None)
        if nxt is None:
            break
        out.append(nxt)
    return out


# --------------------------------------------------------------------------- the choice


@dataclass(frozen=True)
class DecodePlan:
    """Decoding on the device: which decoder, and the model's transform on tensors."""

    decoder: str
    transform: Callable[[torch.Tensor], torch.Tensor]

    def record(self, device: torch.device) -> str:
        """store.json's ``decode``: ``<decoder>:<device type>``; the CPU path records none."""
        return f"{self.decoder}:{device.type}"


def plan_decoding(decode: str, device: torch.device, cfg: dict[str, Any],
                  force: bool = False) -> DecodePlan | None:
    """What ``--decode`` means here: None for the CPU path (Pillow in the loader), else the
    device path. ``auto``: the device path on CUDA when a decoder and a tensor form of the
    model's transform exist. ``force`` runs the device path on any device, the CPU included
    (the tests' way to cover it; not a user option)."""
    from emofeat.errors import EmofeatError
    from emofeat.transforms import device_transform

    if decode == "cpu" and not force:
        return None
    if decode == "gpu" and device.type != "cuda" and not force:
        raise EmofeatError(f"--decode gpu needs a CUDA device (extraction runs on "
                           f"{device.type}); use --decode cpu or auto")
    transform = device_transform(cfg)
    decoder = find_decoder(device=device)
    if transform is None or decoder is None:
        why = ("no batched JPEG decoder is available" if decoder is None else
               "this model's evaluation transform has steps with no tensor form")
        if decode == "gpu" or force:
            raise EmofeatError(f"--decode gpu: {why}; use --decode cpu")
        log.info("decoding on the CPU: %s", why)
        return None
    if decode == "auto" and device.type != "cuda" and not force:
        return None
    return DecodePlan(decoder, transform)
