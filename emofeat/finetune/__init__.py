"""Fine-tuning a small timm model on the same split: the yardstick for frozen features.

Modules: ``config`` (FinetuneConfig, no torch), ``model`` (building, freezing, loading),
``loop`` (one epoch, prediction, atomic checkpoints), ``trainer`` (the whole run).
Names are imported lazily so that ``from emofeat.finetune import FinetuneConfig`` does not
import torch.
"""

from __future__ import annotations

from emofeat.finetune.config import BALANCE, CHECKPOINT, WEIGHTS, FinetuneConfig
from emofeat.lazy import lazy_attributes

__all__ = ["BALANCE", "CHECKPOINT", "WEIGHTS", "FinetuneConfig", "finetune", "freeze_until",
           "load_finetuned"]

_LAZY = {"finetune": "emofeat.finetune.trainer", "freeze_until": "emofeat.finetune.model",
         "load_finetuned": "emofeat.finetune.model"}

__getattr__ = lazy_attributes(__name__, _LAZY)
