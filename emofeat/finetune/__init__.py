"""Fine-tuning a small timm model on the same split: the yardstick for frozen features.

Modules: ``config`` (FinetuneConfig, no torch), ``model`` (building, freezing, loading),
``loop`` (one epoch, prediction, atomic checkpoints), ``trainer`` (the whole run).
Names are imported lazily so that ``from emofeat.finetune import FinetuneConfig`` does not
import torch.
"""

from __future__ import annotations

from typing import Any

from emofeat.finetune.config import BALANCE, CHECKPOINT, WEIGHTS, FinetuneConfig

__all__ = ["BALANCE", "CHECKPOINT", "WEIGHTS", "FinetuneConfig", "finetune", "freeze_until",
           "load_finetuned"]

_LAZY = {"finetune": "emofeat.finetune.trainer", "freeze_until": "emofeat.finetune.model",
         "load_finetuned": "emofeat.finetune.model"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emofeat.finetune' has no attribute '{name}'")
