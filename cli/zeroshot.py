"""``emofeat zeroshot``: class prompts against an open_clip model's image embeddings."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from emofeat.datasets import FORMATS
from emofeat.device import DEVICES, PRECISIONS
from emofeat.taxonomy import TASK_NAMES
from emofeat.zeroshot.prompts import PROMPT_CHOICES

from .common import allow_outside_root_option, label_from_option, out, progress_bar


def zeroshot_cmd(
    source: Path = typer.Argument(..., metavar="STORE_OR_DATA", help="A feature store made "
                                  "with the model (layer 'embedding'), or a data set (images "
                                  "embedded on the fly)."),
    model: str = typer.Option(..., "--model", help="open_clip:ARCH/PRETRAINED (open_clip:ARCH "
                              "with --weights random or FILE); needs emofeat\\[clip]."),
    task: str = typer.Option("emotion8", help=f"{', '.join(TASK_NAMES)}."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="The run directory."),
    prompts: Path | None = typer.Option(None, "--prompts", metavar="FILE", help="A TOML file: "
                                        "templates = [\"a photo that makes people feel {}.\", "
                                        "...] and an optional \\[synonyms] table (class = "
                                        "\\[words]). Default: the shipped emotion prompts."),
    prompt_choice: str = typer.Option("ensemble", help=f"{', '.join(PROMPT_CHOICES)}: every "
                                      "template averaged (fixed in advance), or the one "
                                      "template best on val (recorded as chosen on val)."),
    weights: str = typer.Option("pretrained", help="pretrained/hub (the tag's weights), "
                                "random, or an open_clip checkpoint file; a store's own "
                                "weights are used with a store."),
    splits: Path | None = typer.Option(None, help="A splits.csv; default: the store's own, "
                                       "else a release's own or the default seeded split."),
    fmt: str = typer.Option("auto", "--format", help=f"Data set format: {', '.join(FORMATS)}."),
    min_agree: int | None = typer.Option(None, "--min-agree", metavar="K",
                                         help="Keep images at least K of 5 annotators agreed on."),
    allow_outside_root: bool = allow_outside_root_option(),
    label_from: str | None = label_from_option(),
    batch_size: int | None = typer.Option(None, min=1, help="Images per batch (a data set)."),
    workers: int | None = typer.Option(None, min=0, help="Decoding worker processes."),
    device: str = typer.Option("auto", help=f"{', '.join(DEVICES)}."),
    precision: str = typer.Option("auto", help=f"{', '.join(PRECISIONS)}."),
    seed: int = typer.Option(0, help="Seed of --weights random."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a complete run."),
) -> None:
    """Zero-shot classification: each class's text prompts against the image embeddings
    (cosine times the model's logit scale, softmax), written as a run directory that
    predict, evaluate and compare read. Every template's val and test balanced accuracy is
    kept; nothing is chosen on test.

    Example: emofeat zeroshot ./FI --model open_clip:ViT-B-32/openai --out runs/zs-vitb32

    Example: emofeat zeroshot stores/vitb32 --model open_clip:ViT-B-32/openai --task valence
    --prompts prompts.toml --out runs/zs-valence
    """
    from emofeat.zeroshot import ZeroshotConfig, zeroshot

    config = ZeroshotConfig(model=model, task=task, weights=weights,
                            prompts=str(prompts) if prompts else None,
                            prompt_choice=prompt_choice, batch_size=batch_size, device=device,
                            precision=precision, workers=workers, seed=seed,
                            overwrite=overwrite)
    with progress_bar(f"zero-shot {model}") as progress:
        record = zeroshot(source, out_dir, config, splits_file=splits, fmt=fmt,
                          min_agree=min_agree, allow_outside_root=allow_outside_root,
                          label_from=label_from, progress=progress)
    table = Table(title=f"prompt sensitivity ({record['task']}; used: {record['chosen']})")
    for col in ("template", "val balanced acc.", "test balanced acc."):
        table.add_column(col, justify="left" if col == "template" else "right")
    for row in record["prompt_table"]:
        table.add_row(escape(row["template"]), *(f"{row[k]:.3f}" if row[k] is not None else "-"
                                         for k in ("val_balanced_accuracy",
                                                   "test_balanced_accuracy")))
    out.print(table)
    out.print(f"{out_dir}: {record['model']} zero-shot, prompts {record['prompt_sha256'][:12]}")


def register(app: typer.Typer) -> None:
    app.command("zeroshot")(zeroshot_cmd)
