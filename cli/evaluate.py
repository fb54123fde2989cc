"""``emofeat evaluate``: a run applied to another data set (cross-dataset transfer)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from emofeat.datasets import FORMATS
from emofeat.device import DEVICES

from .common import allow_outside_root_option, label_from_option, out


def evaluate_cmd(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A fitted or fine-tuned run."),
    data: Path = typer.Argument(..., metavar="DATA_OR_STORE", help="The target: a data set "
                                "(features extracted on the fly, as predict does) or a "
                                "feature store made like the run's."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Evaluation folder: predictions.csv, "
                                 "metrics.json, eval.json."),
    split: str = typer.Option("all", help="all: every image of the target; test: its test "
                              "split (--splits, else a store's own, a release's own, or the "
                              "default seeded split)."),
    splits: Path | None = typer.Option(None, help="A splits.csv of the target."),
    fmt: str = typer.Option("auto", "--format", help=f"Data set format: {', '.join(FORMATS)}."),
    min_agree: int | None = typer.Option(None, "--min-agree", metavar="K",
                                         help="Keep images at least K of 5 annotators agreed on."),
    allow_outside_root: bool = allow_outside_root_option(),
    label_from: str | None = label_from_option(),
    batch_size: int = typer.Option(32, min=1, help="Images per batch (a data set target)."),
    device: str = typer.Option("auto", help=f"{', '.join(DEVICES)}."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a complete evaluation."),
) -> None:
    """Apply a run to another data set: its labels mapped onto the run's classes (see the
    label mapping table, docs/cross-dataset.md), unmapped images counted by reason, never
    guessed.

    Example: emofeat evaluate runs/logreg-valence-bn2 ./EmoSet --split test --out evals/emoset
    """
    from emofeat.transfer import evaluate

    record = evaluate(run_dir, data, out_dir, split=split, splits_file=splits, fmt=fmt,
                      min_agree=min_agree, allow_outside_root=allow_outside_root,
                      label_from=label_from, batch_size=batch_size, device=device,
                      overwrite=overwrite)
    scores = json.loads((out_dir / "metrics.json").read_text())[split]
    out.print(f"{record.task} run trained on {record.source.name}, evaluated on "
              f"{record.target.name} ({split}, {record.n} images): balanced acc "
              f"{scores['balanced_accuracy']:.3f}, acc {scores['accuracy']:.3f} -> {out_dir}")
    for reason, n in record.unmapped.items():
        out.print(f"  unmapped: {n} image(s): {reason}")
    if record.failed:
        out.print(f"  unreadable: {len(record.failed)} image(s), e.g. {record.failed[0][0]}: "
                  f"{record.failed[0][1]}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_cmd)
