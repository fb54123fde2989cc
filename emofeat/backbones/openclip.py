"""open_clip models (``open_clip:ARCH/PRETRAINED``): the image tower as a backbone, and the
whole model (text tower too) for zero-shot runs.

The package ``open-clip-torch`` is optional (``pip install 'emofeat[clip]'``); without it
every use is one error saying so. Weights are resolved like timm's (:mod:`weights`): the
tag's file from the hub (the local cache first, a quick probe, one quiet download), a local
state dict, or a seeded random init, recorded as a :class:`WeightsInfo`. The tag's
preprocessing (size, mean, std, interpolation, resize mode) becomes a timm data config
(``crop_pct`` 1 and ``crop_mode`` center / squash / border), so extraction, prediction and
store.json treat it as any timm model's.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from emofeat.backbones.names import OPEN_CLIP_INSTALL, split_open_clip
from emofeat.backbones.weights_info import WeightsInfo, is_weights_file
from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_file

log = logging.getLogger(__name__)

#: open_clip's resize modes as timm crop modes (both then resize to the input size).
_CROP_MODES = {"shortest": "center", "squash": "squash", "longest": "border"}
#: The weight files of an open_clip hub repository, in open_clip's order of preference.
_HUB_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


class _FromOpenClip(logging.Filter):
    """Drops open_clip's own records below ERROR: it logs each step of building a model to
    the root logger ("Parsing model identifier", "Model initialized randomly")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or f"{os.sep}open_clip{os.sep}" not in \
            record.pathname


@contextmanager
def _quiet() -> Iterator[None]:
    """open_clip's chatter off the root logger while emofeat calls it (errors stay)."""
    root, only = logging.getLogger(), _FromOpenClip()
    root.addFilter(only)
    try:
        yield
    finally:
        root.removeFilter(only)


def require_open_clip() -> ModuleType:
    try:
        import open_clip
    except ImportError:
        raise EmofeatError(f"open_clip models need the package open-clip-torch: "
                           f"{OPEN_CLIP_INSTALL}") from None
    return open_clip


