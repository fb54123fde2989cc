"""timm's evaluation transforms, with the resize made cheaper where that keeps its pixels.

timm's centre-crop evaluation transform resizes the whole image (shorter side to
``input_size / crop_pct``) and then cuts the centre out: a third of a 500x375 photo's resized
pixels are computed and thrown away. :class:`ResizeCenterCrop` asks Pillow to resample only
the crop's source region (``Image.resize(box=...)``), one pass at a time in Pillow's own
order, with the same filter, scale and pixel centres, so its output equals timm's up to
rounding (bicubic: one value in ~5,000 off by one; bilinear: one in ~1,000; never more than
two; tested over many shapes) for about a third less time (each pass also skips the
lines the other does not read). Enlarging, padding and other resize modes keep timm's own
steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import PIL
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode

#: Filters whose box resampling Pillow computes like a full resize, up to rounding. The
#: nearest-neighbour modes take another code path in Pillow, and the box filter's edges move
#: whole source pixels in or out with the box's float rounding: they keep torchvision's steps.
_FILTERS = {InterpolationMode.BILINEAR: Image.Resampling.BILINEAR,
            InterpolationMode.BICUBIC: Image.Resampling.BICUBIC,
            InterpolationMode.LANCZOS: Image.Resampling.LANCZOS,
            InterpolationMode.HAMMING: Image.Resampling.HAMMING}


#: Pillow 13 (python-pillow/Pillow#9549) resizes vertically first when the height shrinks by
#: more than twice as many pixels as the width; earlier versions always go horizontally first.
_PILLOW_13 = int(PIL.__version__.split(".")[0]) >= 13


def vertical_first(width: int, height: int, new_w: int, new_h: int) -> bool:
    """Whether Pillow's resize of a whole ``width`` x ``height`` image to ``new_w`` x
    ``new_h`` takes the vertical pass first."""
    return _PILLOW_13 and height - new_h > 0 and height - new_h > 2 * (width - new_w)


def _lines_read(start: int, length: int, scale: float, size: int) -> tuple[int, int]:
    """The source lines (rows or columns) a resampling pass reads for output lines
    [start, start + length) at ``scale`` source lines per output line: Pillow's filter
    window (at most 3 lines for Lanczos, times the scale when shrinking) and a margin, so
    no window is cut where the whole image's is not."""
    reach = 3 * max(scale, 1.0) + 2
    return (max(0, math.floor(start * scale - reach)),
            min(size, math.ceil((start + length) * scale + reach)))


class ResizeCenterCrop:
    """torchvision's ``Resize(size)`` (shorter side) then ``CenterCrop(crop)`` of a PIL image,
    resampling only the region the crop keeps."""

    def __init__(self, size: int, crop: tuple[int, int], interpolation: InterpolationMode
                 ) -> None:
        self.size, self.crop, self.interpolation = size, crop, interpolation
        self.resample = _FILTERS[interpolation]
        self.fallback = transforms.Compose([transforms.Resize(size, interpolation),
                                            transforms.CenterCrop(crop)])

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after ``Resize(size)``: torchvision's rounding."""
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.size, int(self.size * long / short)
        return (new_short, new_long) if width <= height else (new_long, new_short)

    def __call__(self, img: Image.Image) -> Image.Image:
        width, height = img.size
        new_w, new_h = self.resized_size(width, height)
        crop_h, crop_w = self.crop
        if (crop_h > new_h or crop_w > new_w or new_w > width or new_h > height
                or height > 100 * width):  # (Pillow 12 sends those through Python)
            return self.fallback(img)  # padding, enlarging, very tall: torchvision's
        top = round((new_h - crop_h) / 2.0)
        left = round((new_w - crop_w) / 2.0)
        sx, sy = width / new_w, height / new_h
        # Each pass is asked for alone, in the order Pillow takes for the whole resize (the
        # order decides the rounding between the passes, and a box can change Pillow's
        # choice); the first pass runs only over the lines the second one reads.
        if not vertical_first(width, height, new_w, new_h):
            r0, r1 = _lines_read(top, crop_h, sy, height)
            rows = img if (r0, r1) == (0, height) else img.crop((0, r0, width, r1))
            across = rows.resize((crop_w, r1 - r0), self.resample,
                                 box=(left * sx, 0, (left + crop_w) * sx, r1 - r0))
            return across.resize((crop_w, crop_h), self.resample,
                                 box=(0, top * sy - r0, crop_w, (top + crop_h) * sy - r0))
        c0, c1 = _lines_read(left, crop_w, sx, width)
        cols = img if (c0, c1) == (0, width) else img.crop((c0, 0, c1, height))
        down = cols.resize((c1 - c0, crop_h), self.resample,
                           box=(0, top * sy, c1 - c0, (top + crop_h) * sy))
        return down.resize((crop_w, crop_h), self.resample,
                           box=(left * sx - c0, 0, (left + crop_w) * sx - c0, crop_h))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.size}, crop={self.crop}, "
                f"interpolation={self.interpolation.value})")


