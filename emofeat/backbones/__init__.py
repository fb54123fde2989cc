"""Backbones: a timm model by name, its weights (bundled, hub, file or random), its
pretrained preprocessing, and taps on named layers."""

from emofeat.backbones.layers import (
    DEFAULT_LAYERS,
    LayerInfo,
    default_layers,
    probe_layers,
    resolve_layers,
    tap,
)
from emofeat.backbones.weights import (
    BUNDLED,
    DEFAULT_BACKBONE,
    WEIGHT_CHOICES,
    Bundled,
    WeightsInfo,
    backbone_from_record,
    check_backbone_name,
    create_backbone,
    data_config,
    eval_transform,
    lukemelas_to_timm,
)

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
    "create_backbone",
    "data_config",
    "default_layers",
    "eval_transform",
    "lukemelas_to_timm",
    "probe_layers",
    "resolve_layers",
    "tap",
]
