"""``emofeat finetune``: the fine-tuned yardstick on the same split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from emofeat.datasets import FORMATS, load_manifest
from emofeat.device import DEVICES, PRECISIONS
from emofeat.errors import EmofeatError
from emofeat.splits import make_split, read_split
from emofeat.store import SPLITS_FILE, Store

from .common import out, progress_bar
from .features import WEIGHTS_HELP


def finetune_cmd(
    data: Path = typer.Argument(..., help="Dataset folder or CSV list."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="The run directory."),
    task: str = typer.Option("emotion8", help="valence, emotion8 or label."),
    fmt: str = typer.Option("auto", "--format", help=f"Dataset format: {', '.join(FORMATS)}."),
    min_agree: int | None = typer.Option(None, "--min-agree", metavar="K",
                                         help="Keep images at least K of 5 annotators agreed on."),
    splits: Path | None = typer.Option(None, help="A splits.csv to use."),
    splits_from: Path | None = typer.Option(None, metavar="STORE",
                                            help="Use this feature store's split."),
    backbone: str = typer.Option("tf_efficientnet_lite0", help="Any timm model name."),
    weights: str = typer.Option("pretrained", help=WEIGHTS_HELP),
    epochs: int = typer.Option(10, help="Most epochs to train."),
    batch_size: int = typer.Option(32, help="Images per batch."),
    lr: float = typer.Option(5e-4, help="Peak AdamW learning rate."),
    weight_decay: float = typer.Option(0.05, help="AdamW weight decay."),
    img_size: int | None = typer.Option(None, help="Train and test at this size (default: "
                                        "the model's pretrained size)."),
    balance: str = typer.Option("loss", help="Class balancing: loss, sampler or none."),
    label_smoothing: float = typer.Option(0.0, help="Label smoothing of the loss."),
    color_jitter: bool = typer.Option(False, "--color-jitter",
                                      help="Add colour jitter (off: colour carries emotion)."),
    freeze_until: str | None = typer.Option(None, metavar="LAYER",
                                            help="Train only LAYER and what follows it."),
    patience: int = typer.Option(3, help="Stop after this many epochs without val gain."),
    seed: int = typer.Option(0, help="Random seed."),
    device: str = typer.Option("auto", help=f"{', '.join(DEVICES)}."),
    precision: str = typer.Option("auto", help=f"{', '.join(PRECISIONS)}."),
    workers: int | None = typer.Option(None, help="DataLoader workers; default min(4, CPUs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run."),
) -> None:
    """Fine-tune a timm model (default: Lite0 from bundled ImageNet weights) on the split.

    The epoch is chosen on val (balanced accuracy); test is scored once, at the end.

    Example: emofeat finetune ./FI --task emotion8 --splits-from stores/irv2 --out runs/ft
    """
    from emofeat.finetune import FinetuneConfig, finetune

    if splits and splits_from:
        raise EmofeatError("give --splits or --splits-from, not both")
    config = FinetuneConfig(
        backbone=backbone, weights=weights, task=task, epochs=epochs, batch_size=batch_size,
        lr=lr, weight_decay=weight_decay, img_size=img_size, balance=balance,
        label_smoothing=label_smoothing, color_jitter=color_jitter, freeze_until=freeze_until,
        patience=patience, seed=seed, device=device, precision=precision, workers=workers)
    config.check()
    manifest = load_manifest(data, fmt, min_agree)
    if splits_from is not None:
        Store.open(splits_from)  # a complete store, or a clear error
        split = read_split(splits_from / SPLITS_FILE, manifest)
    elif splits is not None:
        split = read_split(splits, manifest)
    else:
        split = make_split(manifest)

    def epoch_line(record: dict[str, Any]) -> None:
        out.print(f"epoch {record['epoch']}/{epochs}: loss {record['train_loss']:.3f}, "
                  f"val acc {record['val_accuracy']:.3f}, val balanced acc "
                  f"{record['val_balanced_accuracy']:.3f}, "
                  f"{record['train_images_per_s']:.1f} img/s")

    with progress_bar(f"finetune {backbone}") as progress:
        record = finetune(manifest, split, out_dir, config, resume=resume, overwrite=overwrite,
                          on_epoch=epoch_line, progress=progress)
    test = record["n"]["test"]
    out.print(f"best epoch {record['best_epoch']}; {test} test images scored -> {out_dir}")


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune_cmd)