def crop_first(transform: Callable) -> Callable:
    """``transform`` with a leading ``Resize(int)`` + ``CenterCrop`` (timm's centre-crop
    evaluation) replaced by :class:`ResizeCenterCrop`; any other transform is returned as
    it is (it is then timm's own, only not sped up)."""
    steps = getattr(transform, "transforms", None)
    if not steps or len(steps) < 2:
        return transform
    resize, crop = steps[0], steps[1]
    if not (type(resize) is transforms.Resize and type(crop) is transforms.CenterCrop):
        return transform
    size = resize.size[0] if isinstance(resize.size, (list, tuple)) else resize.size
    if (isinstance(resize.size, (list, tuple)) and len(resize.size) != 1) or \
            resize.max_size is not None or resize.interpolation not in _FILTERS:
        return transform
    fast = ResizeCenterCrop(int(size), tuple(crop.size), resize.interpolation)
    return transforms.Compose([fast, *steps[2:]])


def timm_eval_transform(cfg: dict[str, Any], **kwargs: Any) -> Callable:
    """timm's evaluation transform for a data config (``create_transform``), crop first."""
    from timm.data import create_transform

    args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()}
    return crop_first(create_transform(**args, **kwargs, is_training=False))


class PassByPassResize:
    """torchvision's ``Resize(size)`` (shorter side) of a uint8 CHW tensor, on any device, made
    as Pillow makes it: one axis at a time in Pillow's order, rounded to uint8 between the
    passes (Pillow's intermediate image), each pass torchvision's antialiased resize (the
    same filters as Pillow's). A single 2-D resize keeps the intermediate in float, which
    moves pixels near sharp edges by up to ~17 levels where Pillow clips the first pass's
    overshoot; pass by pass, the pixels equal Pillow's up to one level (tested)."""

    def __init__(self, size: int, interpolation: InterpolationMode) -> None:
        self.size, self.interpolation = size, interpolation
        self._size = ResizeCenterCrop(size, (1, 1), interpolation) if \
            interpolation in _FILTERS else None

    def __call__(self, x: Any) -> Any:
        import torch
        from torchvision.transforms import functional as F

        height, width = x.shape[-2:]
        if self._size is None:
            return F.resize(x, self.size, self.interpolation, antialias=True)
        new_w, new_h = self._size.resized_size(width, height)
        passes = [(height, new_w), (new_h, new_w)]
        if vertical_first(width, height, new_w, new_h):
            passes = [(new_h, width), (new_h, new_w)]
        for h, w in passes:
            if (h, w) != tuple(x.shape[-2:]):  # in float, rounded as Pillow rounds
                x = F.resize(x.float(), [h, w], self.interpolation, antialias=True)
                x = x.add_(0.5).floor_().clamp_(0, 255).to(torch.uint8)  # half up
        return x

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.size}, "
                f"interpolation={self.interpolation.value})")


def device_transform(cfg: dict[str, Any]) -> Callable | None:
    """timm's evaluation transform for a data config, as it applies to a decoded uint8 CHW
    tensor on the device: its ``Resize`` (shorter side, the config's interpolation,
    antialiased) made pass by pass (:class:`PassByPassResize`), then its ``CenterCrop``. None
    when timm's transform has other steps (then only the CPU path can decode for this
    model)."""
    from timm.data import create_transform

    args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()}
    steps = list(create_transform(**args, use_prefetcher=True, is_training=False).transforms)
    if steps and type(steps[-1]).__name__ in ("MaybePILToTensor", "ToNumpy", "PILToTensor"):
        steps.pop()  # the images stay uint8 CHW tensors
    if len(steps) != 2 or type(steps[0]) is not transforms.Resize or \
            type(steps[1]) is not transforms.CenterCrop:
        return None
    resize, crop = steps
    size = resize.size[0] if isinstance(resize.size, (list, tuple)) else resize.size
    if (isinstance(resize.size, (list, tuple)) and len(resize.size) != 1) or \
            resize.max_size is not None or not resize.antialias:
        return None
    return transforms.Compose([PassByPassResize(int(size), resize.interpolation), crop])
