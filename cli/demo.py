"""``emofeat demo``: the whole pipeline on the SYNTHETIC demo set, offline."""

from __future__ import annotations

from pathlib import Path

import typer

from emofeat import splits as splits_mod
from emofeat.datasets import load_manifest
from emofeat.demo import DemoSpec, make_demo
from emofeat.extract import ExtractConfig, extract

from .common import out, progress_bar


def demo(
    out_dir: Path = typer.Option(Path("emofeat-demo"), "--out", help="Folder for everything."),
    per_class: int = typer.Option(64, help="Synthetic images per class."),
) -> None:
    """Run the pipeline on the SYNTHETIC demo set, fully offline.

    Example: emofeat demo --out ./emofeat-demo
    """
    data_dir = make_demo(out_dir / "data", DemoSpec(per_class=per_class))
    manifest = load_manifest(data_dir)
    split = splits_mod.make_split(manifest)
    digest = splits_mod.write_split(split, out_dir / "splits.csv")
    counts = ", ".join(f"{k} {v}" for k, v in split.counts().items())
    out.print(f"1. data: {len(manifest)} SYNTHETIC images in {data_dir}")
    out.print(f"2. split: {out_dir / 'splits.csv'} ({counts}; sha256 {digest[:12]})")
    store_dir = out_dir / "stores" / "lite0-pretrained"
    config = ExtractConfig(backbone="tf_efficientnet_lite0", weights="bundled")
    with progress_bar("extract lite0") as progress:
        extract(manifest, store_dir, config, split=split, progress=progress)
    out.print(f"3. features: {store_dir} (EfficientNet-Lite0, bundled ImageNet weights)")
    out.print(
        "The next steps (fit classifiers, fine-tune, compare) are not implemented in this "
        "version; the demo stops here."
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
