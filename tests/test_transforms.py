"""The crop-first resize gives timm's evaluation pixels, up to rounding, for any image shape."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from timm.data import create_transform

from emofeat.backbones import eval_transform
from emofeat.loading import uint8_transform
from emofeat.transforms import ResizeCenterCrop, crop_first

LITE0 = {"input_size": (3, 224, 224), "interpolation": "bicubic", "mean": (0.5, 0.5, 0.5),
         "std": (0.5, 0.5, 0.5), "crop_pct": 0.875, "crop_mode": "center"}
IRV2 = LITE0 | {"input_size": (3, 299, 299), "crop_pct": 0.8975}
BILINEAR = LITE0 | {"interpolation": "bilinear", "crop_pct": 0.9}
FULL = LITE0 | {"crop_pct": 1.0}
SIZES = [(500, 375), (375, 500), (333, 333), (299, 400), (1024, 683), (257, 300), (40, 30),
         (3000, 120), (224, 224), (225, 224),
         (354, 1064), (289, 1598), (120, 13000)]  # tall: Pillow 13 resizes down first


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Noise over a smooth gradient: the hardest case for resampling differences."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, width)[None, :, None] + np.linspace(0, 55, height)[:, None, None]
    noise = rng.normal(0, 40, (height, width, 3))
    return Image.fromarray(np.clip(ramp + noise, 0, 255).astype(np.uint8))


def timm_uint8(cfg: dict) -> object:
    return create_transform(**cfg, is_training=False, use_prefetcher=True)


@pytest.mark.parametrize("cfg", [LITE0, IRV2, BILINEAR, FULL], ids=["lite0", "irv2",
                                                                 "bilinear", "crop1"])
def test_crop_first_equals_timm_up_to_rounding(cfg: dict) -> None:
    ours, theirs = uint8_transform(cfg), timm_uint8(cfg)
    assert isinstance(ours.transforms[0], ResizeCenterCrop)
    differing, total = 0, 0
    for i, size in enumerate(SIZES):
        img = photo(*size, seed=i)
        a, b = np.asarray(ours(img)).astype(int), np.asarray(theirs(img)).astype(int)
        assert a.shape == b.shape == (3, *cfg["input_size"][1:]), size
        assert np.abs(a - b).max() <= 1, size
        differing += int((a != b).sum())
        total += a.size
    assert differing / total < 3e-3


def test_the_float_transform_is_crop_first_too() -> None:
    ours, theirs = eval_transform(IRV2), create_transform(**IRV2, is_training=False)
    img = photo(500, 375)
    assert isinstance(ours.transforms[0], ResizeCenterCrop)
    assert np.abs(ours(img).numpy() - theirs(img).numpy()).max() <= 2 / 255 / 0.5 + 1e-6


@pytest.mark.parametrize("cfg", [
    LITE0 | {"interpolation": "nearest"},  # another Pillow code path
    LITE0 | {"interpolation": "box"},  # its edges move with the box's rounding
    LITE0 | {"input_size": (3, 224, 288)},  # non-square: timm's ResizeKeepRatio
    LITE0 | {"crop_mode": "squash"},
    LITE0 | {"crop_mode": "border"},
], ids=["nearest", "box", "non-square", "squash", "border"])
def test_other_transforms_are_timm_s_own(cfg: dict) -> None:
    ours = uint8_transform(cfg)
    assert not any(isinstance(t, ResizeCenterCrop) for t in ours.transforms)
    assert repr(ours) == repr(timm_uint8(cfg))
    img = photo(500, 375)
    assert np.array_equal(np.asarray(ours(img)), np.asarray(timm_uint8(cfg)(img)))


def test_crop_first_leaves_a_non_compose_alone() -> None:
    def fn(x: object) -> object:
        return x
    assert crop_first(fn) is fn


def test_random_shapes_equal_timm_up_to_rounding() -> None:
    rng = np.random.default_rng(5)
    for cfg in (LITE0, IRV2, BILINEAR, LITE0 | {"interpolation": "lanczos"}):
        ours, theirs = uint8_transform(cfg), timm_uint8(cfg)
        differing, total = 0, 0
        for i in range(30):
            size = int(rng.integers(60, 1400)), int(rng.integers(60, 1400))
            a = np.asarray(ours(photo(*size, seed=i))).astype(int)
            b = np.asarray(theirs(photo(*size, seed=i))).astype(int)
            assert np.abs(a - b).max() <= 2, (cfg["interpolation"], size)
            differing += int((a != b).sum())
            total += a.size
        assert differing / total < 3e-3


def test_downscaled_photos_take_the_crop_first_path() -> None:
    """Only enlarging, padding and very tall images go through torchvision's own steps."""
    fast = uint8_transform(IRV2).transforms[0]

    def refuse(img: Image.Image) -> Image.Image:
        raise AssertionError(f"{img.size} took the full resize")

    fast.fallback = refuse
    for size in [(500, 375), (375, 500), (1024, 683), (354, 1064), (400, 1598), (333, 333)]:
        assert fast(photo(*size)).size == (299, 299)
    with pytest.raises(AssertionError, match="full resize"):
        fast(photo(300, 200))  # enlarged to 333 px: torchvision's
