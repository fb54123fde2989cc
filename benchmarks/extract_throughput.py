"""Images/s of feature extraction, side by side on the same images and batch size:

  (a) the model alone on preloaded tensors (FeatureModel, the engine's forward),
  (b) ``emofeat.extract.extract`` end to end (DataLoader workers -> model -> HDF5 store),
  (c) a plain loop: PIL in the main process, timm transform, model, ``np.save`` per batch,

and the ratios b/a (how close the pipeline gets to the model's own speed) and b/c (what the
engine gains over the obvious loop). Run:

    python benchmarks/extract_throughput.py --images 512 --size 448

Images are synthetic demo images written as JPEG at ``--size`` px (a typical FI photo is
about 500 x 375). Nothing here is asserted; the figures go into issue notes.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from emofeat.backbones import create_backbone, data_config, eval_transform
from emofeat.datasets import load_manifest
from emofeat.demo import DemoSpec, make_demo
from emofeat.extract import ExtractConfig, extract
from emofeat.frozen import FeatureModel
from emofeat.images import load_rgb


def model_alone(model, layers, cfg, n, batch_size, precision) -> float:
    features = FeatureModel(model, layers, "avg", torch.device("cpu"), precision, batch_size)
    x = torch.randn(batch_size, *cfg["input_size"])
    features(x)  # warm-up
    start = time.perf_counter()
    done = 0
    while done < n:
        features(x)
        done += batch_size
    return done / (time.perf_counter() - start)


def plain_loop(model, cfg, paths, batch_size, out_dir: Path) -> float:
    transform = eval_transform(cfg)
    model = model.eval()
    start = time.perf_counter()
    for b, i in enumerate(range(0, len(paths), batch_size)):
        x = torch.stack([transform(load_rgb(p)) for p in paths[i:i + batch_size]])
        with torch.inference_mode():
            emb = model.forward_head(model.forward_features(x), pre_logits=True)
        np.save(out_dir / f"batch{b}.npy", emb.numpy())
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--weights", default="bundled")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        per_class = max(1, args.images // 8)
        make_demo(tmp_path / "data", DemoSpec(per_class=per_class, size=args.size, png_every=10**6))
        manifest = load_manifest(tmp_path / "data")
        model, _ = create_backbone(args.backbone, args.weights)
        cfg = data_config(model)
        layers = ["bn2"] if "efficientnet" in args.backbone else ["conv2d_7b"]
        n = len(manifest)
        print(f"{args.backbone} ({args.weights}), {n} JPEGs at {args.size} px, batch "
              f"{args.batch_size}, precision {args.precision}, torch threads "
              f"{torch.get_num_threads()}, CPUs {os.cpu_count()}")

        a = model_alone(model, layers, cfg, n, args.batch_size, args.precision)
        start = time.perf_counter()
        extract(manifest, tmp_path / "store", ExtractConfig(
            backbone=args.backbone, weights=args.weights, layers=layers,
            batch_size=args.batch_size, workers=args.workers, precision=args.precision,
            shard_size=1024))
        b = n / (time.perf_counter() - start)
        (tmp_path / "plain").mkdir()
        c = plain_loop(model.to(memory_format=torch.contiguous_format), cfg, manifest.paths,
                       args.batch_size, tmp_path / "plain")

    print(f"(a) model alone on preloaded tensors : {a:7.1f} img/s")
    print(f"(b) emofeat extract end to end       : {b:7.1f} img/s")
    print(f"(c) plain loop (PIL in main process) : {c:7.1f} img/s")
    print(f"b/a = {b / a:.2f}   (goal >= 0.8)")
    print(f"b/c = {b / c:.2f}   (goal >= 1.2)")


if __name__ == "__main__":
    main()
