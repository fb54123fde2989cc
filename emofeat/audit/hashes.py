"""What the audit knows of each image: its decoded size, a SHA-256 of its decoded pixels
(exact duplicates: the same picture whatever file format or metadata holds it) and a 64-bit
perceptual hash (near duplicates: resized, recompressed or lightly edited copies).

The perceptual hash is the DCT hash: the image in grey at 32x32, its 2-D DCT, the 8x8
lowest frequencies, one bit per coefficient above their median. Two copies of a picture
differ in a few bits; unrelated pictures in about 32 of 64. In a low-contrast image (the
32x32 grey's standard deviation below :data:`LOW_CONTRAST`) the coefficients sit close to
their median and compression noise flips many bits (a resized copy of a dim demo image was
22 bits away): such images are compared by their 8x8 grey thumbnail and mean colour
instead (:mod:`emofeat.audit.groups`).

Hashes are cached in ``hashes.csv`` of the audit folder, keyed by id, file size and
modification time: a second audit of the same data decodes only what changed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from emofeat.atomic import write_text
from emofeat.csvrows import write_row
from emofeat.datasets.manifest import Manifest
from emofeat.images import ImageReadError, load_rgb
from emofeat.textfiles import read_text

log = logging.getLogger(__name__)

CACHE_FILE = "hashes.csv"
_CACHE_HEADER = ["id", "bytes", "mtime_ns", "width", "height", "sha256", "phash", "grey_std",
                 "mean_rgb", "thumb", "error"]
#: The side of the grey image the DCT is taken of, and of the low-frequency block kept.
_DCT_SIDE, _HASH_SIDE = 32, 8
#: Below this standard deviation (0-255 grey levels, at 32x32) an image is low-contrast.
LOW_CONTRAST = 8.0


@dataclass(frozen=True)
class ImageHash:
    """One image's audit record (``error``: why it could not be decoded, else "")."""

    id: str
    bytes: int
    mtime_ns: int
    width: int = 0
    height: int = 0
    sha256: str = ""
    phash: int = 0
    grey_std: float = 0.0
    mean_rgb: tuple[int, int, int] = (0, 0, 0)
    thumb: bytes = b""  # 8x8 grey, row by row
    error: str = ""

    @property
    def readable(self) -> bool:
        return not self.error

    @property
    def low_contrast(self) -> bool:
        """Too little contrast for the perceptual hash (see the module's docstring)."""
        return self.readable and self.grey_std < LOW_CONTRAST


def _small(img: Image.Image) -> Image.Image:
    # reducing_gap: a box reduce() to within 2x of the size first, then Lanczos (4x faster
    # on a 500x375 photo than Lanczos from the full size; the same hash up to a bit or two)
    return img.resize((_DCT_SIDE, _DCT_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)


def _small_grey(img: Image.Image) -> np.ndarray:
    return np.asarray(_small(img).convert("L"), dtype=np.float64)


def perceptual_hash(img: Image.Image, grey: np.ndarray | None = None) -> int:
    """The 64-bit DCT hash of an image (see the module's docstring)."""
    from scipy.fft import dctn

    pixels = _small_grey(img) if grey is None else grey
    low = dctn(pixels, norm="ortho")[:_HASH_SIDE, :_HASH_SIDE]
    bits = (low > np.median(low)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def pixel_sha256(img: Image.Image) -> str:
    """SHA-256 of the decoded RGB pixels and their size (not of the file)."""
    digest = hashlib.sha256(f"{img.width}x{img.height}\n".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()


def hash_image(image_id: str, path: Path) -> ImageHash:
    """Decode one image and hash it; an image that cannot be decoded gets its reason."""
    try:
        stat = path.stat()
    except OSError as exc:
        return ImageHash(image_id, 0, 0, error=f"cannot read the file: {exc.strerror}")
    try:
        img = load_rgb(path)
    except ImageReadError as exc:
        return ImageHash(image_id, stat.st_size, stat.st_mtime_ns, error=str(exc))
    small = _small(img)
    grey = np.asarray(small.convert("L"), dtype=np.float64)
    r, g, b = (int(v + 0.5) for v in np.asarray(small, dtype=np.float64).mean(axis=(0, 1)))
    thumb = grey.reshape(_HASH_SIDE, 4, _HASH_SIDE, 4).mean(axis=(1, 3))
    return ImageHash(image_id, stat.st_size, stat.st_mtime_ns, img.width, img.height,
                     pixel_sha256(img), perceptual_hash(img, grey), round(float(grey.std()), 3),
                     (r, g, b), np.rint(thumb).astype(np.uint8).tobytes(), "")


def _read_cache(path: Path) -> dict[str, ImageHash]:
    if not path.is_file():
        return {}
    rows = read_text(path).csv_rows()
    if not rows or rows[0] != _CACHE_HEADER:
        log.warning("%s is not an audit hash cache; hashing every image again", path)
        return {}
    cache: dict[str, ImageHash] = {}
    for row in rows[1:]:
        try:
            r, g, b = (int(v) for v in row[8].split())
            cache[row[0]] = ImageHash(row[0], int(row[1]), int(row[2]), int(row[3]),
                                      int(row[4]), row[5], int(row[6], 16), float(row[7]),
                                      (r, g, b), bytes.fromhex(row[9]), row[10])
        except (IndexError, ValueError):
            log.warning("%s: an unreadable row; hashing that image again", path)
    return cache


def _write_cache(path: Path, hashes: Sequence[ImageHash]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_CACHE_HEADER)
    for h in hashes:
        write_row(buf, writer, [h.id, h.bytes, h.mtime_ns, h.width, h.height, h.sha256,
                                f"{h.phash:016x}", h.grey_std,
                                " ".join(map(str, h.mean_rgb)), h.thumb.hex(), h.error])
    write_text(path, buf.getvalue())


def _unchanged(cached: ImageHash | None, path: Path) -> bool:
    if cached is None:
        return False
    try:
        stat = path.stat()
    except OSError:
        return False
    return stat.st_size == cached.bytes and stat.st_mtime_ns == cached.mtime_ns


def hash_images(manifest: Manifest, cache_dir: Path | None = None, workers: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> list[ImageHash]:
    """Every image's :class:`ImageHash`, in manifest order; decoded on ``workers`` threads
    (default: one per core; Pillow decodes outside the GIL). With ``cache_dir``, hashes of
    files unchanged since they were cached are reused and the cache is updated."""
    cache_path = cache_dir / CACHE_FILE if cache_dir is not None else None
    cache = _read_cache(cache_path) if cache_path is not None else {}
    out: list[ImageHash | None] = [None] * len(manifest)
    todo: list[int] = []
    for k, image_id in enumerate(manifest.ids):
        cached = cache.get(image_id)
        if _unchanged(cached, manifest.path(image_id)):
            out[k] = cached
        else:
            todo.append(k)
    if len(todo) < len(manifest):
        log.info("audit: %d of %d images hashed before (%s)", len(manifest) - len(todo),
                 len(manifest), cache_path)
    done = len(manifest) - len(todo)
    if progress is not None:
        progress(done, len(manifest))
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results = pool.map(lambda k: hash_image(manifest.ids[k], manifest.path(manifest.ids[k])),
                           todo)
        for k, result in zip(todo, results, strict=True):
            out[k] = result
            done += 1
            if progress is not None and (done % 64 == 0 or done == len(manifest)):
                progress(done, len(manifest))
    hashes = [h for h in out if h is not None]
    if cache_path is not None and todo:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        _write_cache(cache_path, hashes)
    return hashes
