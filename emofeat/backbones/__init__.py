"""Backbones: a timm model by name (or an open_clip image tower, ``open_clip:ARCH/TAG``),
its weights (bundled, hub, file or random), its pretrained preprocessing, and taps on named
layers.

Modules: ``names`` (constants, no torch), ``weights``, ``layers``, ``openclip``. Names from
``weights`` and ``layers`` are imported lazily, so that
``from emofeat.backbones import DEFAULT_BACKBONE`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emofeat.backbones.names import DEFAULT_BACKBONE, DEFAULT_LAYERS, WEIGHT_CHOICES
from emofeat.lazy import lazy_attributes

if TYPE_CHECKING:
    from emofeat.backbones.layers import (
        LayerInfo,
        check_pooling,
        default_layers,
        prefix_tokens,
        probe_layers,
        resolve_layers,
        tap,
    )
    from emofeat.backbones.weights import (
        BUNDLED,
        Bundled,
        WeightsInfo,
        backbone_from_record,
        check_backbone_name,
        create_backbone,
        data_config,
        eval_transform,
        lukemelas_to_timm,
    )

_LAZY = {
    **dict.fromkeys(("LayerInfo", "check_pooling", "default_layers", "prefix_tokens",
                     "probe_layers", "resolve_layers", "tap"),
                    "emofeat.backbones.layers"),
    **dict.fromkeys(("BUNDLED", "Bundled", "WeightsInfo", "backbone_from_record",
                     "check_backbone_name", "create_backbone", "data_config", "eval_transform",
                     "lukemelas_to_timm"), "emofeat.backbones.weights"),
}

__all__ = [
    "BUNDLED",
    "DEFAULT_BACKBONE",
    "DEFAULT_LAYERS",
    "WEIGHT_CHOICES",
    "Bundled",
    "LayerInfo",
    "WeightsInfo",
    "backbone_from_record",
    "check_backbone_name",
    "check_pooling",
    "create_backbone",
    "data_config",
    "default_layers",
    "eval_transform",
    "lukemelas_to_timm",
    "prefix_tokens",
    "probe_layers",
    "resolve_layers",
    "tap",
]

__getattr__ = lazy_attributes(__name__, _LAZY)
