"""``emofeat data``: make the demo set, write a split, show what a dataset holds, audit it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from emofeat import splits as splits_mod
from emofeat.audit.findings import DROP_REASONS, AuditOptions, check_drop
from emofeat.datasets import FORMATS, Manifest, describe, load_manifest
from emofeat.demo import DemoSpec, make_demo
from emofeat.errors import EmofeatError
from emofeat.resampling import make_folds, make_repeats, write_splits
from emofeat.taxonomy import SCORE_TASKS

from .common import (
    allow_outside_root_option,
    label_from_option,
    names,
    new_app,
    out,
    print_json,
    progress_bar,
)

app = new_app("Dataset tools: the synthetic demo set, splits, summaries, audits.")

FORMAT_HELP = f"Dataset format: {', '.join(FORMATS)}."
DEMO = DemoSpec()
AUDIT = AuditOptions()
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
    group_by: str | None = typer.Option(None, "--group-by", metavar="COLUMN|duplicates",
                                        help="Keep each group in one split: a text column of "
                                        "the data (OASIS: family, category, theme) or "
                                        "'duplicates' (exact and near copies, as data audit "
                                        "finds them). --folds K with K groups: leave one group "
                                        "out."),
    audit_dir: Path | None = typer.Option(None, "--audit", metavar="DIR", help="With "
                                          "--group-by duplicates: an audit folder whose hash "
                                          "cache to use and update."),
    label_from: str | None = label_from_option(),
) -> None:
    """Write a stratified, seeded train/val/test split as splits.csv (id,split), or K folds
    (--folds) or R random splits (--repeats) as one split file each.

    Example: emofeat data split ./FI --out FI/splits.csv --seed 0

    Example: emofeat data split ./ArtPhoto --folds 5 --out artphoto-folds/

    Example: emofeat data split ./OASIS --group-by category --folds 4 --out oasis-loco/
    """
    parsed = splits_mod.parse_fractions(fractions)
    several = folds is not None or repeats is not None
    if several and out_path.exists() and not out_path.is_dir():
        raise EmofeatError(f"--out {out_path} is a file; --folds and --repeats write a folder "
                           "of split files")
    if not several and out_path.is_dir():
        raise EmofeatError(f"--out {out_path} is a folder; give the split file's name, e.g. "
                           f"{out_path / 'splits.csv'}")
    if audit_dir is not None and group_by != "duplicates":
        raise EmofeatError("--audit is for --group-by duplicates")
    manifest = load_manifest(data, fmt, min_agree, allow_outside_root, label_from)
    groups = None
    if group_by is not None:
        splits_mod.check_no_release_split(manifest, "grouped splits")  # before hashing
        if group_by == "duplicates":
            with progress_bar("hash images") as progress:
                from emofeat.audit import duplicate_groups

                groups = duplicate_groups(manifest, audit_dir, progress=progress)
        else:
            groups = splits_mod.split_groups(manifest, group_by)
        out.print(f"grouped by {group_by}: {len(set(groups))} groups of {len(groups)} images")
    if several:
        _write_repeated(manifest, out_path, parsed, seed, folds, repeats, groups, group_by)
        return
    split = splits_mod.make_split(manifest, parsed, seed, groups, group_by)
    digest = splits_mod.write_split(split, out_path)
    out.print(f"{out_path}: {_counts(split)}  sha256 {digest}")


def _counts(split: splits_mod.Split) -> str:
    text = ", ".join(f"{k} {v}" for k, v in split.counts().items())
    if split.groups is not None:
        n = {p: len({split.groups[i] for i in split.ids(p)}) for p in splits_mod.SPLIT_NAMES}
        text += " (groups: " + ", ".join(f"{k} {v}" for k, v in n.items()) + ")"
    return text


def _write_repeated(manifest: Manifest, out_dir: Path, fractions: tuple[float, float, float],
                    seed: int, folds: int | None, repeats: int | None,
                    groups: list[str] | None = None, group_by: str | None = None) -> None:
    if folds is not None and repeats is not None:
        raise EmofeatError("give --folds or --repeats, not both")
    if folds is not None:
        kind = "folds"
        splits = make_folds(manifest, folds, seed, fractions[1], groups, group_by)
    else:
        kind = "repeats"
        splits = make_repeats(manifest, repeats or 0, seed, fractions, groups, group_by)
    for path, split in zip(write_splits(splits, kind, out_dir), splits, strict=True):
        out.print(f"{path}: {_counts(split)}  sha256 {split.sha256}")


@app.command("show")
def show_cmd(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder or CSV list."),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    min_agree: int | None = typer.Option(None, "--min-agree", metavar="K", help=MIN_AGREE_HELP),
    allow_outside_root: bool = allow_outside_root_option(),
    label_from: str | None = label_from_option(),
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
    manifest = load_manifest(data, fmt, min_agree, allow_outside_root, label_from)
    split = splits_mod.choose_split(manifest, splits_file)
    info = describe(manifest, split)
    info["split_source"] = str(splits_file) if splits_file else splits_mod.split_source(manifest)
    if as_json:
        print_json(info)
        return
    _show_tables(data, info)


def _task_words(task: str, use: dict[str, Any], n_images: int) -> str:
    """``valence (from valence ratings; 1,900 images, 80 left out: neutral rating)``."""
    notes = [f"from {use['source']}"] if use["source"] not in ("labels", task) else []
    if use["n_images"] < n_images:
        why = "; ".join(f"{r} {n}" for r, n in use["left_out"].items())
        notes.append(f"{use['n_images']} images, left out: {why}")
    return task + (f" ({'; '.join(notes)})" if notes else "")


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
    words = [_task_words(t, info["task_images"][t], info["n_images"]) for t in info["tasks"]]
    out.print(f"tasks: {', '.join(words)}")
    if rules := info.get("label_rules"):
        out.print(f"labels: from {rules['used']} (rules: {', '.join(rules['rules'])}); the "
                  f"rules agree on {rules['n_agree']} of {rules['n_labelled']} images "
                  f"({rules['agreement']:.1%}), {rules['n_unlabelled']} tied")
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


@app.command("audit")
def audit_cmd(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder or CSV list."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Audit folder: audit.json, "
                                 "groups.csv, flagged.csv, audit.html (and the hash cache)."),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    min_agree: int | None = typer.Option(None, "--min-agree", metavar="K", help=MIN_AGREE_HELP),
    allow_outside_root: bool = allow_outside_root_option(),
    label_from: str | None = label_from_option(),
    splits_file: Path | None = typer.Option(
        None, "--splits", help="The split whose train/test leaks are counted; default: the "
        f"release's own, else the default seeded split ({DEFAULT_SPLIT})."),
    max_distance: int = typer.Option(AUDIT.max_distance, "--max-distance", metavar="BITS",
                                     help="Near duplicates: perceptual hashes at most BITS of "
                                     "64 apart (-1: exact duplicates only)."),
    placeholder_min: int = typer.Option(AUDIT.placeholder_min, "--placeholder-min", metavar="N",
                                        help="A group of N or more copies of one picture is "
                                        "a placeholder."),
    min_side: int = typer.Option(AUDIT.min_side, "--min-side", metavar="PX",
                                 help="Images with a shorter side below PX are tiny."),
    store: Path | None = typer.Option(None, "--store", help="A feature store of the data set: "
                                      "also link images by feature cosine (--cosine)."),
    layer: str | None = typer.Option(None, "--layer", help="The store's layer (default: its "
                                     "deepest)."),
    cosine: float | None = typer.Option(None, "--cosine", metavar="SIM",
                                        help="With --store: features of cosine similarity >= "
                                        "SIM are near duplicates (e.g. 0.97)."),
    drop: str | None = typer.Option(None, "--drop", metavar="REASONS",
                                    help="Write a cleaned CSV list without: "
                                    f"{', '.join(DROP_REASONS)} (comma-separated)."),
    clean: Path | None = typer.Option(None, "--clean", metavar="CSV",
                                      help="Where --drop writes the list (in DATA's folder, so "
                                      "ids stay the same; default emofeat-clean.csv there)."),
    as_json: bool = typer.Option(False, "--json", help="Print audit.json instead."),
) -> None:
    """Find exact and near duplicates, placeholder pictures, unreadable and tiny images and
    class conflicts (one picture, two labels), and the duplicate groups a split puts on
    both sides of train/test. --drop writes a cleaned CSV list the csv reader takes.

    Example: emofeat data audit ./FI --out audits/fi

    Example: emofeat data audit ./FI --out audits/fi --drop duplicates,placeholders
    """
    from emofeat.audit import AuditOptions, audit

    options = AuditOptions(max_distance=None if max_distance < 0 else max_distance,
                           placeholder_min=placeholder_min, min_side=min_side,
                           min_similarity=cosine)
    options.check()
    if store is None and (cosine is not None or layer is not None):
        raise EmofeatError("--cosine and --layer need --store")
    check_drop(names(drop))  # before the data set is read
    manifest = load_manifest(data, fmt, min_agree, allow_outside_root, label_from)
    split = splits_mod.choose_split(manifest, splits_file)
    source = str(splits_file) if splits_file else splits_mod.split_source(manifest)
    with progress_bar("audit") as progress:
        result = audit(manifest, out_dir, options, dict(split.assignment), source, store, layer,
                       names(drop), clean, progress=progress)
    if as_json:
        print_json(result.info)
        return
    table = Table(title=f"{data}: {len(manifest)} images audited -> {out_dir}")
    for col in ("reason", "groups", "images"):
        table.add_column(col, justify="left" if col == "reason" else "right")
    for reason, c in result.info["counts"].items():
        table.add_row(reason.replace("_", " "), str(c.get("groups", "")), str(c["images"]))
    out.print(table)
    if split_info := result.info.get("split"):
        n = split_info["groups_across_train_test"]
        out.print(f"split ({split_info['source']}): {n} group{'' if n == 1 else 's'} on both "
                  "sides of train/test, "
                  f"{split_info['test_images_with_a_copy_outside_test']} test images with a "
                  "copy in train or val")
    if result.clean is not None and result.dropped is not None:
        gone = ", ".join(f"{r} {n}" for r, n in result.dropped.items())
        out.print(f"{result.clean}: {result.info['clean']['rows']} images (images dropped: "
                  f"{gone}); "
                  f"use it as DATA (format csv)")
