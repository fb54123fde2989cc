"""Before fine-tuning: the settings that decide the result, and what to do with a run
directory that already holds a complete run or an interrupted one's checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from emofeat.datasets import Manifest
from emofeat.device import resolve_device, resolve_precision
from emofeat.errors import EmofeatError
from emofeat.finetune.config import CHECKPOINT, FinetuneConfig
from emofeat.runs.directory import is_complete, prepare_run_dir
from emofeat.runs.settings import changes, refuse_changed
from emofeat.splits import Split

log = logging.getLogger(__name__)


def finetune_settings(config: FinetuneConfig, manifest: Manifest,
                      split: Split) -> dict[str, Any]:
    """What decides a fine-tuning run: recorded as its hyperparameters, and compared before
    a run or a checkpoint is reused."""
    precision = resolve_precision(config.precision, resolve_device(config.device))
    return {**config.settings(), "splits_sha256": split.sha256,
            "manifest_sha256": manifest.sha256, "precision": precision}


def checkpoint_settings(out: Path) -> dict[str, Any]:
    """The settings an interrupted run's checkpoint was written with."""
    state = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)
    return dict(state["settings"])


def checkpoint_changes(out: Path, settings: dict[str, Any]) -> str:
    return changes(checkpoint_settings(out), settings, holder="checkpoint")


def checkpoint_to_resume(out: Path, resume: bool, overwrite: bool,
                         settings: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint to continue from (``resume``), or a run directory made ready."""
    checkpoint = out / CHECKPOINT
    if resume:
        if is_complete(out):
            raise EmofeatError(f"{out} is already complete; nothing to resume")
        if not checkpoint.is_file():
            raise EmofeatError(f"{out} has no checkpoint to resume from")
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if diff := changes(state["settings"], settings, holder="checkpoint"):
            raise EmofeatError(f"cannot resume {out} with different settings ({diff})")
        return state
    if checkpoint.is_file() and not overwrite and not is_complete(out):
        raise EmofeatError(f"{out} holds an interrupted fine-tuning run; pass --resume to "
                           "continue it or --overwrite to start again")
    if is_complete(out) and not overwrite:
        refuse_changed(out, settings)
    prepare_run_dir(out, overwrite)
    checkpoint.unlink(missing_ok=True)
    return None
