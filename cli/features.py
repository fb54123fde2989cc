"""``emofeat extract``, ``emofeat layers``, ``emofeat inspect``: the feature store."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import typer
from rich.table import Table

from emofeat.backbones.names import WEIGHT_CHOICES
from emofeat.datasets import FORMATS, load_manifest
from emofeat.device import DEVICES, MEMORY_FORMATS, PRECISIONS
from emofeat.extract_config import DECODES, DTYPES, ExtractConfig
from emofeat.pooling import POOLINGS
from emofeat.splits import read_split

from .common import (
    allow_outside_root_option,
    label_from_option,
    names,
    out,
    print_json,
    progress_bar,
)

WEIGHTS_HELP = (f"{', '.join(WEIGHT_CHOICES)} (pretrained: bundled if the backbone has them, "
                "else the hub), or a .pth/.safetensors file.")


DEFAULTS = ExtractConfig()


def extract_cmd(
    data: Path = typer.Argument(..., metavar="DATA", help="Dataset folder or CSV list."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="The feature store directory."),
    fmt: str = typer.Option("auto", "--format", help=f"Dataset format: {', '.join(FORMATS)}."),
    backbone: str = typer.Option(DEFAULTS.backbone, help="Any timm model name, or "
                                 "open_clip:ARCH/PRETRAINED (needs emofeat\\[clip])."),
    weights: str = typer.Option(DEFAULTS.weights, help=WEIGHTS_HELP),
    layers: str | None = typer.Option(None, help="Comma-separated module names; default: "
                                      "the backbone's deep-stage ends (see `emofeat layers`)."),
    pooling: str = typer.Option(DEFAULTS.pooling, "--pooling", "--pool",
                                help=f"Pooling: {', '.join(POOLINGS)} (cls, cls+avg: the "
                                     "class token of a token model, and the patch tokens' "
                                     "mean)."),
    batch_size: int | None = typer.Option(
        DEFAULTS.batch_size,
        help="Images per batch (halved on out-of-memory). Default: 16 on the CPU (measured on "
             "2 cores: 1.8-2.2x faster than 32 end to end, the activations stay in cache; try 8 on "
             "small CPUs), 256 on a GPU (fastest for IRv2 in bf16 on an H200)."),
    workers: int | None = typer.Option(
        DEFAULTS.workers,
        help="Decoding worker processes (with --decode gpu: threads reading the files). "
             "Default: none on the CPU (each batch is decoded by a thread per core between "
             "forward passes; measured faster than workers competing with the model for the "
             "cores), min(16, CPUs - 1) on a GPU."),
    decode: str = typer.Option(
        DEFAULTS.decode,
        help=f"Where JPEGs are decoded and resized: {', '.join(DECODES)}. gpu: nvJPEG on "
             "the CUDA device in batches (TorchCodec, else torchvision), resize and crop "
             "there too; other formats, CMYK, progressive and EXIF-rotated JPEGs go to the "
             "CPU decoder (counted in the log); pixels equal Pillow's up to one level "
             "(recorded in store.json). auto: gpu on CUDA, else cpu (Pillow)."),
    device: str = typer.Option(DEFAULTS.device, help=f"{', '.join(DEVICES)}."),
    precision: str = typer.Option(DEFAULTS.precision, help=f"{', '.join(PRECISIONS)}; auto = "
                                  "bf16 on CUDA, fp32 on CPU."),
    dtype: str = typer.Option(DEFAULTS.dtype, help=f"Stored dtype: {', '.join(DTYPES)}."),
    memory_format: str = typer.Option(DEFAULTS.memory_format, help=f"{', '.join(MEMORY_FORMATS)}"
                                      "; auto = channels_last (1.7x faster in bf16 on an H200, "
                                      "faster on CPU too)."),
    compile_model: bool = typer.Option(DEFAULTS.compile, "--compile", help="torch.compile the "
                                       "backbone: ~10-45 s to compile, then 1.7x the eager "
                                       "model on an H200 (on a 2-core CPU 1.15x, after "
                                       "13-27 s); for long runs."),
    min_agree: int | None = typer.Option(None, "--min-agree", metavar="K",
                                         help="Keep images at least K of 5 annotators agreed on."),
    allow_outside_root: bool = allow_outside_root_option(),
    label_from: str | None = label_from_option(),
    shard_size: int = typer.Option(DEFAULTS.shard_size, help="Images per HDF5 shard."),
    seed: int = typer.Option(DEFAULTS.seed, help="Seed of --weights random."),
    splits: Path | None = typer.Option(None, help="A splits.csv to use; default: a new seeded "
                                       "split saved in the store."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first unreadable image."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a store made with "
                                   "another configuration."),
    distributed: bool = typer.Option(False, "--distributed", help="One rank of a job of "
                                     "several (torchrun: implied when WORLD_SIZE > 1; srun: "
                                     "ranks from SLURM_PROCID/SLURM_NTASKS); each rank writes "
                                     "its share of the shards into the one store."),
) -> None:
    """Extract pooled features of a frozen backbone into an HDF5 feature store.

    Re-running the same command resumes an interrupted run. Under torchrun (or srun with
    --distributed) the ranks share the work; see docs/scaling-out.md.

    Example: emofeat extract ./FI --out stores/irv2 --layers repeat_1,repeat_2,conv2d_7b
    """
    from emofeat.distributed import process_group
    from emofeat.extract import extract

    config = ExtractConfig(backbone=backbone, weights=weights, layers=names(layers) or None,
                           pooling=pooling, batch_size=batch_size, workers=workers, device=device,
                           precision=precision, dtype=dtype, shard_size=shard_size,
                           strict=strict, overwrite=overwrite, seed=seed,
                           memory_format=memory_format, compile=compile_model,
                           decode=decode)
    config.check()
    manifest = load_manifest(data, fmt, min_agree, allow_outside_root, label_from)
    split = read_split(splits, manifest) if splits else None
    with process_group(device, distributed) as ranks:
        bar = progress_bar(f"extract {backbone}") if ranks.is_main else nullcontext(None)
        with bar as progress:
            extract(manifest, out_dir, config, split=split, min_agree=min_agree,
                    progress=progress, ranks=ranks)
    if not ranks.is_main:
        return
    from emofeat.store import Store

    store = Store.open(out_dir)
    failed = store.meta["n_failed"]
    out.print(f"{out_dir}: {store.meta['n_rows']} images, layers "
              f"{', '.join(f'{la.name} ({la.dim})' for la in store.layers)}"
              + (f"; {failed} unreadable, listed in failed.csv" if failed else ""))


def layers_cmd(
    model_name: str = typer.Argument(..., metavar="MODEL", help="A timm model name, or "
                                     "open_clip:ARCH/PRETRAINED (or open_clip:ARCH)."),
    all_modules: bool = typer.Option(False, "--all", help="Every module, not just the main ones."),
    img_size: int | None = typer.Option(None, help="Input size; default the model's own."),
) -> None:
    """List a backbone's tappable layers with channels and stride at its input size.

    Example: emofeat layers inception_resnet_v2
    """
    from emofeat.backbones import create_backbone, data_config, default_layers, probe_layers

    model, _ = create_backbone(model_name, "random")
    cfg = data_config(model, img_size)
    names = [n for n, _ in model.named_modules() if n] if all_modules else None
    defaults = set(default_layers(model_name, model))
    table = Table(title=f"{model_name} at {cfg['input_size'][1]} px (* = default)")
    for col in ("layer", "channels", "stride", "output shape"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for info in probe_layers(model, cfg["input_size"], names):
        mark = " *" if info.name in defaults else ""
        table.add_row(info.name + mark, str(info.channels), str(info.stride or "-"),
                      "x".join(map(str, info.shape)))
    out.print(table)


def inspect_cmd(
    store_dir: Path = typer.Argument(..., metavar="STORE", help="A feature store directory."),
    verify: bool = typer.Option(False, "--verify", help="Check every shard's hash and rows."),
    as_json: bool = typer.Option(False, "--json", help="Print store.json's summary as JSON."),
) -> None:
    """Summarise a feature store; with --verify, check every shard.

    Example: emofeat inspect stores/irv2 --verify
    """
    from emofeat.store import Store

    store = Store.open(store_dir, allow_incomplete=True)
    rec = store.record
    problems = store.verify() if verify else []
    if as_json:
        print_json({k: v for k, v in store.meta.items() if k != "shards"}
                   | {"n_shards_written": len(rec.shards), "problems": problems})
    else:
        w = rec.weights
        out.print(f"store {store_dir} ({rec.status})")
        out.print(f"  backbone {rec.backbone}, weights {w['source']}"
                  f"{' ' + w['origin'] if w.get('origin') else ''}")
        out.print(f"  input {rec.data_config.get('input_size', '-')}, pooling {rec.pooling}, "
                  f"{rec.dtype}, precision {rec.precision}")
        out.print(f"  {rec.n_rows} images in {len(rec.shards)}/{rec.n_shards} shards, "
                  f"{rec.n_failed} failed; splits sha256 {rec.splits_sha256[:12]}")
        for la in rec.layers:
            out.print(f"  layer {la.name}: dim {la.dim}, channels {la.channels}, "
                      f"stride {la.stride}")
        if rec.ratings is not None:
            out.print(f"  ratings {', '.join(rec.ratings.columns)} (rating regression tasks)")
        if verify:
            out.print("  verify: " + ("all shards OK" if not problems else "; ".join(problems)))
    if problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("extract")(extract_cmd)
    app.command("layers")(layers_cmd)
    app.command("inspect")(inspect_cmd)