def check_open_clip_name(name: str) -> tuple[str, str | None]:
    """(ARCH, PRETRAINED) of a known open_clip model; an unknown one lists the valid ones."""
    open_clip = require_open_clip()
    arch, tag = split_open_clip(name)
    models = open_clip.list_models()
    if arch not in models:
        close = difflib.get_close_matches(arch, models, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise EmofeatError(f"open_clip has no model '{arch}'{hint}; valid: {', '.join(models)}")
    if tag is not None:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if tag not in tags:
            raise EmofeatError(f"open_clip's {arch} has no pretrained weights '{tag}'; valid: "
                               f"{', '.join(tags) or 'none (use --weights random or FILE)'}")
    return arch, tag


def _hub_checkpoint(arch: str, tag: str) -> tuple[Path, str]:
    """The local file of a tag's weights and its origin (hub id or URL)."""
    open_clip = require_open_clip()
    from emofeat.backbones.hub import HubUnavailable, hf_file, url_file

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    hub, url = cfg.get("hf_hub", ""), cfg.get("url", "")
    try:
        if hub:
            parts = hub.split("/")  # org/name/ or org/name/file
            repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
            found = hf_file(repo, (filename,) if filename else _HUB_FILES)
        elif url:
            found = url_file(url)
        else:
            raise HubUnavailable("open_clip knows no download for it")
    except HubUnavailable as exc:
        raise EmofeatError(f"could not get hub weights for open_clip:{arch}/{tag} ({exc}); "
                           "use --weights FILE (a local open_clip checkpoint) or --weights "
                           "random") from None
    return found.path, found.origin


def _preprocess_overrides(arch: str, tag: str | None) -> dict[str, Any]:
    """The tag's preprocessing (mean, std, interpolation, resize mode), as open_clip merges
    it when it downloads the tag itself."""
    if tag is None:
        return {}
    cfg = require_open_clip().get_pretrained_cfg(arch, tag)
    return {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg}


def create_open_clip(name: str, weights: str = "pretrained", seed: int = 0
                     ) -> tuple[nn.Module, WeightsInfo]:
    """The whole open_clip model (image and text towers) with the weights asked for, in eval
    mode on the CPU. ``weights``: ``pretrained``/``hub`` (the tag's file), ``random``
    (seeded init) or a path to an open_clip checkpoint."""
    open_clip = require_open_clip()
    arch, tag = check_open_clip_name(name)
    if weights not in ("pretrained", "hub", "random") and not is_weights_file(weights):
        raise EmofeatError(f"--weights for open_clip models: pretrained, hub, random or an "
                           f"open_clip checkpoint file; got '{weights}'")
    checkpoint: Path | None = None
    origin = None
    if weights in ("pretrained", "hub"):
        if tag is None:
            tags = open_clip.list_pretrained_tags_by_model(arch)
            raise EmofeatError(f"{name} names no pretrained weights: write open_clip:{arch}/TAG "
                               f"(tags: {', '.join(tags) or 'none'}), or use --weights random "
                               "or FILE")
        checkpoint, origin = _hub_checkpoint(arch, tag)
    elif weights != "random":
        checkpoint = Path(weights)
        if not checkpoint.is_file():
            raise EmofeatError(f"weights file {checkpoint} does not exist")
    with torch.random.fork_rng(devices=[]), _quiet():
        torch.manual_seed(seed)
        try:
            model = open_clip.create_model(
                arch, pretrained=None, pretrained_image=False, pretrained_text=False,
                force_preprocess_cfg=_preprocess_overrides(arch, tag) or None)
        except Exception as exc:  # e.g. a config that needs a download (a Hugging Face text tower)
            raise EmofeatError(f"open_clip cannot build {arch}: {str(exc)[:160]}") from None
    if checkpoint is not None:
        try:
            with _quiet():
                open_clip.load_checkpoint(model, str(checkpoint))
        except Exception as exc:
            raise EmofeatError(f"weights {checkpoint} do not fit open_clip {arch}: "
                               f"{str(exc).splitlines()[0][:160]}") from None
    sha = sha256_file(checkpoint) if checkpoint is not None else None
    if weights == "random":
        info = WeightsInfo("random", "random", seed=seed)
    elif weights in ("pretrained", "hub"):
        info = WeightsInfo(weights, "hub", origin=origin, sha256=sha)
    else:
        info = WeightsInfo("file", "file", str(Path(weights).resolve()), sha)
    return model.eval(), info


def _data_config(preprocess: dict[str, Any]) -> dict[str, Any]:
    """open_clip's preprocessing as a timm pretrained config (what resolve_data_config reads)."""
    size = preprocess["size"]
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    mode = preprocess.get("resize_mode", "shortest")
    if mode not in _CROP_MODES:
        raise EmofeatError(f"open_clip resize mode '{mode}' has no timm equivalent")
    return {"input_size": (3, int(h), int(w)), "mean": tuple(preprocess["mean"]),
            "std": tuple(preprocess["std"]), "interpolation": preprocess["interpolation"],
            "crop_pct": 1.0, "crop_mode": _CROP_MODES[mode]}


class OpenClipImage(nn.Module):
    """An open_clip image tower as a backbone: ``visual`` (its blocks can be tapped) and
    ``embedding``, the projected image embedding zero-shot runs compare with text."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual
        self.embedding = nn.Identity()
        trunk = getattr(visual, "trunk", None)  # a timm tower inside open_clip
        if trunk is not None:
            self.num_prefix_tokens = int(getattr(trunk, "num_prefix_tokens", 0) or 0)
        else:
            self.num_prefix_tokens = int(getattr(visual, "class_embedding", None) is not None)
        self.pretrained_cfg = _data_config(dict(visual.preprocess_cfg))
        blocks = [n for n in self.main_modules() if n.count(".") >= 2]
        self.feature_info = [{"module": n} for n in [*blocks[-2:], "embedding"]]

    def main_modules(self) -> list[str]:
        """The tower's children, the blocks inside their block lists, and ``embedding``."""
        names = []
        for name, child in self.visual.named_children():
            if isinstance(child, nn.Identity):  # (patch dropout at inference)
                continue
            names.append(f"visual.{name}")
            for sub, grand in child.named_children():
                if isinstance(grand, nn.Sequential | nn.ModuleList):
                    names.extend(f"visual.{name}.{sub}.{i}" for i, _ in grand.named_children())
            if isinstance(child, nn.Sequential | nn.ModuleList):
                names.extend(f"visual.{name}.{i}" for i, _ in child.named_children())
        return [*names, "embedding"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.visual(x))


def create_open_clip_backbone(name: str, weights: str = "pretrained", seed: int = 0
                              ) -> tuple[nn.Module, WeightsInfo]:
    """The image tower of an open_clip model, as :func:`create_backbone` gives timm models."""
    model, info = create_open_clip(name, weights, seed)
    return OpenClipImage(model.visual).eval(), info


def tokenizer_of(name: str) -> Callable[[list[str]], torch.Tensor]:
    open_clip = require_open_clip()
    arch, _ = split_open_clip(name)
    try:
        with _quiet():
            return open_clip.get_tokenizer(arch)
    except Exception as exc:  # a Hugging Face tokenizer not in the local cache
        raise EmofeatError(f"cannot load the tokenizer of open_clip {arch}: "
                           f"{str(exc).splitlines()[0][:160]}") from None
