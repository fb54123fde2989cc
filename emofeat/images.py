"""Reading images the same way everywhere: EXIF orientation applied, any mode to 8-bit RGB."""

from __future__ import annotations

import struct
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from emofeat.paths import is_hidden

#: File endings treated as images by the dataset readers (case-insensitive).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
)


#: warnings.catch_warnings swaps the process's filters: images decoded by several threads
#: take turns through it (only the header is read inside).
_WARNINGS_LOCK = threading.Lock()


class ImageReadError(Exception):
    """An image that cannot be decoded; the message is the reason recorded in failed.csv."""


def is_image_name(path: Path) -> bool:
    """An image file ending, and not a hidden file (``._x.jpg`` is macOS metadata)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not is_hidden(path)


#: What the first bytes of each image format read by content are (Pillow decodes by
#: content too, so a ``.jpg`` holding a PNG reads as the PNG it is).
_MAGIC: tuple[tuple[str, bytes], ...] = (
    ("JPEG", b"\xff\xd8\xff"), ("PNG", b"\x89PNG\r\n\x1a\n"), ("GIF", b"GIF87a"),
    ("GIF", b"GIF89a"), ("TIFF", b"II*\x00"), ("TIFF", b"MM\x00*"),
)
#: The sizes of a BMP's second header (BITMAPCOREHEADER ... BITMAPV5HEADER).
_BMP_HEADERS = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def sniff_format(path: Path) -> str | None:
    """The image format a file's first bytes say (JPEG, PNG, GIF, TIFF, BMP, WEBP), or None
    (not an image, or unreadable)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError:
        return None
    for name, magic in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") \
            in _BMP_HEADERS:
        return "BMP"
    return None


def is_image_file(path: Path) -> bool:
    """An image by its ending, or (any other ending, or none) by its first bytes; never a
    hidden file. A file with an image ending is not opened here: what it holds is told when
    it is decoded (an image ending on a text file fails there, recorded in failed.csv)."""
    if is_hidden(path):
        return False
    return path.suffix.lower() in IMAGE_EXTENSIONS or sniff_format(path) is not None


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; alpha is composited onto white, 16-bit is rescaled."""
    if img.mode == "RGB":
        return img
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode.startswith("I") or img.mode == "F":
        # 16/32-bit grayscale (e.g. 16-bit PNG): values above 255 are 16-bit, scale to 8-bit.
        arr = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16") or arr.max() > 255:
            arr = arr / 257.0
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | Path) -> Image.Image:
    """Decode an image fully, apply its EXIF orientation and return it as RGB.

    Raises :class:`ImageReadError` with a short reason for anything that cannot be decoded
    (empty file, truncated data, not an image at all).
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError("empty file")
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)  # the decompression-bomb check is made here
        with img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError("file not found") from None
    except Image.UnidentifiedImageError:
        raise ImageReadError("not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"too many pixels (Pillow's decompression-bomb limit): "
                             f"{str(exc).splitlines()[0]}") from None
    except MemoryError:
        raise ImageReadError("out of memory while decoding") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageReadError(f"cannot decode: {reason}") from None
