"""``emofeat finetune``: the fine-tuned yardstick on the same split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from emofeat.datasets import FORMATS, load_manifest
from emofeat.device import DEVICES, PRECISIONS
from emofeat.finetune.config import BALANCE, FinetuneConfig
from emofeat.resampling import requested_seeds, seed_folders
from emofeat.splits import choose_split
from emofeat.taxonomy import TASK_NAMES

from .common import (
    allow_outside_root_option,
    drop_invalid_option,
    label_from_option,
    out,
    progress_bar,
)
from .features import WEIGHTS_HELP

DEFAULTS = FinetuneConfig()


def finetune_cmd(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder or CSV list."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="The run directory."),
    task: str = typer.Option(DEFAULTS.task, help=f"{', '.join(TASK_NAMES)}, or distribution "
                             "(the share of annotators per emotion; KL-divergence loss)."),
    fmt: str = typer.Option("auto", "--format", help=f"Dataset format: {', '.join(FORMATS)}."),
    min_agree: int | None = typer.Option(None, "--min-agree", metavar="K",
                                         help="Keep images at least K of 5 annotators agreed on."),
    allow_outside_root: bool = allow_outside_root_option(),
    label_from: str | None = label_from_option(),
    drop_invalid: bool = drop_invalid_option(),
    splits: Path | None = typer.Option(None, help="A splits.csv to use."),
    splits_from: Path | None = typer.Option(None, metavar="STORE",
                                            help="Use this feature store's split."),
    backbone: str = typer.Option(DEFAULTS.backbone, help="Any timm model name."),
    weights: str = typer.Option(DEFAULTS.weights, help=WEIGHTS_HELP),
    epochs: int = typer.Option(DEFAULTS.epochs, help="Most epochs to train."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, help="Images per batch."),
    lr: float = typer.Option(DEFAULTS.lr, help="Peak AdamW learning rate."),
    weight_decay: float = typer.Option(DEFAULTS.weight_decay, help="AdamW weight decay."),
    img_size: int | None = typer.Option(DEFAULTS.img_size, help="Train and test at this size "
                                        "(default: the model's pretrained size)."),
    balance: str = typer.Option(DEFAULTS.balance,
                                help=f"Class balancing: {', '.join(BALANCE)} (the "
                                "distribution task's loss is unweighted; sampler draws by "
                                "dominant emotion)."),
    label_smoothing: float = typer.Option(DEFAULTS.label_smoothing,
                                          help="Label smoothing of the loss."),
    color_jitter: bool = typer.Option(DEFAULTS.color_jitter, "--color-jitter",
                                      help="Add colour jitter (off: colour carries emotion)."),
    freeze_until: str | None = typer.Option(DEFAULTS.freeze_until, metavar="LAYER",
                                            help="Train only LAYER and what follows it."),
    patience: int = typer.Option(DEFAULTS.patience,
                                 help="Stop after this many epochs without val gain."),
    seed: int = typer.Option(DEFAULTS.seed, help="Random seed."),
    seeds: str | None = typer.Option(None, metavar="S1,S2,...", help="One run per seed "
                                     "instead of --seed, each in OUT/seed-<S>/."),
    device: str = typer.Option(DEFAULTS.device, help=f"{', '.join(DEVICES)}."),
    precision: str = typer.Option(DEFAULTS.precision, help=f"{', '.join(PRECISIONS)}."),
    workers: int | None = typer.Option(DEFAULTS.workers,
                                       help="DataLoader workers; default min(4, CPUs - 1)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run."),
) -> None:
    """Fine-tune a timm model (default: Lite0 from bundled ImageNet weights) on the split.

    The epoch is chosen on val (balanced accuracy; the distribution task: mean KL
    divergence); test is scored once, at the end.

    Example: emofeat finetune ./FI --task emotion8 --splits-from stores/irv2 --out runs/ft

    Example: emofeat finetune ./ArtPhoto --splits folds/fold-1.csv --seeds 0,1 --out runs/ft

    Example: emofeat finetune ./Emotion6 --task distribution --out runs/ft-dist
    """
    from emofeat.finetune import finetune

    seed_list = requested_seeds(seeds, seed, DEFAULTS.seed)
    config = FinetuneConfig(
        backbone=backbone, weights=weights, task=task, epochs=epochs, batch_size=batch_size,
        lr=lr, weight_decay=weight_decay, img_size=img_size, balance=balance,
        label_smoothing=label_smoothing, color_jitter=color_jitter, freeze_until=freeze_until,
        patience=patience, seed=seed, device=device, precision=precision, workers=workers,
        drop_invalid=drop_invalid)
    config.check()
    manifest = load_manifest(data, fmt, min_agree, allow_outside_root, label_from)
    split = choose_split(manifest, splits, splits_from)

    def epoch_line(record: dict[str, Any]) -> None:
        val = (f"val KL {record['val_kl_divergence']:.3f}, val top-1 "
               f"{record['val_top1_accuracy']:.3f}" if "val_kl_divergence" in record else
               f"val acc {record['val_accuracy']:.3f}, val balanced acc "
               f"{record['val_balanced_accuracy']:.3f}")
        out.print(f"epoch {record['epoch']}/{epochs}: loss {record['train_loss']:.3f}, {val}, "
                  f"{record['train_images_per_s']:.1f} img/s")

    for run_dir, s in seed_folders(out_dir, seed_list):
        with progress_bar(f"finetune {backbone}" + ("" if s is None else f" seed {s}")
                          ) as progress:
            record = finetune(manifest, split, run_dir,
                              config if s is None else replace(config, seed=s), resume=resume,
                              overwrite=overwrite, on_epoch=epoch_line, progress=progress)
        test = record["n"]["test"]
        out.print(f"best epoch {record['best_epoch']}; {test} test images scored -> {run_dir}")


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune_cmd)
