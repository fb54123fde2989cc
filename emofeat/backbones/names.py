"""Backbone constants that need no torch (the CLI and config parsing read them)."""

from __future__ import annotations

DEFAULT_BACKBONE = "inception_resnet_v2"
WEIGHT_CHOICES = ("pretrained", "hub", "bundled", "random")

#: Default taps: the ends of the deep stages (IRv2) / two late blocks and the final
#: activation whose pooled output is the pre-logits embedding (EfficientNet-Lite).
DEFAULT_LAYERS: dict[str, tuple[str, ...]] = {
    "inception_resnet_v2": ("repeat_1", "repeat_2", "conv2d_7b"),
    "tf_efficientnet_lite0": ("blocks.5", "blocks.6", "bn2"),
    "tf_efficientnet_lite2": ("blocks.5", "blocks.6", "bn2"),
}

#: open_clip models are named ``open_clip:ARCH/PRETRAINED`` (or ``open_clip:ARCH``, for
#: random or file weights); the package is the optional extra ``emofeat[clip]``.
OPEN_CLIP_PREFIX = "open_clip:"
OPEN_CLIP_INSTALL = "pip install 'emofeat[clip]'"


def is_open_clip(name: str) -> bool:
    return name.startswith(OPEN_CLIP_PREFIX)


def split_open_clip(name: str) -> tuple[str, str | None]:
    """``open_clip:ARCH/PRETRAINED`` -> (ARCH, PRETRAINED); no tag: (ARCH, None)."""
    arch, _, tag = name[len(OPEN_CLIP_PREFIX):].partition("/")
    return arch, tag or None
