"""``emofeat data``: make the demo set, write a split, show what a dataset holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from emofeat import splits as splits_mod
from emofeat.datasets import FORMATS, Manifest, describe, load_manifest
from emofeat.demo import DemoSpec, make_demo
from emofeat.errors import EmofeatError
from emofeat.resampling import make_folds, make_repeats, write_splits
from emofeat.taxonomy import SCORE_TASKS

from .common import allow_outside_root_option, new_app, out, print_json

app = new_app("Dataset tools: the synthetic demo set, splits, summaries.")

FORMAT_HELP = f"Dataset format: {', '.join(FORMATS)}."
DEMO = DemoSpec()
DEFAULT_SPLIT = (f"seed {splits_mod.DEFAULT_SEED}, "
                 f"{'/'.join(map(str, splits_mod.DEFAULT_FRACTIONS))}")
MIN_AGREE_HELP = "Keep images that at least K of 5 annotators agreed on (CSV 'agree' column)."


@app.command("make-demo")
def make_demo_cmd(
    out_dir: Path = typer.Argument(..., metavar="DIR", help="Folder to write the images into."),
    per_class: int = typer.Option(DEMO.per_class, help="Images per emotion class."),
    size: int = typer.Option(DEMO.size, help="Image side in pixels."),
    seed: int = typer.Option(DEMO.seed, help="Random seed; the same seed gives identical files."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing demo set."),
) -> None:
    """Write the SYNTHETIC eight-emotion demo set (not a benchmark).

    Example: emofeat data make-demo ./demo-data --per-class 32
    """
    make_demo(out_dir, DemoSpec(seed=seed, per_class=per_class, size=size), overwrite=overwrite)
    out.print(f"synthetic demo set: {out_dir}")


@app.command("split")
def split_cmd(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder or CSV list."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Where to write splits.csv (with "
                                  "--folds or --repeats: a folder for fold-1.csv ... or "
                                  "repeat-1.csv ...)."),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    min_agree: int | None = typer.Option(None, "--min-agree", metavar="K", help=MIN_AGREE_HELP),
    allow_outside_root: bool = allow_outside_root_option(),
    fractions: str = typer.Option(",".join(map(str, splits_mod.DEFAULT_FRACTIONS)),
                                  help="train,val,test fractions (sum to 1)."),
    seed: int = typer.Option(splits_mod.DEFAULT_SEED, help="Random seed."),
    folds: int | None = typer.Option(None, metavar="K", help="K stratified folds instead: "
                                     "fold i tests on the i-th part, val is the val fraction "
                                     "of --fractions carved from the rest."),
    repeats: int | None = typer.Option(None, metavar="R", help="R seeded random splits "
                                       "instead (seeds SEED, SEED+1, ...)."),
) -> None:
    """Write a stratified, seeded train/val/test split as splits.csv (id,split), or K folds
    (--folds) or R random splits (--repeats) as one split file each.

    Example: emofeat data split ./FI --out FI/splits.csv --seed 0

    Example: emofeat data split ./ArtPhoto --folds 5 --out artphoto-folds/
    """
    parsed = splits_mod.parse_fractions(fractions)
    several = folds is not None or repeats is not None
    if several and out_path.exists() and not out_path.is_dir():
        raise EmofeatError(f"--out {out_path} is a file; --folds and --repeats write a folder "
                           "of split files")
    if not several and out_path.is_dir():
        raise EmofeatError(f"--out {out_path} is a folder; give the split file's name, e.g. "
                           f"{out_path / 'splits.csv'}")
    manifest = load_manifest(data, fmt, min_agree, allow_outside_root)
    if several:
        _write_repeated(manifest, out_path, parsed, seed, folds, repeats)
        return
    split = splits_mod.make_split(manifest, parsed, seed)
    digest = splits_mod.write_split(split, out_path)
    counts = ", ".join(f"{k} {v}" for k, v in split.counts().items())
    out.print(f"{out_path}: {counts}  sha256 {digest}")


def _write_repeated(manifest: Manifest, out_dir: Path, fractions: tuple[float, float, float],
                    seed: int, folds: int | None, repeats: int | None) -> None:
    if folds is not None and repeats is not None:
        raise EmofeatError("give --folds or --repeats, not both")
    if folds is not None:
        kind, splits = "folds", make_folds(manifest, folds, seed, fractions[1])
    else:
        kind, splits = "repeats", make_repeats(manifest, repeats or 0, seed, fractions)
    for path, split in zip(write_splits(splits, kind, out_dir), splits, strict=True):
        counts = ", ".join(f"{k} {v}" for k, v in split.counts().items())
        out.print(f"{path}: {counts}  sha256 {split.sha256}")


@app.command("show")
def show_cmd(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder or CSV list."),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    min_agree: int | None = typer.Option(None, "--min-agree", metavar="K", help=MIN_AGREE_HELP),
    allow_outside_root: bool = allow_outside_root_option(),
    splits_file: Path | None = typer.Option(
        None, "--splits", help="A splits.csv to count by; default: the release's own split, "
        f"else the default seeded split ({DEFAULT_SPLIT})."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead."),
) -> None:
    """Show the detected format, the images per class and split, the tasks the data serves,
    the rating columns with their ranges (rating regression tasks), other annotations, and
    what was left out.

    Example: emofeat data show ./Emotion6 --json
    """
    manifest = load_manifest(data, fmt, min_agree, allow_outside_root)
    split = splits_mod.choose_split(manifest, splits_file)
    info = describe(manifest, split)
    info["split_source"] = str(splits_file) if splits_file else splits_mod.split_source(manifest)
    if as_json:
        print_json(info)
        return
    _show_tables(data, info)


def _show_tables(data: Path, info: dict[str, Any]) -> None:
    title = f"{data} — format {info['format']}, {info['n_images']} images"
    if info["format"] == "demo":
        title += " (SYNTHETIC)"
    split_names = list(info["split_counts"])
    table = Table(title=title)
    for col in ("class", "images", *split_names):
        table.add_column(col, justify="left" if col == "class" else "right")
    for label, n in info["counts"].items():
        table.add_row(label, str(n), *(str(info["splits"][label][s]) for s in split_names))
    table.add_row("all", str(info["n_images"]), *(str(info["split_counts"][s])
                                                  for s in split_names), style="bold")
    out.print(table)
    out.print(f"tasks: {', '.join(info['tasks'])}")
    out.print(f"split: {info['split_source']}")
    if info["ratings"]:
        ratings = Table(title="numeric columns")
        for col in ("column", "n", "min", "max", "mean", "task"):
            ratings.add_column(col, justify="right" if col in ("n", "min", "max", "mean")
                               else "left")
        for name, st in info["ratings"].items():
            ratings.add_row(name, str(st["n"]), *(f"{st[k]:.4g}" if k in st else "-"
                                                  for k in ("min", "max", "mean")),
                            "rating regression" if name in SCORE_TASKS else "")
        out.print(ratings)
    for name, st in info["attributes"].items():
        out.print(f"attribute {name}: {st['annotated']} annotated, {st['distinct']} distinct")
    for reason, n in info["dropped"].items():
        out.print(f"left out: {n} ({reason})")
