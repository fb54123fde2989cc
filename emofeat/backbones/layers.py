"""Layer taps: which modules can be tapped, their channels and stride, and pooled hooks."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from emofeat.backbones.names import DEFAULT_LAYERS
from emofeat.errors import EmofeatError
from emofeat.pooling import POOLINGS, TOKEN_POOLINGS, pool, pooled_dim

_HEAD_NAMES = ("global_pool", "head_drop", "head", "fc", "classifier", "classif", "pre_logits",
               "fc_norm", "head_dist")


@dataclass(frozen=True)
class LayerInfo:
    """A tappable layer: its module name, channels and stride at the model's input size."""

    name: str
    channels: int
    stride: int
    shape: tuple[int, ...]  # output shape for one image, batch dimension dropped

    def dim(self, pooling: str) -> int:
        return self.channels if self.is_vector else pooled_dim(self.channels, pooling)

    @property
    def is_vector(self) -> bool:
        """One vector per image already (an image embedding): pooling leaves it as is."""
        return len(self.shape) == 1


def default_layers(model_name: str, model: nn.Module) -> tuple[str, ...]:
    if model_name in DEFAULT_LAYERS:
        return DEFAULT_LAYERS[model_name]
    info = getattr(model, "feature_info", None)
    modules = [f["module"] for f in info] if info else []
    return tuple(modules[-3:])


def _main_module_names(model: nn.Module) -> list[str]:
    """Children (but the classifier head), and the blocks inside stage containers; a model
    that names its own (``main_modules()``, e.g. an open_clip image tower) is asked."""
    if callable(own := getattr(model, "main_modules", None)):
        return list(own())
    names = []
    for name, child in model.named_children():
        if name in _HEAD_NAMES:
            continue
        names.append(name)
        if isinstance(child, (nn.Sequential, nn.ModuleList)):
            names.extend(f"{name}.{sub}" for sub, _ in child.named_children())
    return names


def _is_nhwc(model: nn.Module) -> bool:
    return str(getattr(model, "output_fmt", "NCHW")) == "NHWC"


def prefix_tokens(model: nn.Module) -> int:
    """Class and register tokens ahead of the patch tokens (timm's ``num_prefix_tokens``):
    token outputs are pooled over the patch tokens alone. 0 for CNNs."""
    return int(getattr(model, "num_prefix_tokens", 0) or 0)


@torch.inference_mode()
def probe_layers(model: nn.Module, input_size: Sequence[int],
                 names: Sequence[str] | None = None) -> list[LayerInfo]:
    """Run one blank image through the model and describe each layer's output.

    ``names=None`` probes the model's main modules (children and grandchildren); layers whose
    output is not a feature tensor (a 4-D map, 3-D tokens or a 2-D embedding) are left out.
    """
    modules = dict(model.named_modules())
    names = list(names) if names is not None else _main_module_names(model)
    shapes: dict[str, tuple[int, ...]] = {}

    def hook(name: str) -> Callable:
        def fn(_m: nn.Module, _i: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                shapes[name] = tuple(output.shape)
        return fn

    handles = [modules[n].register_forward_hook(hook(n)) for n in names if n in modules]
    try:
        was_training = model.training
        model.eval()
        model(torch.zeros(1, *input_size))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    nhwc = _is_nhwc(model)
    side = int(input_size[-1])
    infos = []
    for n in names:
        shape = shapes.get(n)
        if shape is None or len(shape) not in (2, 3, 4):
            continue
        spatial = shape[2] if (len(shape) == 4 and not nhwc) else shape[1]
        # valid-padding nets (IRv2: 299 -> 35) are off a power of two; strides are powers of 2
        stride = 2 ** max(0, round(math.log2(side / spatial))) if len(shape) == 4 else 0
        channels = shape[-1] if (len(shape) == 3 or nhwc) else shape[1]
        infos.append(LayerInfo(n, int(channels), stride, tuple(shape[1:])))
    return infos


def resolve_layers(model: nn.Module, names: Sequence[str],
                   input_size: Sequence[int]) -> list[LayerInfo]:
    """Check layer names exist and give feature maps; the error lists the valid names."""
    modules = dict(model.named_modules())
    unknown = [n for n in names if n not in modules or n == ""]
    if not unknown:
        infos = {i.name: i for i in probe_layers(model, input_size, names)}
        unknown = [n for n in names if n not in infos]
    if unknown:
        valid = [i.name for i in probe_layers(model, input_size)]
        raise EmofeatError(
            f"unknown layer(s) {', '.join(unknown)} for {type(model).__name__}; valid layers: "
            f"{', '.join(valid)} (any module name with a feature-map output also works; "
            "see `emofeat layers MODEL --all`)"
        )
    if len(set(names)) != len(names):
        raise EmofeatError(f"layers repeat: {', '.join(names)}")
    return [infos[n] for n in names]


def check_pooling(model: nn.Module, layers: Sequence[LayerInfo], pooling: str) -> None:
    """``cls`` and ``cls+avg`` need token layers of a model with a class token."""
    if pooling not in TOKEN_POOLINGS:
        return
    maps = [i.name for i in layers if len(i.shape) == 3]
    if maps:
        raise EmofeatError(f"pooling '{pooling}' needs token layers; {', '.join(maps)} "
                           "give feature maps (use avg, max or avgmax)")
    if prefix_tokens(model) < 1 and any(len(i.shape) == 2 for i in layers):
        raise EmofeatError(f"pooling '{pooling}': {type(model).__name__} has no class token "
                           "(e.g. SigLIP); use avg")


@contextmanager
def tap(model: nn.Module, layers: Sequence[str], pooling: str = "avg"
        ) -> Iterator[dict[str, torch.Tensor]]:
    """Forward hooks that pool each named layer's output into the yielded dict.

    Token outputs (N, L, C) are pooled over the patch tokens only: the class and register
    tokens (:func:`prefix_tokens`) are left out (``cls``: the class token itself). Hooks are
    registered on entry and removed on exit, whatever happens in between.
    """
    if pooling not in POOLINGS:
        raise EmofeatError(f"unknown pooling '{pooling}'; valid: {', '.join(POOLINGS)}")
    modules = dict(model.named_modules())
    nhwc = _is_nhwc(model)
    skip = prefix_tokens(model)
    outputs: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Callable:
        def fn(_m: nn.Module, _i: Any, output: torch.Tensor) -> None:
            outputs[name] = pool(output, pooling, nhwc=nhwc, prefix=skip)
        return fn

    handles = [modules[n].register_forward_hook(hook(n)) for n in layers]
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()
